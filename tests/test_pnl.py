"""The session's PnL (aster_mm/accounting/pnl.py): what changed since the start, the position marked to market, the
money part of the status line, and rebates and fees in another asset counted."""

from __future__ import annotations

from decimal import Decimal as D

from helpers import SYMBOL, BotRun, set_mid, wait_open

import market_maker
from aster_mm.accounting.ledger import FILL, INCOME, REWARD, Entry, read_entries
from aster_mm.accounting.pnl import PnL, SessionPnL, pnl_text
from aster_mm.core.position import unrealized_pnl
from aster_mm.simulator import Readings, SimExchange


# ------------------------------------------------------------------------------------ the session's figures
def test_session_figures_mark_the_position_and_count_only_what_changed_since_the_start():
    session = SessionPnL(start_ms=0)
    session.add(
        Entry(
            FILL,
            1,
            SYMBOL,
            price=D("2000"),
            qty=D("1"),
            commission=D("0.2"),
            commission_asset="USDT",
            realized_pnl=D("3"),
        )
    )
    session.unrealized_at_start = D("5")  # an adopted position was 5 up at start
    p = session.figures(D("0.5"), D("2000"), D("2030"), reported_unrealized=D("99"))
    assert (p.unrealized, p.net, p.mark_price) == (D("15"), D("12.8"), D("2030"))  # 3 - 0.2 + 15 - 5
    unmarked = session.figures(D("0.5"), D("2000"), None, reported_unrealized=D("7"))
    assert unmarked.unrealized == D("7")  # no mark yet: what the exchange says
    assert unrealized_pnl(D("0.5"), None, None, None) == 0 and unrealized_pnl(D("0"), None, None, D("9")) == 0


def test_the_money_part_of_the_status_line_is_rounded_to_the_symbol():
    p = PnL(
        D("0.8004"),
        D("2485.005"),
        D("2490"),
        D("3.996"),
        D("1"),
        D("0.2"),
        D("-0.02"),
        D("0.1"),
        D("4.875"),
        D("1988"),
        1,
    )
    assert pnl_text(p, D("0.01"), D("0.001")) == (
        "position=0.800@2485.00 upnl=4.00 realized=1.00 fees=0.20 "
        "funding=-0.02 rebates=0.10 net=4.88 volume=1988.00 net/volume=24.5bp fills=1"
    )
    flat = PnL(D("0"), D("2485"), None, D("0"), D("0"), D("0"), D("0"), D("0"), D("0"), D("0"), 0)
    assert pnl_text(flat, None, None).startswith("position=0 upnl=0.00")  # no entry price when flat
    assert pnl_text(flat, None, None).endswith("net/volume=- fills=0")


def test_the_session_counts_what_happened_from_its_first_millisecond_on():
    session = SessionPnL(start_ms=1_000)
    for at in (999, 1_000, 1_001):
        session.add(Entry(FILL, at, SYMBOL, price=D("2000"), qty=D("1")))
    assert session.totals.fills == 2


# ------------------------------------------------------------------------------ rebates, and fees in another asset
async def test_rebates_on_the_fill_and_paid_as_income_both_count_in_pnl_and_report(tmp_path, capsys):
    """The docs name MARKET_MERCHANT_RETURN_REWARD but not how or when it is paid: the simulator pays a
    negative maker rate on the fill (A30) or, with rebates="reward", later as that income type. Both land
    in the ledger once, in the session's PnL and in `report`."""
    maker, notional = D("-0.0001"), D("2485.00") * D("0.8")
    for rebates in ("commission", "reward"):
        path = tmp_path / f"ledger-{rebates}.csv"
        async with SimExchange(readings=Readings(rebates=rebates)) as sim:
            sim.scheme = "v3"
            sim.set_commission(maker, "0.00035")
            await set_mid(sim, "2500")
            run = BotRun(sim, ledger=str(path))
            async with run as bot:
                await wait_open(sim, "BUY")
                await sim.fill_order(SYMBOL)
                await wait_open(sim, "SELL")
                paid = await sim.pay_rewards()
                if rebates == "reward":
                    assert paid == [(SYMBOL, -maker * notional)]
                    # the reward reaches the ledger only through the income history: the graceful stop's
                    # final reconciliation reads it
                else:
                    assert paid == []
                    await sim.wait_for(lambda: bot.books.figures().fills == 1, 5)
            figures = bot.books.figures()
            assert bot.state.fees.maker == maker  # read at start
        entries = read_entries(path)
        rebate = -maker * notional
        if rebates == "reward":
            [reward] = [e for e in entries if e.kind == REWARD]
            assert (reward.commission, reward.source, reward.tran_id != "") == (-rebate, INCOME, True)
            assert (figures.rebates, figures.fees) == (rebate, 0)
        else:
            [fill] = [e for e in entries if e.kind == FILL]
            assert fill.commission == -rebate and not [e for e in entries if e.kind == REWARD]
            assert (figures.rebates, figures.fees) == (0, -rebate)
        assert figures.net - figures.unrealized == rebate  # nothing realized yet: the rebate is the rest
        capsys.readouterr()
        assert market_maker.main(["report", "--ledger", str(path)]) == 0
        total = capsys.readouterr().out.splitlines()[2].split()
        fees, rebates_cell, net = total[3], total[5], total[7]
        assert (fees, rebates_cell, net) == (
            ("0.00", "0.20", "0.20") if rebates == "reward" else ("-0.20", "0.00", "0.20")
        )


def test_a_commission_in_another_asset_is_estimated_at_the_accounts_rates():
    """A fee paid in BNB cannot be counted in USD; the session's PnL counts it at the account's rate (read at
    start: FeeRates) rather than as nothing."""
    from aster_mm.accounting.pnl import SessionPnL
    from aster_mm.core.state import FeeRates

    session = SessionPnL(start_ms=0)
    for maker, asset in ((True, "BNB"), (False, "BNB"), (True, "USDT")):
        session.add(Entry(FILL, 1, SYMBOL, price=D("2000"), qty=D("1"), maker=maker, commission=D("0.001"),
                          commission_asset=asset))  # fmt: skip
    figures = session.figures(D(0), None, None, rates=FeeRates(D("-0.00002"), D("0.0003")))
    assert figures.fees == D("0.001") + D("2000") * D("-0.00002") + D("2000") * D("0.0003")
    assert figures.net == -figures.fees
