"""`--config FILE`: options from a TOML file (a preset), checked exactly as on the command line.

A key is an option's long name without its dashes, `buy-spread` or `buy_spread`; a switch takes true or false.
Every value goes through the option's own type check and choices, so a bad value fails as it would on the
command line, naming the key and the file; an unknown key is an error. The file's values become the parser's
defaults, so the command line wins. A preset may hold `symbol` too.

    # presets/btc-long.toml
    symbol = "BTCUSDT"
    buy-spread = 0.0005
    stop-loss = "0.002"
    flatten-on-halt = true
"""

from __future__ import annotations

import argparse
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

NOT_IN_A_FILE = {"help", "config"}
NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?")  # what TOML reads as a number, written as the flag's text


def given_path(argv: list[str]) -> str | None:
    """The --config FILE of a command line, if any (the last one given wins, as for any option)."""
    scan = argparse.ArgumentParser(add_help=False)
    scan.add_argument("--config")
    return scan.parse_known_args(argv)[0].config


def apply(parser: argparse.ArgumentParser, path: str) -> None:
    """Make the file's values `parser`'s defaults; exit 2 through `parser.error` on any bad key or value."""
    table = _read(parser, path)
    actions = {opt[2:]: a for a in parser._actions for opt in a.option_strings if opt.startswith("--")}
    defaults: dict[str, Any] = {}
    for key, raw in table.items():
        name = key.replace("_", "-")
        action = actions.get(name)
        if action is None or name in NOT_IN_A_FILE:
            parser.error(f"{path}: unknown key {key!r} (keys are the long option names, e.g. buy-spread)")
        if action.dest in defaults:
            parser.error(f"{path}: {key!r} is given twice")
        defaults[action.dest] = _value(parser, action, key, raw, path)
        action.required = False  # given by the file; the command line may still override it
    parser.set_defaults(**defaults)


def _read(parser: argparse.ArgumentParser, path: str) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text())
    except OSError as err:
        parser.error(f"--config {path}: {err.strerror or err}")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        parser.error(f"--config {path}: not valid TOML: {err}")
    raise AssertionError("unreachable: parser.error exits")


def _value(parser: argparse.ArgumentParser, action: argparse.Action, key: str, raw: Any, path: str) -> Any:
    """The value as the command line would have given it: a switch from a boolean, anything else from its text
    through the option's own type and choices."""
    where = f"{path}: {key} = {raw!r}"
    if action.nargs == 0:  # store_true / store_false
        if not isinstance(raw, bool):
            parser.error(f"{where}: a switch takes true or false")
        return action.const if raw else action.default
    if isinstance(raw, bool) or not isinstance(raw, str | int | float) or (isinstance(raw, float) and math.isinf(raw)):
        parser.error(f"{where}: give a number or a string")
    text = raw if isinstance(raw, str) else repr(raw)
    try:
        value = action.type(text) if callable(action.type) else text
    except (argparse.ArgumentTypeError, ValueError, TypeError) as err:
        parser.error(f"{where}: {err}")
    if action.choices is not None and value not in action.choices:
        parser.error(f"{where}: choose from {', '.join(map(str, action.choices))}")
    return value


def dumps(values: Mapping[str, str | int | float | bool], comments: Sequence[str] = ()) -> str:
    """A preset's text: `comments` as # lines, then one `key = value` line per option (long names); a string that
    is a number is written as a TOML number."""
    lines = [f"# {c}".rstrip() for c in comments]
    for key, value in values.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int | float):
            text = repr(value)
        elif NUMBER.fullmatch(str(value)):
            text = str(value)
        else:
            text = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"
