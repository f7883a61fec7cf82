"""The adaptive spread model wired into the real bot: fed by the market connection (depth + aggTrade),
fixed spreads until warm, then GLFT distances, never inside the floor, estimates in the status line."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from helpers import SYMBOL, BotRun, assert_invariants, open_orders

from aster_mm.core.spreads import AdaptiveConfig, AdaptiveSpreads
from aster_mm.simulator import SyntheticMarket

FAST_WARM = dict(
    warmup_seconds=1.0, min_trades=20, refit_every=0.2, vol_window=20.0, vol_step=0.1, intensity_window=20.0
)


def mid_of(sim) -> D:
    bids, asks = sim.book(SYMBOL)
    return (bids[0][0] + asks[0][0]) / 2


async def test_adaptive_spreads_take_over_from_the_fixed_ones_once_warm(sim):
    run = BotRun(
        sim,
        spread_model="adaptive",
        buy_spread=D("0.006"),
        sell_spread=D("0.006"),
        min_spread=D("0.0002"),
        reprice_threshold=D("0.0001"),
    )
    bot = run.bot
    model = AdaptiveSpreads(AdaptiveConfig(0.1, D("0.0002"), D("0.006"), D("0.006"), **FAST_WARM))
    bot.strategy.spreads = bot.feeds.spreads = model
    market = SyntheticMarket(
        symbol=SYMBOL, start_price=D("2500"), seed=7, speed=10, sweep_prob=0.0, trades_per_step=3.0
    )
    async with run:
        first = (await sim.wait_for(lambda: open_orders(sim), 5))[0]
        assert D(first["price"]) == D("2485")  # fixed 0.6 % until warm
        feeder = asyncio.create_task(market.run(sim))
        try:
            await sim.wait_for(lambda: bot.strategy.estimates.get("warm"), 15)
            await sim.wait_for(
                lambda: open_orders(sim) and D(open_orders(sim)[0]["price"]) > mid_of(sim) * D("0.995"), 10
            )
        finally:
            feeder.cancel()
        # On V1 a requote is cancel-then-place: let the last one finish before reading the one order.
        await sim.wait_for(
            lambda: len(open_orders(sim)) == 1 and bot.state.live is not None and bot.state.live.state.value == "NEW", 5
        )
        [order] = open_orders(sim)
        distance = (mid_of(sim) - D(order["price"])) / mid_of(sim)
        assert distance >= D("0.0002") - D("0.0001")  # the floor (the book moved a little since)
        assert "spreads=adaptive" in bot.describe() and "sigma=" in bot.describe()
        assert_invariants(sim, bot)


def test_a_long_position_pulls_the_close_towards_mid():
    import numpy as np

    from aster_mm.core.config import Config
    from aster_mm.core.state import Book
    from aster_mm.live.bot import MarketMaker

    bot = MarketMaker(
        Config(symbol=SYMBOL, spread_model="adaptive", min_spread=D("0.00001")),
        client=None,
        ws_url="ws://x",
        now=lambda: 100.0,
    )
    model = AdaptiveSpreads(AdaptiveConfig(1.0, D("0.00001"), D("0.006"), D("0.006"), **FAST_WARM))
    bot.strategy.spreads = model
    rng = np.random.default_rng(3)
    mid = 2500.0
    for i in range(2000):  # 20 s of a random walk with trades around mid
        t = 80.0 + i * 0.01
        mid *= float(np.exp(rng.normal(0, 0.0002)))
        model.on_mid(t, mid)
        model.on_trade(t, mid * (1 + rng.choice([-1, 1]) * rng.exponential(0.0004)), mid)
    bot.state.book = Book(D("2499.99"), D("2500.01"), 100.0)
    flat = bot.strategy.quote_params(D("10000"))
    bot.state.position.apply_snapshot(D("0.8"), 1)  # one lot long
    long = bot.strategy.quote_params(D("10000"))
    assert bot.strategy.estimates["warm"]
    assert long.sell_spread < flat.sell_spread  # the close comes towards mid
    assert long.buy_spread > flat.buy_spread  # and adding is pushed away


async def test_a_quiet_market_decays_the_adaptive_quote_towards_the_fixed_one_and_says_so(sim):
    run = BotRun(
        sim,
        spread_model="adaptive",
        buy_spread=D("0.006"),
        sell_spread=D("0.006"),
        min_spread=D("0.0002"),
        reprice_threshold=D("0.0002"),
    )
    bot = run.bot
    quiet_soon = FAST_WARM | dict(intensity_window=1.0, half_life=1.5)  # trades leave the window within 1 s
    model = AdaptiveSpreads(AdaptiveConfig(0.1, D("0.0002"), D("0.006"), D("0.006"), **quiet_soon))
    bot.strategy.spreads = bot.feeds.spreads = model
    market = SyntheticMarket(
        symbol=SYMBOL, start_price=D("2500"), seed=7, speed=10, sweep_prob=0.0, trades_per_step=3.0
    )
    async with run:
        feeder = asyncio.create_task(market.run(sim))
        try:
            await sim.wait_for(
                lambda: open_orders(sim) and D(open_orders(sim)[0]["price"]) > mid_of(sim) * D("0.995"), 15
            )
        finally:
            feeder.cancel()
        # the market goes quiet: its book stays, no more trades
        await sim.wait_for(lambda: bot.strategy.estimates.get("quiet"), 5)
        sent_before = len(sim.order_requests())
        adaptive_price = bot.state.live.quote.price
        fixed_price = (mid_of(sim) * D("0.994")).quantize(D("0.01"), "ROUND_FLOOR")
        assert "quiet: last fit" in bot.describe()
        await sim.wait_for(lambda: bot.strategy.estimates.get("weight", 1) < 0.05, 15)
        await sim.wait_for(lambda: bot.state.live is not None and bot.state.live.state.value == "NEW", 5)
        prices = [
            D(r["params"]["price"])
            for r in sim.order_requests()[sent_before:]
            if r["method"] in ("POST", "PUT") and "price" in r["params"]
        ]
        # down from the last fit's quote towards the fixed one in steps, never past it: no jump back
        assert prices == sorted(prices, reverse=True) and fixed_price <= prices[-1] < adaptive_price
        assert len([p for p in prices if fixed_price < p < adaptive_price]) >= 2
        assert_invariants(sim, bot)
