"""The simulator's queue-position fill model and its latency (issue 11): the engine through the facade's
market controls, the latency over real sockets, and the real bot joining a thick level."""

from __future__ import annotations

import asyncio
import re
import sys
from decimal import Decimal as D
from types import SimpleNamespace

import aiohttp
import pytest
from helpers import ROOT, BotRun, Client, recv

from aster_mm.settings.parser import parse_config
from aster_mm.simulator import SimExchange, SymbolSpec

SYM = "USD1USDT"
SPEC = SymbolSpec(SYM, tick=D("0.0001"), step=D("1"), min_qty=D("1"), min_notional=D("5"))
# A stablecoin book: one tick wide, thick at the touch (the USD1USDT case of the issue).
THICK = (
    [(D("0.9998"), D("13000")), (D("0.9997"), D("20000")), (D("0.9996"), D("15000"))],
    [(D("0.9999"), D("13000")), (D("1.0000"), D("20000")), (D("1.0001"), D("15000"))],
)
WIDE = (
    [(D("0.9997"), D("13000")), (D("0.9996"), D("20000"))],  # two ticks wide: room to improve
    [(D("0.9999"), D("13000")), (D("1.0000"), D("20000"))],
)


def make_sim(fill_model: str = "queue", **kw) -> SimExchange:
    return SimExchange(symbols={SYM: SPEC}, fill_model=fill_model, **kw)


async def sim_with(book, fill_model: str = "queue") -> SimExchange:
    sim = make_sim(fill_model)
    await sim.set_book(SYM, *book)
    return sim


def fills(sim: SimExchange) -> list[tuple[str, str, str]]:
    """(status, last qty, cumulative qty) of every ORDER_TRADE_UPDATE trade the user stream was sent."""
    return [
        (e["payload"]["o"]["X"], e["payload"]["o"]["l"], e["payload"]["o"]["z"])
        for e in sim.journal
        if e["kind"] == "event"
        and e["stream"] == "user"
        and e["payload"].get("e") == "ORDER_TRADE_UPDATE"
        and e["payload"]["o"]["x"] == "TRADE"
    ]


async def sells(sim: SimExchange, price: str, qty: str, times: int = 1) -> None:
    for _ in range(times):
        await sim.trade(SYM, "SELL", price, qty)


# ------------------------------------------------------------------ the queue model, engine side
@pytest.mark.parametrize("model, filled", [("queue", D("0")), ("optimistic", D("500"))])
async def test_joining_a_thick_level_small_trades_do_not_reach_us(model, filled):
    sim = await sim_with(THICK, model)
    await sim.place_order_direct(SYM, "BUY", "0.9998", "500")  # behind the 13,000 displayed
    await sells(sim, "0.9998", "300", times=40)  # 12,000 printed at our price
    assert sim.position(SYM) == filled


async def test_improving_the_price_by_a_tick_fills():
    sim = await sim_with(WIDE)
    await sim.place_order_direct(SYM, "BUY", "0.9998", "500")  # a new best bid: nobody ahead
    await sells(sim, "0.9998", "200")
    assert sim.position(SYM) == D("200")
    await sells(sim, "0.9997", "1")  # through our price: the rest
    assert sim.position(SYM) == D("500")
    assert fills(sim) == [("PARTIALLY_FILLED", "200", "200"), ("FILLED", "300", "500")]


async def test_trades_consume_the_size_ahead_then_fill_us_partially_then_fully():
    sim = await sim_with(THICK)
    await sim.set_book(SYM, [(D("0.9998"), D("1000"))] + THICK[0][1:], THICK[1])
    await sim.place_order_direct(SYM, "BUY", "0.9998", "500")
    await sells(sim, "0.9998", "600")
    assert sim.position(SYM) == 0  # 400 still ahead
    await sells(sim, "0.9998", "600")  # 400 ahead, then 200 of ours
    assert sim.position(SYM) == D("200")
    await sells(sim, "0.9998", "400")
    assert sim.position(SYM) == D("500") and sim.open_orders(SYM) == []
    assert fills(sim) == [("PARTIALLY_FILLED", "200", "200"), ("FILLED", "300", "500")]


async def test_without_partial_fills_a_print_reaching_us_fills_the_whole_order():
    """hftbacktest's rule (partial_fills=False): the queue still holds us back, but once a print gets past
    the size ahead, all of our order fills."""
    sim = make_sim(partial_fills=False)
    await sim.set_book(SYM, [(D("0.9998"), D("1000"))] + THICK[0][1:], THICK[1])
    await sim.place_order_direct(SYM, "BUY", "0.9998", "500")
    await sells(sim, "0.9998", "1000")  # exactly the size ahead: not reached
    assert sim.position(SYM) == 0
    await sells(sim, "0.9998", "1")
    assert sim.position(SYM) == D("500")
    assert fills(sim) == [("FILLED", "500", "500")]


async def test_a_level_shrinking_below_the_size_ahead_moves_us_up():
    sim = await sim_with(THICK)
    await sim.place_order_direct(SYM, "BUY", "0.9998", "500")  # 13,000 ahead
    await sim.set_book(SYM, [(D("0.9998"), D("300"))] + THICK[0][1:], THICK[1])  # cancellations
    await sim.set_book(SYM, [(D("0.9998"), D("9000"))] + THICK[0][1:], THICK[1])  # newcomers: behind us
    await sells(sim, "0.9998", "400")
    assert sim.position(SYM) == D("100")


async def test_a_book_or_trade_through_our_price_fills_us_fully():
    sim = await sim_with(THICK)
    await sim.place_order_direct(SYM, "BUY", "0.9998", "500")
    await sells(sim, "0.9997", "1")  # a print below our bid: level gone
    assert sim.position(SYM) == D("500")
    await sim.place_order_direct(SYM, "SELL", "0.9999", "200")  # behind 13,000 asks
    await sim.set_book(SYM, [(D("0.9999"), D("50"))], [(D("1.0000"), D("10"))])  # best bid >= our ask
    assert sim.position(SYM) == D("300") and sim.open_orders(SYM) == []


async def test_requeue_after_a_price_change_goes_to_the_back():
    sim = await sim_with(THICK)
    await sim.place_order_direct(SYM, "BUY", "0.9998", "500")
    await sells(sim, "0.9998", "12900")  # 100 left ahead of us
    engine = sim._engine
    [order] = engine.open(SYM)
    order.price = D("0.9997")  # what a modify does, then requeue
    engine.requeue(order)
    await sells(sim, "0.9997", "19000")  # 20,000 displayed there now
    assert sim.position(SYM) == 0
    order.price = D("0.9998")
    engine.requeue(order)  # back: behind all 13,000 again
    await sells(sim, "0.9998", "12000")
    assert sim.position(SYM) == 0


async def test_our_later_order_queues_behind_our_earlier_one():
    sim = await sim_with(THICK)
    await sim.set_book(SYM, [(D("0.9998"), D("1000"))], THICK[1])
    await sim.place_order_direct(SYM, "BUY", "0.9998", "500", client_order_id="first")
    await sim.place_order_direct(SYM, "BUY", "0.9998", "500", client_order_id="second")
    await sells(sim, "0.9998", "1200")
    assert [(o["clientOrderId"], o["executedQty"]) for o in sim.open_orders(SYM)] == [("first", "200"), ("second", "0")]
    await sells(sim, "0.9998", "800")
    assert sim.open_orders(SYM) == [] and sim.position(SYM) == D("1000")


async def test_a_level_beyond_the_visible_book_is_unknown_until_it_shows():
    sim = await sim_with(THICK)
    await sim.place_order_direct(SYM, "BUY", "0.9990", "500")  # below the three visible bids
    await sells(sim, "0.9990", "5000")
    assert sim.position(SYM) == 0  # queue unknown: not reached
    await sim.set_book(SYM, [(D("0.9991"), D("10")), (D("0.9990"), D("700"))], [(D("0.9992"), D("10"))])
    await sells(sim, "0.9990", "800")  # 700 first seen, all ahead
    assert sim.position(SYM) == D("100")


# ------------------------------------------------------------------ latency, over sockets
async def test_an_order_is_judged_against_the_book_it_meets_after_order_latency():
    async with make_sim(order_latency_ms=300) as sim, aiohttp.ClientSession() as session:
        await sim.set_book(SYM, *WIDE)
        client = Client(sim, session)
        loop = asyncio.get_running_loop()
        sent = loop.time()
        placing = asyncio.create_task(client.order(symbol=SYM, price="0.9998", qty="500", tif="GTX"))
        await sim.wait_for(lambda: sim.requests("POST", "/fapi/v1/order"))  # arrived, not yet matched
        await sim.set_book(SYM, [(D("0.9997"), D("10"))], [(D("0.9998"), D("10"))])  # ask down to our bid
        status, order, _ = await placing
        assert loop.time() - sent >= 0.3
        assert (status, order["status"]) == (200, "EXPIRED")  # a post-only that would cross
        assert sim.position(SYM) == 0


async def test_market_frames_arrive_feed_latency_after_their_event():
    async with make_sim(feed_latency_ms=200) as sim, aiohttp.ClientSession() as session:
        await sim.set_book(SYM, *THICK)
        ws = await session.ws_connect(f"{sim.ws_url}/ws/usd1usdt@depth5")
        first = await recv(ws)  # the snapshot on connecting
        assert first["b"][0] == ["0.9998", "13000"]
        loop = asyncio.get_running_loop()
        moved = loop.time()
        await sim.set_book(SYM, [(D("0.9997"), D("1"))], [(D("0.9998"), D("2"))])
        await sim.set_book(SYM, [(D("0.9996"), D("3"))], [(D("0.9997"), D("4"))])
        a = await recv(ws, timeout=2.0)
        assert loop.time() - moved >= 0.2
        b = await recv(ws, timeout=2.0)
        assert (a["b"], b["b"]) == ([["0.9997", "1"]], [["0.9996", "3"]])  # each book as of its event
        await ws.close()


# ------------------------------------------------------------------ the real bot
@pytest.mark.parametrize("model", ["queue", "optimistic"])
async def test_real_bot_joining_a_thick_best_bid(model):
    """The bot's BUY lands on the 13,000-deep best bid; 2,000 printed there fill it only when optimistic."""
    async with make_sim(model) as sim:
        await sim.set_book(SYM, *THICK)
        async with BotRun(sim, symbol=SYM, buy_spread=D("0.00001"), sell_spread=D("0.00001")) as bot:
            await sim.wait_for(lambda: sim.open_orders(SYM))
            [buy] = sim.open_orders(SYM)
            assert (buy["side"], buy["price"]) == ("BUY", "0.9998")
            await sells(sim, "0.9998", "100", times=20)
            if model == "optimistic":
                await sim.wait_for(lambda: bot.state.position.amount == sim.position(SYM) > 0)
            else:
                assert sim.position(SYM) == 0 and sim.open_orders(SYM)[0]["executedQty"] == "0"
                await sells(sim, "0.9998", "11500")  # the rest of the queue, then 500 of ours
                assert sim.position(SYM) == D("500")
                await sim.wait_for(lambda: bot.state.position.amount == D("500"))
            assert sim.peak_open_orders[SYM] <= 1
            assert bot.state.position.amount == sim.position(SYM)


# ------------------------------------------------------------------ command lines
async def test_sim_exchange_cli_applies_order_latency():
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "sim_exchange.py"),
        "--port",
        "0",
        "--order-latency-ms",
        "300",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode()
        rest_url = re.search(r"ASTER_REST_URL=(\S+)", line).group(1)
        async with aiohttp.ClientSession() as session:
            client = Client(SimpleNamespace(rest_url=rest_url), session)
            loop = asyncio.get_running_loop()
            sent = loop.time()
            status, order, _ = await client.order(price="1000.00", qty="0.010", tif="GTC")
            assert status == 200 and order["status"] == "NEW"
            assert loop.time() - sent >= 0.3
    finally:
        proc.terminate()
        await proc.wait()


def test_bot_sim_flags_parse_and_reject_negative_latency():
    config = parse_config(
        [
            "--symbol",
            "ETHUSDT",
            "--sim",
            "--fill-model",
            "optimistic",
            "--feed-latency-ms",
            "50",
            "--order-latency-ms",
            "20",
        ]
    )
    assert (config.fill_model, config.feed_latency_ms, config.order_latency_ms) == ("optimistic", 50.0, 20.0)
    assert parse_config(["--symbol", "ETHUSDT", "--sim"]).fill_model == "queue"
    for bad in (["--sim", "--order-latency-ms", "-5"], ["--fill-model", "optimistic"]):  # the latter without --sim
        with pytest.raises(SystemExit) as exit_:
            parse_config(["--symbol", "ETHUSDT", *bad])
        assert exit_.value.code == 2
