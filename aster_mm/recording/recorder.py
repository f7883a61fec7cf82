"""Records one symbol's public Aster futures market data into daily CSV files, for replay and backtests.

    python record.py --symbol ETHUSDT --out data/ [--minutes N] [--ws-url URL] [--gzip]

One combined WebSocket connection (<sym>@depth10@100ms and <sym>@aggTrade; public, no API key) feeds
OUT/<UTC day>/{orderbook,trades,prices}_<SYM>.csv in the layout of ../shared/data/aster-2025-09-29/
(see aster_mm/recording/market_csv.py). When the connection drops, the recorder reconnects with backoff, logs
the gap and flags the first row of each file after it (gap=1). Files are flushed every second; with --gzip
they are .csv.gz, sync-flushed every second, so a crash loses at most the last second
(aster_mm/recording/reading.py reads the rest). Check a recording with `python backtest.py inspect OUT`.
Exit status: 0 done (--minutes) or stopped (SIGINT/SIGTERM), 1 the files cannot be written or nothing was
recorded (a host name that does not resolve ends it at once), 2 a bad option or a stream the exchange refuses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import websockets

from aster_mm.recording.market_csv import LEVELS, Book, DayFiles, Trade, WriteError, book_row, price_row, trade_row

DEFAULT_WS_URL = "wss://fstream.asterdex.com"
SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,30}$")
log = logging.getLogger("record")


class StreamRefused(Exception):
    """The exchange answered the very first handshake with 400/404: the request itself is wrong."""


class NothingRecorded(Exception):
    """The stream never connected, or brought no frame: exit 1 rather than a success with empty files."""


# ------------------------------------------------------------------------------ frames
def parse_frame(text: str | bytes, received: float) -> Book | Trade | None:
    """A combined-stream (or raw) frame as a Book or a Trade; None for frames that carry neither.

    Raises ValueError for a frame that claims to be market data but is malformed.
    """
    try:
        msg = json.loads(text)
        data = msg.get("data", msg)
        kind = data.get("e")
        if kind == "depthUpdate":
            return Book(
                received,
                int(data["u"]),
                int(data["E"]),
                int(data["T"]) if "T" in data else None,
                _levels(data["b"]),
                _levels(data["a"]),
            )
        if kind == "aggTrade":
            # m: the buyer is the maker, so the aggressor sold
            side = "sell" if _flag(data["m"]) else "buy"
            return Trade(
                received, int(data["a"]), int(data["T"]), int(data["E"]), side, Decimal(data["p"]), Decimal(data["q"])
            )
        return None
    except (AttributeError, KeyError, TypeError, IndexError, InvalidOperation, ValueError) as err:
        raise ValueError(f"malformed frame ({type(err).__name__}: {err}): {str(text)[:200]}") from None


def _levels(rows: list) -> tuple[tuple[Decimal, Decimal], ...]:
    return tuple((Decimal(p), Decimal(q)) for p, q in rows[:LEVELS])


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"m is {value!r}, not a boolean")
    return value


def stream_url(ws_url: str, symbol: str) -> str:
    s = symbol.lower()
    return f"{ws_url.rstrip('/')}/stream?streams={s}@depth10@100ms/{s}@aggTrade"


# ------------------------------------------------------------------------------ recorder
class Recorder:
    """Keeps one market-data connection open and writes every frame it brings to DayFiles.

    Counters (books, trades, gaps, connections, bad_frames) are for logs and tests; wait_for() waits
    until a condition on them holds.
    """

    def __init__(
        self,
        symbol: str,
        out_dir: Path,
        ws_url: str = DEFAULT_WS_URL,
        clock: Callable[[], float] = time.time,
        flush_every: float = 1.0,
        reconnect_first: float = 0.5,
        reconnect_max: float = 30.0,
        stable_after: float = 30.0,
        compress: bool = False,
    ):
        self.symbol, self.url = symbol, stream_url(ws_url, symbol)
        self.files = DayFiles(out_dir, symbol, compress)
        self.clock, self.flush_every = clock, flush_every
        self.reconnect_first, self.reconnect_max, self.stable_after = reconnect_first, reconnect_max, stable_after
        self.books = self.trades = self.gaps = self.connections = self.bad_frames = 0
        self.last_failure = ""  # why the last connection ended or failed
        self._lost_at: float | None = None  # local time the stream was lost, until it is back
        self._last_trade_id: int | None = None
        self._stopping = asyncio.Event()
        self._changed = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self, duration: float | None = None) -> None:
        """Record until stop() or for `duration` seconds; flushes and closes the files on the way out."""
        loop = asyncio.get_running_loop()
        timer = loop.call_later(duration, self.stop) if duration is not None else None
        log.info("recording %s from %s into %s", self.symbol, self.url, self.files.out_dir)
        tasks = [
            asyncio.create_task(self._stream_forever(), name="stream"),
            asyncio.create_task(self._flush_forever(), name="flush"),
            asyncio.create_task(self._stopping.wait(), name="stop"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raises what ended the stream or the flusher
        finally:
            if timer is not None:
                timer.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.files.close()
            log.info("stopped: %d book frames, %d trades, %d gaps recorded", self.books, self.trades, self.gaps)

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        async with asyncio.timeout(timeout):
            while not (result := predicate()):
                await self._changed.wait()
        return result

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.flush_every)
            self.files.flush()

    async def _stream_forever(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self.reconnect_first
        while True:
            opened = None
            try:
                async with websockets.connect(
                    self.url, open_timeout=10, close_timeout=1, ping_interval=20, ping_timeout=20, max_size=2**22
                ) as ws:
                    opened = loop.time()
                    self._on_connected()
                    async for message in ws:
                        self._on_message(message)
                reason = (
                    f"closed by the exchange (code {ws.close_code}{': ' + ws.close_reason if ws.close_reason else ''})"
                )
            except websockets.InvalidStatus as err:
                status = err.response.status_code
                if status in (400, 404) and self.connections == 0:
                    raise StreamRefused(
                        f"the exchange refused {self.url} with HTTP {status}: is {self.symbol} listed there?"
                    ) from None
                reason = f"handshake refused with HTTP {status}"
            except socket.gaierror as err:
                if self.connections == 0:  # no network or a wrong host: waiting will not bring a first frame
                    raise NothingRecorded(
                        f"cannot resolve {urlsplit(self.url).hostname} ({err.strerror}): check the network "
                        "connection and DNS, and --ws-url or ASTER_WS_URL"
                    ) from None
                reason = str(err)
            except (OSError, websockets.WebSocketException, TimeoutError) as err:
                reason = str(err) or type(err).__name__
            self.last_failure = reason
            if opened is not None and loop.time() - opened >= self.stable_after:
                delay = self.reconnect_first
            self._on_lost(reason, delay)
            await asyncio.sleep(delay)  # backoff before the next attempt
            delay = min(delay * 2, self.reconnect_max)

    def _on_connected(self) -> None:
        self.connections += 1
        if self._lost_at is not None:
            self.gaps += 1
            log.warning(
                "gap %d: market stream back after %.1f s; the first rows after it have gap=1",
                self.gaps,
                self.clock() - self._lost_at,
            )
            self._lost_at = None
        else:
            log.info("market stream connected")
        self._notify()

    def _on_lost(self, reason: str, retry_in: float) -> None:
        if self.connections and self._lost_at is None:
            self._lost_at = self.clock()
            self.files.mark_gap()
            log.warning("market stream lost: %s; recording paused, reconnecting in %.2f s", reason, retry_in)
        else:
            log.warning("cannot connect: %s; retrying in %.2f s", reason, retry_in)
        self._notify()

    def _on_message(self, message: str | bytes) -> None:
        try:
            frame = parse_frame(message, self.clock())
        except ValueError as err:
            self.bad_frames += 1
            log.warning("skipped a %s", err)
            return
        if isinstance(frame, Book):
            self.files.write("orderbook", book_row(frame), frame.received)
            if (row := price_row(frame)) is not None:
                self.files.write("prices", row, frame.received)
            self.books += 1
        elif isinstance(frame, Trade):
            self._note_missed_trades(frame.trade_id)
            self.files.write("trades", trade_row(frame), frame.received)
            self.trades += 1
        self._notify()

    def _note_missed_trades(self, trade_id: int) -> None:
        last, self._last_trade_id = self._last_trade_id, trade_id
        if last is not None and trade_id > last + 1:
            log.warning("aggregate trades %d..%d were not received", last + 1, trade_id - 1)


# ------------------------------------------------------------------------------ CLI
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="record.py",
        usage="%(prog)s --symbol SYMBOL --out DIR [--minutes N] [--ws-url URL] [--gzip]",
        description="Record Aster futures depth (top 10, 100 ms) and aggregate trades "
        "to daily CSV files (public streams, no API key).",
        epilog=f"The WebSocket host is --ws-url, else ASTER_WS_URL, else {DEFAULT_WS_URL}. "
        "Exit status: 0 done or stopped, 1 cannot write or nothing recorded, 2 bad option or refused stream.",
    )
    parser.add_argument("--symbol", required=True, help="e.g. ETHUSDT")
    parser.add_argument("--out", required=True, type=Path, help="output directory (one folder per UTC day)")
    parser.add_argument("--minutes", type=float, help="stop after this many minutes (default: until stopped)")
    parser.add_argument("--ws-url", help="WebSocket base URL, e.g. ws://127.0.0.1:8088")
    parser.add_argument("--gzip", action="store_true", help="write .csv.gz (about 6x smaller), flushed every second")
    return parser


def parse_args(argv: list[str] | None, parser: argparse.ArgumentParser) -> argparse.Namespace:
    args = parser.parse_args(argv)
    args.symbol = args.symbol.strip().upper()
    if not SYMBOL_RE.match(args.symbol):
        parser.error(f"--symbol must be letters and digits only, like ETHUSDT, got {args.symbol!r}")
    if args.minutes is not None and not 0 < args.minutes < float("inf"):
        parser.error(f"--minutes must be a positive number, got {args.minutes}")
    args.ws_url = (args.ws_url or os.environ.get("ASTER_WS_URL", "").strip() or DEFAULT_WS_URL).rstrip("/")
    if not args.ws_url.startswith(("ws://", "wss://")):
        parser.error(f"the WebSocket URL must start with ws:// or wss://, got {args.ws_url!r}")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} exists and is not a directory")
    return args


async def record(args: argparse.Namespace) -> None:
    recorder = Recorder(args.symbol, args.out, args.ws_url, compress=args.gzip)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, recorder.stop)
    await recorder.run(args.minutes * 60 if args.minutes is not None else None)
    if recorder.books == recorder.trades == 0:
        raise NothingRecorded(f"recorded nothing from {recorder.url}: {recorder.last_failure or 'no frame came'}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(argv, parser)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    try:
        asyncio.run(record(args))
    except StreamRefused as err:
        print(f"record.py: error: {err}", file=sys.stderr)
        return 2
    except (WriteError, NothingRecorded) as err:
        print(f"record.py: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl+C before the handlers were installed: nothing recorded yet
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
