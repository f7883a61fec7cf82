"""The command line's options for the exchange's own limits and safety features: the request-weight budget,
`user` on V3 calls, self-trade prevention and Market Maker Protection. One group of their own, parsed into
the `Config` fields `weight_budget`, `send_user`, `stp_mode` and `mmp`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from aster_mm.core.config import MmpConfig

# V3 doc, "ENUM definitions > STP Mode (stpMode)": there is no mode that turns it off
STP_MODES = ("EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")
MMP_FLAGS = {
    "mmp_window": "--mmp-window",
    "mmp_freeze": "--mmp-freeze",
    "mmp_qty_limit": "--mmp-qty-limit",
    "mmp_value_limit": "--mmp-value-limit",
    "mmp_delta_limit": "--mmp-delta-limit",
}


def whole(name: str, low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high` (inclusive)."""

    def parse(text: str) -> int:
        if not text.isdigit() or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number from {low} to {high}, got {text!r}")
        return int(text)

    return parse


def add_exchange_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "exchange limits and protection",
        "--stp, the --mmp-window, --mmp-freeze and limit options and --v3-user need Pro API (V3) credentials; MMP "
        "is documented for mainnet only.",
    )
    g.add_argument(
        "--weight-budget",
        type=whole("weight-budget", 50, 1_000_000),
        default=None,
        metavar="N",
        help="request weight per minute this IP may use (X-MBX-USED-WEIGHT-1M counts every program on it): "
        "order requests slow down as the minute's use nears it (default: the exchange's limit, 2400; give a "
        "lower figure when other bots or scripts share the IP)",
    )
    g.add_argument(
        "--v3-user",
        choices=["send", "omit"],
        default="send",
        help="V3: send the main wallet's address as `user` on every signed call besides `signer` (the API "
        "docs disagree whether an API wallet's calls need it; omit leaves it out)",
    )
    g.add_argument(
        "--stp",
        choices=STP_MODES,
        default=None,
        metavar="MODE",
        help="self-trade prevention when the account also trades by hand: EXPIRE_TAKER, EXPIRE_MAKER or "
        "EXPIRE_BOTH, set as the account's mode at start (every symbol) and sent on every order "
        "(default: leave the account's mode alone)",
    )
    add_mmp_options(g)


def add_mmp_options(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "--mmp-window",
        type=whole("mmp-window", 1, 86_400_000),
        default=None,
        metavar="MS",
        help="Market Maker Protection: the window (ms) the limits below count fills in",
    )
    g.add_argument(
        "--mmp-freeze",
        type=whole("mmp-freeze", 1, 86_400_000),
        default=None,
        metavar="MS",
        help="MMP: how long (ms) the exchange refuses our orders once a limit is reached",
    )
    g.add_argument(
        "--mmp-qty-limit",
        type=whole("mmp-qty-limit", 1, 10**15),
        default=None,
        metavar="N",
        help="MMP: filled quantity, buys and sells, within the window",
    )
    g.add_argument(
        "--mmp-value-limit",
        type=whole("mmp-value-limit", 1, 10**15),
        default=None,
        metavar="N",
        help="MMP: filled notional within the window",
    )
    g.add_argument(
        "--mmp-delta-limit",
        type=whole("mmp-delta-limit", 1, 10**15),
        default=None,
        metavar="N",
        help="MMP: net position change (buys minus sells) within the window",
    )


def exchange_settings(args: dict, parser: argparse.ArgumentParser) -> dict:
    """Take this group's values out of `args` (the parsed namespace as a dict) as Config fields; an
    incomplete MMP setting is an argparse error naming what is missing."""
    mmp_args = {name: args.pop(name) for name in MMP_FLAGS}
    given = [MMP_FLAGS[name] for name, value in mmp_args.items() if value is not None]
    mmp = None
    if given:
        if mmp_args["mmp_window"] is None or mmp_args["mmp_freeze"] is None:
            parser.error(f"{', '.join(given)}: Market Maker Protection needs --mmp-window and --mmp-freeze")
        limits = (mmp_args["mmp_qty_limit"], mmp_args["mmp_value_limit"], mmp_args["mmp_delta_limit"])
        if all(limit is None for limit in limits):
            parser.error(
                "Market Maker Protection needs a limit: --mmp-qty-limit, --mmp-value-limit or --mmp-delta-limit"
            )
        mmp = MmpConfig(mmp_args["mmp_window"], mmp_args["mmp_freeze"], *limits)
    return {"send_user": args.pop("v3_user") == "send", "stp_mode": args.pop("stp"), "mmp": mmp}
