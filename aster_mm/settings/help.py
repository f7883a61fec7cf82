"""--help that tells the truth: each option's real default, shown once (the bot's parser and the tools' use it;
docs/options.md is generated with the same `default_text`)."""

from __future__ import annotations

import argparse
import dataclasses
import re
import textwrap
from enum import Enum

from aster_mm.core.config import Config

CONFIG_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Config)}
WRITTEN_DEFAULT = re.compile(r"\(default: ([^()]*)\)")


def default_text(action: argparse.Action) -> str | None:
    """The default an option's help shows: its own words when the help says `(default: ...)`, else the
    parser's default (Config's for an option left out of the namespace unless given), `off` for none; None
    (nothing shown) for a switch, a required option and an empty list."""
    if written := WRITTEN_DEFAULT.search(action.help or ""):
        return written.group(1)
    value = action.default
    if value is argparse.SUPPRESS:
        value = CONFIG_DEFAULTS.get(action.dest)
    if action.required or action.nargs == 0 or value == []:
        return None
    if value is None:
        return "off"
    if isinstance(value, Enum):
        value = value.value
    return f"{value:g}" if isinstance(value, float) else str(value)


class DefaultsOnce(argparse.HelpFormatter):
    """--help with each option's real default, once. argparse's ArgumentDefaultsHelpFormatter adds
    `(default: %(default)s)` to every option: the stored value of a switch (`--no-modify ... (default: True)`
    while modifying is on), `None` for a required option, and a second default after help that gave one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text, shown = action.help or "", default_text(action)
        if shown is None or WRITTEN_DEFAULT.search(text):
            return text
        return f"{text} (default: {shown.replace('%', '%%')})"

    def _split_lines(self, text: str, width: int) -> list[str]:
        """Wrapped at spaces only: `market_maker-paper.log` and `ledger-<SYMBOL>-sim.csv` stay whole."""
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)
