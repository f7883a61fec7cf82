"""The simulator's account history (aster_mm/simulator/history.py): the income history, the trade list and the
funding event in the exchange's shapes, as the ledger reads them."""

from __future__ import annotations

from decimal import Decimal as D

from helpers import SYMBOL

from aster_mm.accounting.ledger import FUNDING, STREAM, funding_entries
from aster_mm.core.events import parse_account_update
from aster_mm.exchange.client import AsterClient


async def test_simulator_income_history_and_trade_list_have_the_exchanges_shape(sim):
    client = AsterClient(sim.api_key, sim.api_secret, sim.rest_url, timeout=2.0)
    try:
        await sim.place_order_direct(SYMBOL, "BUY", "2499", "1", client_order_id="a")
        await sim.fill_order(SYMBOL)  # opens: commission only
        start = sim.now_ms()
        assert await sim.pay_funding(SYMBOL, "0.001") == D("-2.5")  # 1 * mark 2500 * 0.001
        await sim.place_order_direct(SYMBOL, "SELL", "2509", "1", client_order_id="b")
        await sim.fill_order(SYMBOL)  # closes: realized 10, commission
        rows = sim.income()
        assert [r["incomeType"] for r in rows] == ["COMMISSION", "FUNDING_FEE", "REALIZED_PNL", "COMMISSION"]
        assert set(rows[0]) == {"symbol", "incomeType", "income", "asset", "info", "time", "tranId", "tradeId"}
        assert rows[0]["income"] == str(-D("2499") * D("0.0001")) and rows[0]["tradeId"] != ""
        assert rows[1]["tradeId"] == "" and rows[1]["income"] == "-2.5" and rows[2]["income"] == "10"
        assert len({r["tranId"] for r in rows}) == 4
        assert sim.summary(SYMBOL)["funding"] == D("-2.5")
        assert sim.balances()["USDT"] == D("10000") + D("10") - D("2.5") - (D("2499") + D("2509")) * D("0.0001")

        now = sim.now_ms()
        assert await client.income(SYMBOL, "COMMISSION", 0, now) == [rows[0], rows[3]]
        assert await client.income(SYMBOL, "FUNDING_FEE", start, now) == [rows[1]]
        assert await client.income(SYMBOL, "COMMISSION", 0, now, limit=1) == [rows[0]]
        assert await client.income(SYMBOL, "REALIZED_PNL", 0, start - 1) == []
        assert await client.income("BNBUSDT", "COMMISSION", 0, now) == []
        trades = await client.user_trades(SYMBOL, now - 3600_000, now)
        assert [(t["side"], t["price"], t["qty"], t["realizedPnl"]) for t in trades] == [
            ("BUY", "2499", "1", "0"),
            ("SELL", "2509", "1", "10"),
        ]
        assert {str(t["id"]) for t in trades} == {rows[0]["tradeId"], rows[3]["tradeId"]}
    finally:
        await client.close()


async def test_funding_event_has_the_exchanges_shape(sim):
    sim.set_position(SYMBOL, "-2", "2500")
    events = []
    sim._engine.on_user = lambda payload: _collect(events, payload)
    assert await sim.pay_funding(SYMBOL, "0.0001") == D("0.5")  # a short receives a positive rate
    [event] = events
    assert event["e"] == "ACCOUNT_UPDATE" and event["a"]["m"] == "FUNDING_FEE"
    assert event["a"]["B"] == [{"a": "USDT", "wb": "10000.5", "cw": "10000.5", "bc": "0.5"}]
    assert "P" not in event["a"]  # crossed: balance only
    [entry] = funding_entries(parse_account_update(event, SYMBOL), SYMBOL)
    assert (entry.kind, entry.symbol, entry.source, entry.funding, entry.asset) == (
        FUNDING,
        SYMBOL,
        STREAM,
        D("0.5"),
        "USDT",
    )
    sim.set_position("BNBUSDT", "0", "0")
    assert await sim.pay_funding("BNBUSDT", "0.0001") == 0 and len(events) == 1


async def _collect(events: list, payload: dict) -> None:
    events.append(payload)
