"""The command line entry point: parse, check the configuration, set up the log, run the bot against
the exchange, the simulator (--sim) or the paper venue (--paper), and turn the outcome into an exit status."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping
from decimal import Decimal

import aster_mm.python_version  # noqa: F401  (first: on Python < 3.11 it exits 2 with a clear message)
from aster_mm.accounting.books import ledger_path
from aster_mm.accounting.ledger import read_entries
from aster_mm.core.config import Config, Timings
from aster_mm.core.errors import FatalError
from aster_mm.exchange.client import AsterClient
from aster_mm.exchange.signing import Signer
from aster_mm.live.bot import LossLimitHalt, MarketMaker
from aster_mm.live.credentials import env_file_warning, paper_hosts, read_credentials, read_telegram
from aster_mm.ops.logs import setup_logging
from aster_mm.ops.unattended import Ops
from aster_mm.settings.parser import build_parser, parse_config

log = logging.getLogger("mm")


def install_signal_handlers(bot: MarketMaker) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, bot.stop.set)


async def run_bot(
    config: Config,
    signer: Signer,
    rest_url: str,
    ws_url: str,
    user_ws_url: str | None = None,
    timings: Timings = Timings(),
    ops: Ops | None = None,
) -> None:
    """`ws_url`: the market streams' host; `user_ws_url`: the user stream's (default: the same)."""
    async with ops or Ops() as ops, AsterClient(signer=signer, rest_url=rest_url) as client:
        bot = MarketMaker(config, client, ws_url, timings=timings, ops=ops, user_ws_url=user_ws_url)
        install_signal_handlers(bot)
        await bot.run()


async def run_sim(config: Config, spec, start_price: Decimal, ops: Ops | None = None) -> None:
    """The bot, unchanged, against the simulator in this process with a synthetic market."""
    from aster_mm.live import local  # the simulator is loaded only for local runs

    async with local.simulated(config, spec, start_price) as venue:
        await run_bot(config, *venue, ops=ops)


async def run_paper(
    config: Config, rest_url: str, feed_url: str, ops: Ops | None = None, timings: Timings = Timings()
) -> None:
    """The bot, unchanged, against the simulator fed by the real exchange's public streams (no keys)."""
    from aster_mm.live import local

    spec = await local.paper_spec(config, rest_url, timings)
    async with local.paper(config, spec, feed_url) as venue:
        await run_bot(config, *venue, timings=timings, ops=ops)


def start_timings(config: Config, env: Mapping[str, str] = os.environ) -> Timings:
    """A host name that does not resolve ends the start in seconds for someone at a terminal; a systemd service
    (NOTIFY_SOCKET) waits --start-timeout for it as for any network fault: a resolver still coming up at boot
    must not use up the unit's restart budget (StartLimitBurst) while nobody watches."""
    return Timings(unresolved_grace=config.start_timeout) if env.get("NOTIFY_SOCKET") else Timings()


def ledger_problem(config: Config) -> str | None:
    """Why the ledger cannot be used, or None. Like an unwritable log file, it is a configuration error
    (exit 2): restarting (the units restart on 1) cannot fix it. Opening it for appending creates it."""
    path = ledger_path(config)
    try:
        with path.open("a"):
            pass
        read_entries(path)
    except OSError as err:
        return f"cannot write the ledger {str(path)!r}: {err.strerror}"
    except (ValueError, UnicodeDecodeError) as err:
        return f"cannot read the ledger: {err}"
    return None


def v3_options(config: Config) -> list[str]:
    """The options given that only the Pro API (V3) has: self-trade prevention, MMP, `user` left out."""
    given = {"--stp": config.stp_mode, "--mmp-*": config.mmp, "--v3-user omit": not config.send_user}
    return [flag for flag, value in given.items() if value]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["report"]:  # the one subcommand; the bot's own options are unchanged
        from aster_mm.accounting import report

        return report.main(argv[1:])
    parser = build_parser()
    config = parse_config(argv, parser)
    if warning := env_file_warning():
        print(f"market_maker.py: warning: {warning}", file=sys.stderr)
    try:
        if config.paper:
            hosts = paper_hosts(config)
        elif not config.sim:
            creds = read_credentials(config.network, config.send_user)
            v3_only = v3_options(config)
            if v3_only and creds.signer.version != 3:
                raise ValueError(f"{', '.join(v3_only)} need Pro API (V3) credentials (ASTER_USER, ASTER_SIGNER, ...)")
        telegram = read_telegram()
    except ValueError as err:
        parser.error(str(err))  # exit status 2, argparse style
    if config.sim:
        from aster_mm.simulator import MarketSetupError, synthetic_spec

        try:
            spec, start_price = synthetic_spec(config.symbol, config.start_price, config.tick, config.step)
        except MarketSetupError as err:
            parser.error(str(err))
    try:
        setup_logging(config.log_file, config.log_level)
    except OSError as err:
        parser.error(f"cannot open log file {config.log_file!r}: {err.strerror}")
    if problem := ledger_problem(config):
        parser.error(problem)
    ops = Ops.from_config(config, telegram)
    try:
        if config.sim:
            asyncio.run(run_sim(config, spec, start_price, ops))
        elif config.paper:
            asyncio.run(run_paper(config, *hosts, ops, start_timings(config)))
        else:
            asyncio.run(run_bot(config, *creds, start_timings(config), ops))
    except LossLimitHalt as err:
        log.critical("halted by a loss limit: %s", err)
        print(f"market_maker.py: halted by a loss limit: {err}", file=sys.stderr)
        return err.exit_status
    except FatalError as err:
        log.error("fatal: %s", err)
        print(f"market_maker.py: error: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # a crashed task arrives as an ExceptionGroup
        first = err.exceptions[0] if isinstance(err, ExceptionGroup) else err
        log.error("fatal: crashed: %r", first, exc_info=first)
        print(f"market_maker.py: error: crashed: {first!r} (see the log)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
