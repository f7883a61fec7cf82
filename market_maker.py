"""aster-mm: a one-symbol market maker for Aster perpetual futures.

BUY mode (flat): one post-only limit BUY below mid. SELL mode (long): one post-only reduce-only SELL
above mid for the whole position. The resting order is reused while the target price barely moves and
replaced when it moves more than --reprice-threshold. See README.md for the whole contract.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import logging.handlers
import os
import random
import re
import signal
import string
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path
from typing import Callable

import websockets
from dotenv import load_dotenv

from api_client import (DEFAULT_REST_URL, DEFAULT_WS_URL, AsterClient, ExchangeError, RateLimitError,
                        SymbolRules, UnknownOutcomeError)

log = logging.getLogger("mm")
stream_log = logging.getLogger("stream")

BUY, SELL = "BUY", "SELL"
CLIENT_ID_PREFIX = "amm"          # every order this program places starts with it


# ======================================================================================== config
@dataclass(frozen=True)
class Config:
    symbol: str
    buy_spread: Decimal = Decimal("0.006")
    sell_spread: Decimal = Decimal("0.006")
    balance_fraction: Decimal = Decimal("0.2")
    leverage: int = 1
    position_threshold_usd: Decimal = Decimal("15")
    reprice_threshold: Decimal = Decimal("0.001")
    cancel_countdown: float = 60.0     # dead-man switch in seconds; 0 disables it
    log_file: str = "market_maker.log"
    log_level: str = "INFO"
    sim: bool = False


@dataclass(frozen=True)
class Timings:
    """Every delay the bot waits on, injectable so tests run fast."""
    stale_after: float = 30.0          # no market frame for this long: data is stale
    status_every: float = 30.0
    keepalive_every: float = 30 * 60.0
    sweep_every: float = 30.0          # compare exchange orders/position with ours
    heartbeat_every: float = 15.0      # dead-man switch renewal
    reconnect_first: float = 0.5
    reconnect_max: float = 30.0
    stable_after: float = 10.0         # a connection up this long resets the reconnect back-off
    unknown_grace: float = 3.0         # a brand-new order may answer -2013 for this long
    requery_every: float = 0.25        # how often an UNKNOWN order is queried again
    shutdown_timeout: float = 5.0
    idle_wake: float = 1.0             # the loop re-checks staleness and sweeps at least this often


def _decimal_arg(name: str, upper: Decimal | None) -> Callable[[str], Decimal]:
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


def _fraction(name: str) -> Callable[[str], Decimal]:
    return _decimal_arg(name, Decimal(1))


def _leverage(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 125:
        raise argparse.ArgumentTypeError(f"leverage must be an integer from 1 to 125, got {text!r}")
    return int(text)


def _countdown(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value != 0 and not 5 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"cancel-countdown must be 0 (off) or 5..3600 seconds, got {text!r}")
    return value


def _symbol(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9]{2,20}", text):
        raise argparse.ArgumentTypeError(f"symbol must be letters and digits like ETHUSDT, got {text!r}")
    return text.upper()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="market_maker.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="environment (also read from .env in the working directory; the environment wins): "
               f"ASTER_API_KEY, ASTER_API_SECRET (required unless --sim), ASTER_REST_URL (default {DEFAULT_REST_URL}), "
               f"ASTER_WS_URL (default {DEFAULT_WS_URL}). Exit status: 0 clean stop, 2 bad option or "
               "configuration, 1 fatal runtime error.")
    p.add_argument("--symbol", type=_symbol, required=True, help="perpetual symbol, e.g. ETHUSDT")
    p.add_argument("--buy-spread", type=_fraction("buy-spread"), default=Decimal("0.006"),
                   help="BUY price = mid * (1 - buy_spread)")
    p.add_argument("--sell-spread", type=_fraction("sell-spread"), default=Decimal("0.006"),
                   help="SELL price = mid * (1 + sell_spread)")
    p.add_argument("--balance-fraction", type=_fraction("balance-fraction"),
                   default=Decimal("0.2"), help="BUY size = wallet (USDT+USDF) * fraction / mid")
    p.add_argument("--leverage", type=_leverage, default=1, help="leverage set on the symbol when flat (1-125)")
    p.add_argument("--position-threshold-usd", type=_decimal_arg("position-threshold-usd", None),
                   default=Decimal("15"), help="a position worth more than this (USD) switches to SELL mode")
    p.add_argument("--reprice-threshold", type=_fraction("reprice-threshold"),
                   default=Decimal("0.001"), help="replace the order when its target price moves more than this")
    p.add_argument("--cancel-countdown", type=_countdown, default=60.0,
                   help="dead-man switch: the exchange cancels our orders if not renewed for this many seconds "
                        "(renewed every quarter of it, at most every 15 s); 0 turns it off")
    p.add_argument("--log-file", default="market_maker.log", help="log file, rotated by size")
    p.add_argument("--log-level", default="INFO", type=str.upper,
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log verbosity")
    p.add_argument("--sim", action="store_true",
                   help="trade against the built-in exchange simulator: no keys, no network")
    return p


def parse_config(argv: list[str] | None, parser: argparse.ArgumentParser | None = None) -> Config:
    return Config(**vars((parser or build_parser()).parse_args(argv)))


# ====================================================================================== decisions
@dataclass(frozen=True)
class Quote:
    side: str
    price: Decimal
    qty: Decimal
    reduce_only: bool


@dataclass(frozen=True)
class QuoteParams:
    buy_spread: Decimal
    sell_spread: Decimal
    balance_fraction: Decimal
    position_threshold_usd: Decimal
    open_side: str = BUY               # BUY: long-biased (the original script); SELL: short-biased


def in_position(position: Decimal, mid: Decimal, threshold_usd: Decimal) -> bool:
    """A position counts only once its notional exceeds the threshold; below it we are 'flat'."""
    return abs(position) * mid > threshold_usd


def quote_price(side: str, mid: Decimal, params: QuoteParams, rules: SymbolRules) -> Decimal:
    """Away from mid by the side's spread, rounded away from mid onto the tick grid."""
    if side == BUY:
        return rules.price_down(mid * (1 - params.buy_spread))
    return rules.price_up(mid * (1 + params.sell_spread))


def desired_quote(position: Decimal, mid: Decimal, wallet: Decimal, params: QuoteParams,
                  rules: SymbolRules) -> tuple[Quote | None, str]:
    """The one order we want resting now, or None with the reason why we want none."""
    if in_position(position, mid, params.position_threshold_usd):
        side = SELL if position > 0 else BUY
        price = quote_price(side, mid, params, rules)
        qty = abs(position)
        if qty < rules.min_qty:
            return None, f"position {position} is below the minimum quantity {rules.min_qty}"
        return Quote(side, price, qty, reduce_only=True), "close"
    side = params.open_side
    price = quote_price(side, mid, params, rules)
    qty = rules.qty_down(wallet * params.balance_fraction / mid)
    if qty <= 0 or qty < rules.min_qty:
        return None, f"order size {qty} is below the minimum quantity {rules.min_qty} (wallet {wallet})"
    if qty * price < rules.min_notional:
        return None, f"order notional {qty * price} is below the minimum {rules.min_notional} (wallet {wallet})"
    return Quote(side, price, qty, reduce_only=False), "open"


def needs_replace(resting: Quote, remaining: Decimal, want: Quote, threshold: Decimal) -> bool:
    """Reuse the resting order unless it is on the wrong side, of the wrong kind, a closing order of
    the wrong size, or its price is more than `threshold` (relative) away from the target."""
    if resting.side != want.side or resting.reduce_only != want.reduce_only:
        return True
    if want.reduce_only and remaining != want.qty:
        return True
    return abs(want.price - resting.price) > threshold * resting.price


# ========================================================================================= orders
class OrderState(str, Enum):
    PENDING_NEW = "PENDING_NEW"        # sent, no answer yet
    UNKNOWN = "UNKNOWN"                # the placement's fate is unknown: counts as live
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"  # cancel sent, no answer yet
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"


TERMINAL = {OrderState.FILLED, OrderState.CANCELED, OrderState.EXPIRED, OrderState.REJECTED}
# Order of progress: an older event (a late NEW after PARTIALLY_FILLED) never moves an order back.
_RANK = {OrderState.PENDING_NEW: 0, OrderState.UNKNOWN: 0, OrderState.NEW: 1, OrderState.PENDING_CANCEL: 1,
         OrderState.PARTIALLY_FILLED: 2}
_EXCHANGE_STATUS = {"NEW": OrderState.NEW, "PARTIALLY_FILLED": OrderState.PARTIALLY_FILLED,
                    "FILLED": OrderState.FILLED, "CANCELED": OrderState.CANCELED,
                    "EXPIRED": OrderState.EXPIRED, "EXPIRED_IN_MATCH": OrderState.EXPIRED,
                    "REJECTED": OrderState.REJECTED}


@dataclass
class Order:
    client_id: str
    quote: Quote
    state: OrderState = OrderState.PENDING_NEW
    order_id: int | None = None
    filled: Decimal = Decimal(0)       # cumulative filled quantity, the largest seen from any source
    traded: Decimal = Decimal(0)       # how much of it the position tracker already reflects
    since: float = 0.0                 # when it entered its current doubtful state (UNKNOWN)
    assumed_gone: bool = False         # finished by our inference (the exchange said -2013), not its word

    @property
    def live(self) -> bool:
        return self.state not in TERMINAL

    @property
    def remaining(self) -> Decimal:
        return self.quote.qty - self.filled


def next_state(current: OrderState, exchange_status: str) -> OrderState:
    """Where an exchange status report moves an order. Terminal states are final; a pending cancel
    waits for its answer; otherwise an order only moves forward."""
    reported = _EXCHANGE_STATUS.get(exchange_status)
    if reported is None or current in TERMINAL:
        return current
    if reported in TERMINAL:
        return reported
    if current == OrderState.PENDING_CANCEL:
        return current
    return reported if _RANK[reported] >= _RANK[current] else current


def apply_report(order: Order, status: str, cum_filled: Decimal, order_id: int | None) -> None:
    """Apply an exchange status report (stream or REST) to an order."""
    order.state = next_state(order.state, status)
    if order_id is not None:
        order.order_id = order_id
    order.filled = max(order.filled, cum_filled)


class PositionTracker:
    """The exchange position, from absolute snapshots plus the fills newer than the last snapshot.

    A snapshot (ACCOUNT_UPDATE `pa`, REST positionRisk) is stamped with its transaction time; a fill
    with its trade time. A fill is counted only if newer than the snapshot, and once per trade id, so
    reordered, repeated or REST-overlapping events never double count.
    """

    def __init__(self, amount: Decimal = Decimal(0)):
        self.amount = amount
        self._stamp: tuple[int, int] = (0, 0)              # (transaction time, event time)
        self._fills: list[tuple[int, Decimal]] = []        # (trade time, signed qty) newer than the stamp
        self._seen: set[int] = set()
        self._seen_order: deque[int] = deque()

    def apply_snapshot(self, amount: Decimal, at_ms: int, event_ms: int = 0) -> bool:
        if (at_ms, event_ms) < self._stamp:
            return False
        self._stamp = (at_ms, event_ms)
        self._fills = [(t, q) for t, q in self._fills if t > at_ms]
        self.amount = amount + sum((q for _, q in self._fills), Decimal(0))
        return True

    def apply_fill(self, trade_id: int, at_ms: int, signed_qty: Decimal) -> bool:
        """Count a fill once; False for a trade id already seen."""
        if trade_id in self._seen:
            return False
        self._seen.add(trade_id)
        self._seen_order.append(trade_id)
        if len(self._seen_order) > 10_000:
            self._seen.discard(self._seen_order.popleft())
        if at_ms > self._stamp[0]:     # otherwise the snapshot already includes it
            self._fills.append((at_ms, signed_qty))
            self.amount += signed_qty
        return True


# ========================================================================================== state
@dataclass
class Book:
    bid: Decimal
    ask: Decimal
    seen_at: float                     # monotonic seconds
    raw: tuple[str, str] = ("", "")    # best bid/ask as received, to spot an unchanged top cheaply

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


@dataclass
class StrategyState:
    """Everything the bot knows, fed by the two streams and REST reconciliation."""
    book: Book | None = None
    position: PositionTracker = field(default_factory=PositionTracker)
    balances: dict[str, Decimal] = field(default_factory=dict)
    live: Order | None = None                      # the one order that may be open
    orders: dict[str, Order] = field(default_factory=dict)   # this run's recent orders by client id
    strays: set[str] = field(default_factory=set)  # open orders of ours that are not `live`
    market_up: bool = False
    user_up: bool = False
    need_reconcile: bool = True
    position_dirty: bool = False                   # REST showed fills the stream has not: re-read

    @property
    def wallet(self) -> Decimal:
        return self.balances.get("USDT", Decimal(0)) + self.balances.get("USDF", Decimal(0))

    def remember(self, order: Order) -> None:
        self.orders[order.client_id] = order
        if len(self.orders) > 500:                 # keep finished orders a while for late fills
            for cid in [c for c, o in self.orders.items() if not o.live][:100]:
                del self.orders[cid]


# ====================================================================================== the bot
class FatalError(Exception):
    """A condition the bot cannot trade through (unknown symbol, rejected credentials)."""


class ShutdownRequested(Exception):
    pass


class MarketMaker:
    def __init__(self, config: Config, client: AsterClient, ws_url: str, *,
                 timings: Timings = Timings(), now: Callable[[], float] = time.monotonic):
        self.cfg, self.client, self.ws_url = config, client, ws_url.rstrip("/")
        self.t, self.now = timings, now
        self.symbol = config.symbol
        self.params = QuoteParams(config.buy_spread, config.sell_spread, config.balance_fraction,
                                  config.position_threshold_usd)
        self.state = StrategyState()
        self.rules: SymbolRules | None = None
        self.run_id = "".join(random.choices(string.ascii_lowercase + string.digits, k=6))
        self._seq = itertools.count(1)
        self._wake = asyncio.Event()
        self.stop = asyncio.Event()
        self._listen_key: str | None = None
        self._user_ws = None
        self._reconnect_user = False       # set by a handler: leave the user stream and reconnect
        self._retry_at = 0.0              # no placement before this (after rejections)
        self._failures = 0
        self._next_sweep = 0.0
        self._skip_reason = ""
        self._countdown_ok = config.cancel_countdown > 0

    # ----- small helpers -----
    def wake(self) -> None:
        self._wake.set()

    def new_client_id(self) -> str:
        return f"{CLIENT_ID_PREFIX}-{self.run_id}-{next(self._seq)}"

    def describe(self) -> str:
        o = self.state.live
        resting = f"{o.quote.side} {o.remaining}@{o.quote.price} {o.state.value}" if o else "none"
        book = self.state.book
        market = f"mid={book.mid} spread={book.ask - book.bid}" if book else "mid=? (no market data yet)"
        mode = "SELL" if self._in_position() else "BUY"
        weight = self.client.used_weight_1m
        return (f"mode={mode} position={self.state.position.amount} order={resting} {market} "
                f"wallet={self.state.wallet}" + (f" weight_1m={weight}" if weight is not None else ""))

    def _in_position(self) -> bool:
        book = self.state.book
        return book is not None and in_position(self.state.position.amount, book.mid,
                                                self.params.position_threshold_usd)

    # ----- start-up -----
    async def start(self) -> None:
        """Clock, rules, then the bot owns the symbol: cancel everything, adopt the position."""
        try:
            await self.client.sync_time()
            self.rules = await self.client.symbol_rules(self.symbol)
            await self.client.cancel_all(self.symbol)
            await self._refresh_position()
            self.state.balances = await self.client.wallet_balances()
        except ValueError as err:
            raise FatalError(str(err)) from None
        except ExchangeError as err:
            if err.code in (-2014, -2015, -1022) or err.status in (401, 403):
                raise FatalError(f"credentials rejected by the exchange: {err.msg} (code {err.code})") from None
            raise FatalError(f"cannot start: {err}") from None
        if self.state.position.amount == 0:
            try:
                await self.client.set_leverage(self.symbol, self.cfg.leverage)
            except ExchangeError as err:
                log.warning("could not set leverage %d: %s", self.cfg.leverage, err)
        log.info("started %s run %s: tick=%s step=%s min_notional=%s position=%s wallet=%s key=%s",
                 self.symbol, self.run_id, self.rules.tick, self.rules.step, self.rules.min_notional,
                 self.state.position.amount, self.state.wallet, self.client.key_hint)

    async def _refresh_position(self) -> None:
        """Read the position from REST; it includes every fill reported to us before the read."""
        seen = [(order, order.filled) for order in self.state.orders.values()]
        sent_ms = int(time.time() * 1000) + self.client.time_offset_ms
        row = await self.client.position(self.symbol)
        stamp = int(row.get("updateTime") or 0) or sent_ms
        self.state.position.apply_snapshot(Decimal(row["positionAmt"]), stamp, sent_ms)
        for order, filled in seen:
            order.traded = max(order.traded, filled)
        self.state.position_dirty = False

    # ----- the market stream -----
    def on_market_message(self, raw: str | bytes) -> None:
        try:
            msg = json.loads(raw)
            data = msg.get("data", msg)
            bids, asks = data["b"], data["a"]
            if not bids or not asks:
                return
            raw_top = (bids[0][0], asks[0][0])
            book = self.state.book
            now = self.now()
            if book is not None and book.raw == raw_top:
                book.seen_at = now
                return
            bid, ask = Decimal(raw_top[0]), Decimal(raw_top[1])
            if not (bid > 0 and ask > 0):
                raise ValueError(f"non-positive price in {raw_top}")
            self.state.book = Book(bid, ask, now, raw_top)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError, InvalidOperation) as err:
            stream_log.warning("market: skipped a malformed message (%s): %.200r", type(err).__name__, raw)
            return
        self.wake()

    # ----- the user stream -----
    def on_user_message(self, raw: str | bytes) -> None:
        try:
            msg = json.loads(raw)
            handler = self._user_handlers.get(msg.get("e"))
            if handler is None:
                stream_log.warning("user: ignored unknown event %.200r", raw)
                return
            handler(self, msg)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError, InvalidOperation) as err:
            stream_log.warning("user: skipped a malformed message (%s): %.300r", type(err).__name__, raw)
            return
        self.wake()

    def _on_order_update(self, msg: dict) -> None:
        o = msg["o"]
        if o["s"] != self.symbol:
            return
        # Read every field before changing anything: a message missing one is skipped whole.
        client_id, side, status, order_id = o["c"], o["S"], o["X"], int(o["i"])
        cum_filled = Decimal(o["z"])
        trade = (int(o["t"]), int(o["T"]), Decimal(o["l"]), o["L"]) if o["x"] == "TRADE" else None
        if side not in (BUY, SELL):
            raise ValueError(f"unexpected side {side!r}")   # an unknown status only leaves the order as is
        order = self.state.orders.get(client_id)
        if trade is not None:
            trade_id, at_ms, qty, price = trade
            if self.state.position.apply_fill(trade_id, at_ms, qty if side == BUY else -qty):
                if order is not None and cum_filled > order.traded:
                    # a late event for a fill a REST re-read already counted must not count twice
                    order.traded = min(cum_filled, order.traded + qty)
                log.info("fill %s %s@%s of %s: position now %s", side, qty, price, client_id,
                         self.state.position.amount)
        still_open = status in ("NEW", "PARTIALLY_FILLED")
        if order is None:
            if client_id.startswith(CLIENT_ID_PREFIX + "-") and still_open:
                log.warning("order %s of ours is open but not tracked: cancelling it", client_id)
                self.state.strays.add(client_id)
            return
        if order.assumed_gone and still_open:
            self.state.strays.add(client_id)     # we thought it never placed or gone: make sure it is
        self._apply(order, status, cum_filled, order_id)

    def _on_account_update(self, msg: dict) -> None:
        update, event_ms = msg["a"], int(msg["E"])
        at_ms = int(msg.get("T", event_ms))
        balances = {b["a"]: Decimal(b["wb"]) for b in update.get("B", []) if b["a"] in ("USDT", "USDF")}
        positions = [Decimal(p["pa"]) for p in update.get("P", [])
                     if p["s"] == self.symbol and p.get("ps", "BOTH") == "BOTH"]
        self.state.balances.update(balances)
        for amount in positions:
            self.state.position.apply_snapshot(amount, at_ms, event_ms)

    def _on_listen_key_expired(self, msg: dict) -> None:
        stream_log.warning("user: listenKey expired; reconnecting with a new key")
        self._reconnect_user = True

    def _on_config(self, msg: dict) -> None:
        stream_log.info("user: %s %.300s", msg.get("e"), json.dumps(msg))

    def _on_margin_call(self, msg: dict) -> None:
        stream_log.warning("user: MARGIN CALL %.300s", json.dumps(msg))

    _user_handlers = {
        "ORDER_TRADE_UPDATE": _on_order_update,
        "ACCOUNT_UPDATE": _on_account_update,
        "listenKeyExpired": _on_listen_key_expired,
        "ACCOUNT_CONFIG_UPDATE": _on_config,
        "MARGIN_CALL": _on_margin_call,
    }

    def _apply_rest(self, order: Order, answer: dict) -> None:
        """Apply a REST order answer (place, cancel, query)."""
        order_id = answer.get("orderId")
        self._apply(order, answer.get("status", "NEW"), Decimal(answer.get("executedQty", "0")),
                    None if order_id is None else int(order_id))

    def _apply(self, order: Order, status: str, cum_filled: Decimal, order_id: int | None) -> None:
        """Apply a status report to an order, note fills the position lacks, settle the order."""
        was = order.state
        apply_report(order, status, cum_filled, order_id)
        if order.state != was:
            log.debug("order %s: %s -> %s", order.client_id, was.value, order.state.value)
        if order.filled > order.traded:
            self.state.position_dirty = True   # fills the position does not show yet: re-read it
        self._settle(order)

    def _settle(self, order: Order) -> None:
        """Forget the live order once it is finished; note an order that never traded."""
        if order is self.state.live and not order.live:
            self.state.live = None
            if order.filled == 0 and order.state == OrderState.EXPIRED:
                self._failures += 1            # a post-only order that would have crossed
                if self._failures > 1:
                    self._retry_at = self.now() + self._backoff()
            log.info("order %s %s (filled %s of %s)", order.client_id, order.state.value,
                     order.filled, order.quote.qty)

    # ----- streams with reconnection -----
    async def _stream(self, name: str, url: Callable, on_message: Callable, on_up: Callable,
                      on_down: Callable, idle_timeout: float | None,
                      leave: Callable[[], bool] = lambda: False) -> None:
        delay = self.t.reconnect_first
        while True:
            opened = None
            try:
                target = await url()
                async with websockets.connect(target, open_timeout=10, close_timeout=1, ping_interval=20,
                                              ping_timeout=20, max_size=2**22) as ws:
                    opened = self.now()
                    stream_log.info("%s stream connected", name)
                    on_up(ws)
                    while not leave():
                        async with asyncio.timeout(idle_timeout):
                            raw = await ws.recv()
                        on_message(raw)
            except TimeoutError:
                stream_log.warning("%s stream timed out (silent or not opening): reconnecting", name)
            except (OSError, websockets.WebSocketException, ExchangeError) as err:
                stream_log.warning("%s stream down: %s", name, err)
            finally:
                on_down()
            if opened is not None and self.now() - opened > self.t.stable_after:
                delay = self.t.reconnect_first
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.t.reconnect_max)

    async def market_stream(self) -> None:
        async def url() -> str:
            return f"{self.ws_url}/ws/{self.symbol.lower()}@depth5@100ms"

        def up(ws) -> None:
            self.state.market_up = True

        def down() -> None:
            self.state.market_up = False
            self.wake()
        await self._stream("market", url, self.on_market_message, up, down, self.t.stale_after)

    async def user_stream(self) -> None:
        async def url() -> str:
            # POST answers the live key, or a new one if it expired: ask on every (re)connect.
            self._listen_key = await self.client.new_listen_key()
            self._reconnect_user = False
            return f"{self.ws_url}/ws/{self._listen_key}"

        def up(ws) -> None:
            self._user_ws = ws
            self.state.user_up = True
            self.state.need_reconcile = True   # whatever happened while we were away
            self.wake()

        def down() -> None:
            self._user_ws = None
            self.state.user_up = False
            self.wake()
        await self._stream("user", url, self.on_user_message, up, down, None, lambda: self._reconnect_user)

    # ----- the quoting loop: the only place that sends order requests -----
    async def quote_loop(self) -> None:
        while True:
            try:
                while await self.step():
                    pass
            except (ExchangeError, OSError) as err:
                log.warning("step failed: %s", err)
                self.state.need_reconcile = True   # re-read the exchange's truth before quoting again
                self._retry_at = max(self._retry_at, self.now() + self._backoff())
            await self._sleep_until_woken(self._next_wake())

    def _backoff(self) -> float:
        return min(30.0, 0.25 * 2 ** min(self._failures, 8))

    def _next_wake(self) -> float:
        live = self.state.live
        timeout = self.t.idle_wake
        if live is not None and live.state == OrderState.UNKNOWN:
            timeout = min(timeout, self.t.requery_every)
        if self._retry_at > self.now():
            timeout = min(timeout, self._retry_at - self.now())
        return max(timeout, 0.0)

    async def _sleep_until_woken(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            pass
        self._wake.clear()

    def not_ready(self) -> str:
        st = self.state
        if not st.user_up:
            return "user stream down"
        if not st.market_up or st.book is None:
            return "no market data"
        if self.now() - st.book.seen_at > self.t.stale_after:
            return "market data stale"
        return ""

    async def step(self) -> bool:
        """One decision. True when it did something and should be run again at once."""
        st = self.state
        if self.client.blocked_for() > 0:
            self._retry_at = max(self._retry_at, self.now() + self.client.blocked_for())
            return False
        if st.need_reconcile and st.user_up:
            await self.reconcile()
            return True
        if st.strays:
            await self._cancel_strays()
            return True
        if st.position_dirty:
            await self._refresh_position()
            return True
        live = st.live
        if live is not None and live.state == OrderState.UNKNOWN:
            return await self._resolve_unknown(live)
        if self.now() >= self._next_sweep and st.user_up:
            await self.sweep()
            return True                                    # cancel what it found before placing anything
        reason = self.not_ready()
        if reason:
            if live is not None:
                log.warning("%s: pulling the quote", reason)
                return await self._cancel(live)
            return False
        want, why = desired_quote(st.position.amount, st.book.mid, st.wallet, self.params, self.rules)
        if live is not None:
            if want is None or needs_replace(live.quote, live.remaining, want, self.cfg.reprice_threshold):
                return await self._cancel(live)
            return False                                   # reuse: nothing to send
        if want is None:
            if why != self._skip_reason:
                log.info("not quoting: %s", why)
                self._skip_reason = why
            return False
        self._skip_reason = ""
        if self.now() < self._retry_at:
            return False
        await self._place(want)
        return False

    async def _place(self, want: Quote) -> None:
        order = Order(self.new_client_id(), want)
        self.state.live = order                       # registered before sending: a stream event may beat the reply
        self.state.remember(order)
        log.info("place %s %s@%s%s as %s", want.side, want.qty, want.price,
                 " reduceOnly" if want.reduce_only else "", order.client_id)
        try:
            resp = await self.client.place_limit(self.symbol, want.side, want.qty, want.price, order.client_id,
                                                 reduce_only=want.reduce_only)
        except UnknownOutcomeError as err:
            order.state, order.since = OrderState.UNKNOWN, self.now()
            log.warning("placement of %s has an unknown outcome (%s): querying before anything else",
                        order.client_id, err)
            return
        except ExchangeError as err:
            order.state = OrderState.REJECTED
            self._settle(order)
            self._on_rejected(err)
            return
        self._apply_rest(order, resp)
        if order.state in (OrderState.NEW, OrderState.PARTIALLY_FILLED):
            self._failures = 0

    def _on_rejected(self, err: ExchangeError) -> None:
        self._failures += 1
        self._retry_at = self.now() + self._backoff()
        if isinstance(err, RateLimitError):
            self._retry_at = max(self._retry_at, self.now() + err.retry_after)
        elif err.code == -2019:
            log.warning("margin insufficient (-2019): re-reading the wallet")
            self.state.need_reconcile = True
        elif err.code == -2022:
            log.warning("reduce-only order rejected (-2022): re-reading the position")
            self.state.position_dirty = True
        log.warning("order rejected: %s; next attempt in %.1f s", err, self._retry_at - self.now())

    async def _cancel(self, order: Order) -> bool:
        previous = order.state
        order.state = OrderState.PENDING_CANCEL
        try:
            resp = await self.client.cancel_order(self.symbol, client_order_id=order.client_id)
            if resp is None:                          # already gone: filled, cancelled or expired?
                resp = await self.client.query_order(self.symbol, client_order_id=order.client_id)
                if resp is not None and resp.get("status") not in _EXCHANGE_STATUS:
                    log.warning("order %s is not open, status %r: taken as cancelled", order.client_id,
                                resp.get("status"))
                    resp = {**resp, "status": "CANCELED"}
        finally:                                      # unless a stream event moved it on, it is as before
            if order.state == OrderState.PENDING_CANCEL:
                order.state = previous
        if resp is None:                              # unknown to the exchange: treat as cancelled
            order.assumed_gone = True
            resp = {"status": "CANCELED", "executedQty": str(order.filled)}
        self._apply_rest(order, resp)
        return not order.live                         # still open at the exchange: try again later

    async def _resolve_unknown(self, order: Order) -> bool:
        resp = await self.client.query_order(self.symbol, client_order_id=order.client_id)
        if resp is None:
            if self.now() - order.since < self.t.unknown_grace:
                return False                          # the matching engine may not know it yet
            log.warning("order %s was never placed", order.client_id)
            order.state, order.assumed_gone = OrderState.REJECTED, True
            self._settle(order)
        else:
            order.state = OrderState.PENDING_NEW      # let the report move it forward from here
            self._apply_rest(order, resp)
            log.info("order %s resolved: %s", order.client_id, order.state.value)
        return True

    async def _cancel_strays(self) -> None:
        for cid in list(self.state.strays):
            live = self.state.live
            if live is None or live.client_id != cid:
                await self.client.cancel_order(self.symbol, client_order_id=cid)
                self.state.position_dirty = True       # it may have traded: re-read the position
            self.state.strays.discard(cid)

    async def reconcile(self) -> None:
        """Adopt the exchange's truth: position, wallet, the state of our order, strays."""
        st = self.state
        st.need_reconcile = False          # now: a reconnect while we read asks for another round
        await self._refresh_position()
        st.balances = await self.client.wallet_balances()
        live = st.live
        if live is not None and live.state != OrderState.UNKNOWN:
            resp = await self.client.query_order(self.symbol, client_order_id=live.client_id)
            if resp is not None:
                self._apply_rest(live, resp)
        await self._find_strays()
        self._next_sweep = self.now() + self.t.sweep_every   # this was a sweep
        log.info("reconciled: %s", self.describe())

    async def _find_strays(self) -> None:
        live = self.state.live
        for o in await self.client.open_orders(self.symbol):
            if (live is None or o.get("clientOrderId") != live.client_id) and \
                    str(o.get("clientOrderId", "")).startswith(CLIENT_ID_PREFIX + "-"):
                log.warning("sweep: order %s is open but not intended: cancelling", o.get("clientOrderId"))
                self.state.strays.add(o["clientOrderId"])

    async def sweep(self) -> None:
        """Every sweep_every: compare the exchange's orders and position with ours."""
        self._next_sweep = self.now() + self.t.sweep_every
        before = self.state.position.amount
        await self._refresh_position()
        if self.state.position.amount != before:
            log.warning("sweep: position was %s, exchange says %s: adopted", before, self.state.position.amount)
        await self._find_strays()

    # ----- periodic chores -----
    async def keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.t.keepalive_every)
            try:
                await self.client.keepalive_listen_key()
            except ExchangeError as err:
                stream_log.warning("listenKey keepalive failed (%s): reconnecting with a new key", err)
                self._reconnect_user = True
                if self._user_ws is not None:
                    await self._user_ws.close()

    async def status(self) -> None:
        while True:
            await asyncio.sleep(self.t.status_every)
            log.info("status: %s", self.describe())

    async def heartbeat(self) -> None:
        """Renew the exchange's dead-man switch: if we die, it cancels our orders."""
        while self._countdown_ok:
            try:
                await self.client.countdown_cancel_all(self.symbol, int(self.cfg.cancel_countdown * 1000))
            except ExchangeError as err:
                if err.status and 400 <= err.status < 500 and err.status not in (418, 429):
                    log.warning("dead-man switch unavailable (%s): continuing without it", err)
                    self._countdown_ok = False
                    return
                log.warning("dead-man switch renewal failed: %s", err)
            await asyncio.sleep(min(self.t.heartbeat_every, self.cfg.cancel_countdown / 4))

    # ----- life cycle -----
    async def run(self) -> None:
        await self.start()
        try:
            async with asyncio.TaskGroup() as tg:
                for job in (self.market_stream, self.user_stream, self.quote_loop, self.keepalive,
                            self.status, self.heartbeat, self._wait_for_stop):
                    tg.create_task(self._guard(job), name=job.__name__)
        except* ShutdownRequested:
            pass
        finally:
            await self.shutdown()

    async def _wait_for_stop(self) -> None:
        await self.stop.wait()
        raise ShutdownRequested

    async def _guard(self, job: Callable) -> None:
        """No task dies silently: a crash is logged, then brings the whole bot down cleanly."""
        try:
            await job()
        except (asyncio.CancelledError, ShutdownRequested):
            raise
        except Exception:
            log.exception("task %s crashed", job.__name__)
            raise

    async def shutdown(self) -> None:
        """Cancel every open order of the symbol, stop the dead-man switch, close the listenKey."""
        log.info("shutting down: cancelling all open orders of %s", self.symbol)
        try:
            async with asyncio.timeout(self.t.shutdown_timeout):
                await self._cancel_everything()
        except (TimeoutError, ExchangeError, OSError) as err:
            backstop = (f"; the exchange's dead-man switch cancels them within {self.cfg.cancel_countdown:.0f} s"
                        if self._countdown_ok else "")
            log.error("shutdown could not confirm that all orders are cancelled (%s)%s",
                      err or type(err).__name__, backstop)
        try:
            async with asyncio.timeout(1.0):
                if self._listen_key is not None:
                    await self.client.close_listen_key()
        except (TimeoutError, ExchangeError, OSError) as err:
            log.warning("could not close the listenKey: %s", err)
        log.info("stopped: %s", self.describe())

    async def _cancel_everything(self) -> None:
        """Cancel-all until the exchange shows nothing open (the caller bounds the time). A placement
        whose fate is unknown (or was in flight) may still land: until it is found or its grace has
        passed, an empty book proves nothing. Only then is the dead-man switch disarmed."""
        live = self.state.live
        doubtful = live if live is not None and live.state in (OrderState.PENDING_NEW, OrderState.UNKNOWN) else None
        settle_by = self.now() + self.t.unknown_grace
        while True:
            await asyncio.sleep(self.client.blocked_for())    # a 429 back-off ends within the budget
            try:
                await self.client.cancel_all(self.symbol)
                if await self.client.open_orders(self.symbol):
                    continue
                if doubtful is None or self.now() >= settle_by:
                    break
                if await self.client.query_order(self.symbol, client_order_id=doubtful.client_id) is not None:
                    doubtful = None                       # it exists: one more cancel-all round covers it
                else:
                    await asyncio.sleep(self.t.requery_every)
            except RateLimitError:
                continue
        if self._countdown_ok:
            await self.client.countdown_cancel_all(self.symbol, 0)


# ==================================================================================== entry point
def setup_logging(path: str, level: str) -> None:
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(level)
    for handler in (logging.StreamHandler(sys.stdout),
                    logging.handlers.RotatingFileHandler(path, maxBytes=10_000_000, backupCount=5)):
        handler.setFormatter(fmt)
        root.addHandler(handler)
    for noisy in ("websockets", "aiohttp", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def read_credentials() -> tuple[str, str, str, str]:
    """Key, secret, REST and WS URLs from the environment, then .env (the environment wins)."""
    load_dotenv(Path.cwd() / ".env", override=False)
    key, secret = os.environ.get("ASTER_API_KEY", "").strip(), os.environ.get("ASTER_API_SECRET", "").strip()
    for name, value in (("ASTER_API_KEY", key), ("ASTER_API_SECRET", secret)):
        if not value:
            raise ValueError(f"{name} is not set: put it in the environment or in .env (see .env.example)")
    rest = os.environ.get("ASTER_REST_URL", "").strip() or DEFAULT_REST_URL
    ws = os.environ.get("ASTER_WS_URL", "").strip() or DEFAULT_WS_URL
    for name, value, schemes in (("ASTER_REST_URL", rest, ("http://", "https://")),
                                 ("ASTER_WS_URL", ws, ("ws://", "wss://"))):
        if not value.startswith(schemes):
            raise ValueError(f"{name} must start with {' or '.join(schemes)}, got {value!r}")
    return key, secret, rest, ws


def install_signal_handlers(bot: MarketMaker) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, bot.stop.set)


async def run_bot(config: Config, key: str, secret: str, rest_url: str, ws_url: str,
                  timings: Timings = Timings()) -> None:
    async with AsterClient(key, secret, rest_url) as client:
        bot = MarketMaker(config, client, ws_url, timings=timings)
        install_signal_handlers(bot)
        await bot.run()


SIM_START_PRICES = {"ETHUSDT": "2500", "BNBUSDT": "1020", "ASTERUSDT": "1.85"}


async def run_sim(config: Config) -> None:
    """The bot, unchanged, against the simulator in this process with a synthetic market."""
    from sim_exchange import SimExchange, SyntheticMarket
    if config.symbol not in SIM_START_PRICES:
        raise FatalError(f"the simulator trades {', '.join(SIM_START_PRICES)}, not {config.symbol}")
    async with SimExchange(journal_limit=10_000) as sim:    # a demo may run for days
        market = SyntheticMarket(symbol=config.symbol, start_price=Decimal(SIM_START_PRICES[config.symbol]),
                                 seed=int(time.time()))
        feeder = asyncio.create_task(market.run(sim), name="synthetic market")
        feeder.add_done_callback(lambda t: t.cancelled() or t.exception() is None or
                                 log.error("synthetic market stopped: %r", t.exception()))
        try:
            await run_bot(config, sim.api_key, sim.api_secret, sim.rest_url, sim.ws_url)
        finally:
            feeder.cancel()
        s = sim.summary(config.symbol)
        print("session summary: " + ", ".join(f"{k}={v}" for k, v in s.items()))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    config = parse_config(argv, parser)
    if not config.sim:
        try:
            key, secret, rest, ws = read_credentials()
        except ValueError as err:
            parser.error(str(err))                   # exit status 2, argparse style
    try:
        setup_logging(config.log_file, config.log_level)
    except OSError as err:
        parser.error(f"cannot open log file {config.log_file!r}: {err.strerror}")
    try:
        if config.sim:
            asyncio.run(run_sim(config))
        else:
            asyncio.run(run_bot(config, key, secret, rest, ws))
    except FatalError as err:
        log.error("fatal: %s", err)
        print(f"market_maker.py: error: {err}", file=sys.stderr)
        return 1
    except Exception as err:                          # a crashed task arrives as an ExceptionGroup
        first = err.exceptions[0] if isinstance(err, ExceptionGroup) else err
        log.error("fatal: crashed: %r", first, exc_info=first)
        print(f"market_maker.py: error: crashed: {first!r} (see the log)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
