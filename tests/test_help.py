"""`market_maker.py --help` tells the truth (issue 22, item 5): every option shows its real default, once; a
switch and a required option show none. Checked by walking the parser's actions against the `Config` that
parsing really gives, so no help text can drift from the code. The tools' mistakes are two lines too, and
bench.py's options say what they set."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from decimal import Decimal

import pytest
from helpers import PLAIN, ROOT

from aster_mm.accounting.books import ledger_path
from aster_mm.settings.parser import build_parser, parse_config

PARSER = build_parser()
OPTIONS = [a for a in PARSER._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
SHOWN = re.compile(r"\(default: ([^()]*)\)")


def help_line(action: argparse.Action) -> str:
    """The option's help as --help prints it (before wrapping)."""
    return PARSER._get_formatter()._expand_help(action)


def as_text(value) -> str:
    value = getattr(value, "value", value)  # an enum
    return f"{value:g}" if isinstance(value, float) else str(value)


def test_the_help_is_the_one_the_checks_read():
    text = " ".join(PARSER.format_help().split())
    for action in OPTIONS:
        assert " ".join(help_line(action).split()) in text, action.dest


@pytest.mark.parametrize("action", OPTIONS, ids=lambda a: a.option_strings[0])
def test_each_option_shows_its_real_default_once(action):
    shown = SHOWN.findall(help_line(action))
    assert len(shown) <= 1, f"{action.option_strings[0]} shows {len(shown)} defaults: {shown}"
    if action.required or action.nargs == 0:  # --symbol; --sim, --no-modify ...: a switch is off unless given
        assert shown == [], f"{action.option_strings[0]} is a switch or required, yet shows a default {shown}"
        return
    assert shown, f"{action.option_strings[0]} shows no default"
    config = parse_config(["--symbol", "ETHUSDT"])
    real = getattr(config, action.dest, action.default)  # an option read before Config (a preset file): its own
    if real is None:  # off, or worked out at run time (the log file, the sim's symbols): words, not a value
        assert not re.fullmatch(r"[-\d.]+|None|True|False", shown[0]), (action.dest, shown[0])
    else:
        assert as_text(real) == shown[0].split(";")[0].split(" ")[0], (action.dest, real, shown[0])


def test_no_modify_is_a_switch_and_modifying_is_the_default():
    assert parse_config(["--symbol", "ETHUSDT"]).modify is True
    assert parse_config(["--symbol", "ETHUSDT", "--no-modify"]).modify is False
    assert "(default" not in help_line(next(a for a in OPTIONS if "--no-modify" in a.option_strings))


@pytest.mark.parametrize("mode", [[], ["--sim"], ["--paper"]])
def test_the_written_file_defaults_are_the_ones_used(mode):
    config = parse_config(["--symbol", "ETHUSDT", *mode])
    texts = {a.dest: help_line(a).replace("<SYMBOL>", "ETHUSDT") for a in OPTIONS}
    assert config.log_file in SHOWN.search(texts["log_file"]).group(1)
    assert ledger_path(config).name in SHOWN.search(texts["ledger"]).group(1)


def test_the_written_start_prices_are_the_simulators():
    from aster_mm.simulator import synthetic_spec

    text = help_line(next(a for a in OPTIONS if a.dest == "start_price"))
    for symbol in ("ETHUSDT", "BNBUSDT", "ASTERUSDT"):
        start = synthetic_spec(symbol, None, None, None)[1]
        assert f"{start.normalize():f}" in text, symbol
    assert parse_config(["--symbol", "ETHUSDT", "--sim"]).start_price is None  # worked out by the simulator
    assert parse_config(["--symbol", "ETHUSDT", "--sim", "--start-price", "3"]).start_price == Decimal(3)


@pytest.mark.parametrize(
    "script, args",
    [("backtest.py", ["--data", "x"]), ("sim_exchange.py", ["--bogus"]), ("record.py", []), ("bench.py", ["--x"])],
)
def test_the_tools_say_a_mistake_in_two_lines_too(tmp_path, script, args):
    done = subprocess.run(
        [sys.executable, str(ROOT / script), *args], cwd=tmp_path, env=PLAIN, capture_output=True, text=True, timeout=60
    )
    lines = done.stderr.splitlines()
    assert done.returncode == 2 and len(lines) == 2, done.stderr
    assert lines[0].startswith(f"usage: {script} ") and lines[1].startswith(script) and ": error: " in lines[1]


def test_every_bench_option_says_what_it_sets_and_its_default():
    from aster_mm.bench.cli import build_parser

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        text = parser._get_formatter()._expand_help(action)
        assert len(text) > 20 and not text.startswith("default"), action.dest
        assert action.nargs == 0 or text.count("(default: ") == 1, (action.dest, text)
