"""The command line's value types: each checks one value and, when it is wrong, raises an argparse error
that names the option and the bad value (never a traceback, never a secret)."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation


def decimal_arg(name: str, upper: Decimal | None) -> Callable[[str], Decimal]:
    """An argparse type: a finite Decimal above 0 and, with `upper`, below it."""
    bounds = f"between 0 and {upper} (exclusive)" if upper is not None else "greater than 0"

    def parse(text: str) -> Decimal:
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not value.is_finite() or value <= 0 or (upper is not None and value >= upper):
            raise argparse.ArgumentTypeError(f"{name} must be {bounds}, got {text}")
        return value

    return parse


def fraction(name: str) -> Callable[[str], Decimal]:
    return decimal_arg(name, Decimal(1))


def fraction_or_off(name: str) -> Callable[[str], Decimal]:
    """A fraction, or 0 / off for none (Decimal 0)."""
    parse_fraction = fraction(name)

    def parse(text: str) -> Decimal:
        if text.strip().lower() in ("0", "off"):
            return Decimal(0)
        try:
            return parse_fraction(text)
        except argparse.ArgumentTypeError as e:
            raise argparse.ArgumentTypeError(f"{e}, or 0 (off)") from None

    return parse


def leverage(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 125:
        raise argparse.ArgumentTypeError(f"leverage must be an integer from 1 to 125, got {text!r}")
    return int(text)


def countdown(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value != 0 and not 5 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"cancel-countdown must be 0 (off) or 5..3600 seconds, got {text!r}")
    return value


def margin_type(text: str) -> str:
    names = {"cross": "CROSSED", "crossed": "CROSSED", "isolated": "ISOLATED"}
    if text.lower() not in names:
        raise argparse.ArgumentTypeError(f"margin-type must be cross or isolated, got {text!r}")
    return names[text.lower()]


def float_range(name: str, low: float, high: float, unit: str) -> Callable[[str], float]:
    """An argparse type: a number from `low` to `high` (inclusive)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{name} must be {low:g}..{high:g} {unit}, got {text!r}")
        return value

    return parse


start_timeout = float_range("start-timeout", 0, 86400, "seconds")
latency_ms = float_range("a latency", 0, 60_000, "ms")
minutes = float_range("halt-cooldown", 0, 10080, "minutes")


def port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"metrics-port must be a TCP port 1..65535, got {text!r}")
    return int(text)


def webhook(text: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+/\S*", text):
        raise argparse.ArgumentTypeError("alert-webhook must be an http:// or https:// URL")  # never echo it
    return text


def positive_float(name: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"{name} must be a number greater than 0, got {text!r}")
        return value

    return parse


def symbol(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9]{2,20}", text):
        raise argparse.ArgumentTypeError(f"symbol must be letters and digits like ETHUSDT, got {text!r}")
    return text.upper()


def ws_url(text: str) -> str:
    if not text.startswith(("ws://", "wss://")):
        raise argparse.ArgumentTypeError(f"the feed URL must start with ws:// or wss://, got {text!r}")
    return text.rstrip("/")


def number(name: str, low: float = -math.inf, high: float = math.inf, unit: str = "") -> Callable[[str], float]:
    """An argparse type: a finite number from `low` to `high` (inclusive; an infinite bound is no bound)."""
    bounds = " ".join(
        part
        for part in (
            f"at least {low:g}" if low > -math.inf else "",
            "and" if low > -math.inf and high < math.inf else "",
            f"at most {high:g}" if high < math.inf else "",
            unit,
        )
        if part
    )

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low <= value <= high):
            wanted = f"a finite number {bounds}".rstrip()
            raise argparse.ArgumentTypeError(f"{name} must be {wanted}, got {text!r}")
        return value

    return parse


def whole(name: str, low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high` (inclusive)."""

    def parse(text: str) -> int:
        if not re.fullmatch(r"[+-]?\d+", text.strip()) or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number from {low} to {high}, got {text!r}")
        return int(text)

    return parse
