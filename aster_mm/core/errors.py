"""Errors every layer may raise."""


class FatalError(Exception):
    """A condition the bot cannot trade through (unknown symbol, rejected credentials, hedge mode)."""


class LossLimitHalt(FatalError):
    """A loss limit halted the bot for good (--halt-cooldown 0)."""

    exit_status = 3
