"""Errors every layer may raise."""


class FatalError(Exception):
    """A condition the bot cannot trade through (unknown symbol, rejected credentials, hedge mode)."""
