"""backtest.py and aster_mm/backtest/: data conversion, the decision loop on hftbacktest, the report, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from helpers import BOOK, BOOK_HEADER, DATA_DIR, NS, ROOT, card, load, write_market
from helpers import MARKET_T0 as T0

pytest.importorskip("hftbacktest", reason="pip install -r requirements-backtest.txt")

from hftbacktest.types import (
    BUY_EVENT,
    DEPTH_EVENT,
    EXCH_EVENT,
    LOCAL_EVENT,
    SELL_EVENT,  # noqa: E402
    TRADE_EVENT,
)

from aster_mm.backtest import convert, engine, report, stream  # noqa: E402
from aster_mm.backtest.bot import QuoteParams, SymbolRules  # noqa: E402
from aster_mm.backtest.runner import Fill, Runner  # noqa: E402


def run(market, tick: str, spread: str, queue_model: str = "risk-averse", latency_file: Path | None = None):
    rules = SymbolRules("TESTUSDT", "TRADING", Decimal(tick), Decimal("0.01"), Decimal("0.01"), Decimal("5"))
    params = QuoteParams(Decimal(spread), Decimal(spread), Decimal("0.2"), Decimal("15"))
    cfg = engine.EngineConfig(
        tick=float(tick), lot=0.01, queue_model=queue_model, order_latency_ns=30_000_000, latency_file=latency_file
    )
    # these hand-made markets hold still for up to 40 s between rows: not gaps here (test_backtest_days.py)
    return Runner(market, rules, params, Decimal("0.001"), Decimal(10000), cfg, gap_s=3600).run()


# ---------------------------------------------------------------------------------------- conversion
def side_events(events: np.ndarray, flag: int, ts: str) -> list[tuple]:
    """The events one side of hftbacktest reads (exchange or local): (ms after T0, kind, price, qty)."""
    rows = events[(events["ev"] & flag) != 0]
    assert np.all(np.diff(rows[ts]) >= 0), f"{ts} out of order"
    return [
        (
            round((int(r[ts]) - T0 * NS) / 1e6),
            int(r["ev"]) & ~(EXCH_EVENT | LOCAL_EVENT),
            float(r["px"]),
            float(r["qty"]),
        )
        for r in rows
    ]


BID, ASK = DEPTH_EVENT | BUY_EVENT, DEPTH_EVENT | SELL_EVENT


def test_snapshots_become_depth_updates_and_trades_keep_the_aggressor(tmp_path):
    write_market(
        tmp_path,
        [
            (0.0, BOOK),
            (1.0, ("100.0", "7", "99.8", "2", "100.2", "5", "100.3", "5")),  # 100.0 changed, 99.9 gone, 99.8 new
        ],
        [(0.5, "buy", "100.2", "1.5"), (0.5, "sell", "100.0", "0.25")],
    )
    m = load(tmp_path, feed_ms=50)
    # a book row's stamp is its receipt: the exchange sent it 50 ms before; a trade's is the exchange's
    exch = side_events(convert.event_array(m), EXCH_EVENT, "exch_ts")
    assert sorted(exch[:4]) == sorted(
        [(-50, BID, 100.0, 5), (-50, BID, 99.9, 5), (-50, ASK, 100.2, 5), (-50, ASK, 100.3, 5)]
    )
    # the second snapshot only sends what changed: 100.0 -> 7, 99.8 new, 99.9 removed (qty 0)
    assert sorted(exch[6:]) == sorted([(950, BID, 100.0, 7), (950, BID, 99.8, 2), (950, BID, 99.9, 0)])
    assert exch[4:6] == [(500, TRADE_EVENT | BUY_EVENT, 100.2, 1.5), (500, TRADE_EVENT | SELL_EVENT, 100.0, 0.25)]
    local = side_events(convert.event_array(m), LOCAL_EVENT, "local_ts")
    assert [e[0] for e in local] == [0] * 4 + [550] * 2 + [1000] * 3
    assert list(m.mid) == [100.1, 100.1] and m.n_snapshots == 2 and m.n_trades == 2
    assert "50 ms assumed" in m.feed_note


def test_rows_with_both_timestamps_use_them(tmp_path):
    header = BOOK_HEADER + ",event_time_ms,transaction_time_ms,gap"
    book = [f"{T0 + 1.030},1,{','.join(BOOK)},{(T0 + 1) * 1000 + 5},{(T0 + 1) * 1000},0"]
    (tmp_path / "orderbook_TESTUSDT.csv").write_text("\n".join([header, *book]) + "\n")
    (tmp_path / "trades_TESTUSDT.csv").write_text(
        "id,unix_timestamp_ms,side,price,quantity,event_time_ms,local_timestamp,gap\n"
        f"7,{(T0 + 2) * 1000},sell,100.0,1.0,{(T0 + 2) * 1000 + 3},{T0 + 2.020},0\n"
    )
    m = load(tmp_path, feed_ms=50)
    assert [e[0] for e in side_events(convert.event_array(m), EXCH_EVENT, "exch_ts")] == [1000] * 4 + [2000]
    assert [e[0] for e in side_events(convert.event_array(m), LOCAL_EVENT, "local_ts")] == [1030] * 4 + [2020]
    assert "on 2 of 2 rows (median 30.0 ms)" in m.feed_note


def test_rules_are_known_for_recorded_symbols_and_inferred_otherwise(tmp_path):
    write_market(
        tmp_path,
        [(0.0, ("100.000000", "5.500000", "99.900000", "5", "100.2", "5", "100.3", "5"))],
        [(0.5, "buy", "100.2", "1.25")],
    )
    rules = convert.symbol_rules("TESTUSDT", *convert.data_files(tmp_path, "TESTUSDT"))
    assert (rules.tick, rules.step) == (Decimal("0.1"), Decimal("0.01"))
    assert convert.symbol_rules("BNBUSDT", Path("x"), Path("y")).tick == Decimal("0.01")
    assert convert.symbol_rules(
        "TESTUSDT", *convert.data_files(tmp_path, "TESTUSDT"), tick=Decimal("0.05")
    ).tick == Decimal("0.05")


# ---------------------------------------------------------------------------------------- runner
def round_trip_market(tmp_path):
    """Mid 100.1. A sell trade prints through the bot's BUY at 99.99, then a buy trade through its SELL at
    100.21; at +30 s the mid moves to 100.5 and stays there until +70 s."""
    up = ("100.4", "5", "100.3", "5", "100.6", "5", "100.7", "5")
    up_later = ("100.4", "5", "100.3", "5", "100.6", "5", "100.7", "6")
    return load(
        write_market(
            tmp_path,
            [(0.0, BOOK), (30.0, up), (70.0, up_later)],
            [(1.0, "sell", "99.9", "0.5"), (2.0, "buy", "100.3", "0.5")],
        )
    )


def test_a_quote_that_trades_print_through_fills_and_the_bot_turns_to_sell(tmp_path):
    r = run(round_trip_market(tmp_path), tick="0.01", spread="0.001")
    # desired_quote: BUY at floor(100.1 * 0.999) = 99.99, qty floor(10000 * 0.2 / 100.1) = 19.98; then a
    # reduce-only SELL of the position at ceil(100.1 * 1.001) = 100.21
    assert [(f.side, f.price, f.qty, f.maker) for f in r.fills] == [
        ("BUY", 99.99, 19.98, True),
        ("SELL", 100.21, 19.98, True),
    ]
    assert [f.ts_ns for f in r.fills] == [(T0 + 1) * NS, (T0 + 2) * NS]
    assert r.position[-1] == 0
    assert r.orders_sent == 4 and r.cancels_sent == 1  # flat again: BUY at 99.99, requoted when mid moved


def test_measured_order_latencies_from_a_file_delay_the_quote(tmp_path):
    """With 1.5 s to reach the exchange, the BUY arrives after the sell that would have filled it."""
    market = round_trip_market(tmp_path)
    latency = tmp_path / "latency.csv"
    rows = [
        ((T0 - 10 + i) * NS, (T0 - 10 + i) * NS + 1_500_000_000, (T0 - 10 + i) * NS + 1_600_000_000) for i in range(100)
    ]
    latency.write_text("req_ts,exch_ts,resp_ts\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows))
    assert run(market, tick="0.01", spread="0.001", latency_file=latency).fills == []


def test_report_arithmetic_on_the_round_trip(tmp_path):
    market = round_trip_market(tmp_path)
    m = report.summarize(run(market, tick="0.01", spread="0.001"), market)
    value = 19.98 * 99.99 + 19.98 * 100.21  # 3999.996
    fees = value * 0.0001
    pnl = 19.98 * (100.21 - 99.99) - fees  # 4.3956 - 0.3999996
    assert m["fills"] == 2 and (m["maker_fills"], m["taker_fills"]) == (2, 0)
    assert m["volume_base"] == pytest.approx(39.96)
    assert m["volume_usd"] == pytest.approx(value)
    assert m["fees_usd"] == pytest.approx(fees)
    assert m["net_pnl_usd"] == pytest.approx(pnl)
    assert m["pnl_per_volume_bp"] == pytest.approx(pnl / value * 1e4)
    assert m["max_position_notional_usd"] == pytest.approx(19.98 * 100.1)
    assert m["fills_per_hour"] == pytest.approx(2 / (70 / 3600))
    assert 0 < m["time_in_position"] < 0.05  # long from ~1 s to ~2 s of 70 s
    assert m["span_s"] == 70
    # the buy at +1 s sees the mid rise 100.1 -> 100.5 by +61 s; the sell at +2 s sees it against it
    assert m["markouts"]["60s"]["n"] == 2
    assert m["markouts"]["60s"]["mean_bp"] == pytest.approx(0.0)
    assert m["markouts"]["1s"]["mean_bp"] == pytest.approx(0.0)


def queue_market(tmp_path, bid_qty: str):
    """The bot's BUY lands on the best bid 100.0 (tick 0.1) behind `bid_qty`; 4 sells of 0.5 print at 100.0."""
    book = ("100.0", bid_qty, "99.9", "5", "100.2", "5", "100.3", "5")
    trades = [(1.0 + i, "sell", "100.0", "0.5") for i in range(4)]
    return load(write_market(tmp_path, [(0.0, book), (10.0, book)], trades))


def test_risk_averse_queue_keeps_a_quote_behind_a_thick_queue_unfilled(tmp_path):
    assert run(queue_market(tmp_path, "1000"), tick="0.1", spread="0.0005").fills == []


def test_risk_averse_queue_fills_once_the_trades_eat_the_queue_ahead(tmp_path):
    fills = run(queue_market(tmp_path, "1.2"), tick="0.1", spread="0.0005").fills
    # 1.2 ahead: the third 0.5 sell (at +3 s) reaches the bot's order
    assert [(f.side, f.price, f.ts_ns) for f in fills] == [("BUY", 100.0, (T0 + 3) * NS)]


def test_power2_queue_advances_on_cancellations_where_risk_averse_does_not(tmp_path):
    """The bot joins 100.0 behind 10; 10 more join behind it, then 10 cancel; a 6 sell prints at 100.0.
    Risk-averse puts every cancel behind the bot (10 still ahead); power2 splits them (5 ahead)."""

    def book(qty):
        return ("100.0", qty, "99.9", "5", "100.2", "5", "100.3", "5")

    market = load(
        write_market(
            tmp_path,
            [(0.0, book("10")), (0.5, book("20")), (1.0, book("10")), (5.0, book("9"))],
            [(2.0, "sell", "100.0", "6")],
        )
    )
    assert run(market, tick="0.1", spread="0.0005", queue_model="risk-averse").fills == []
    assert [f.price for f in run(market, tick="0.1", spread="0.0005", queue_model="power2").fills] == [100.0]


# ---------------------------------------------------------------------------------------- report
def test_markouts_are_negative_when_the_mid_moves_against_the_fill():
    mid_ts = np.array([0, 1, 10, 60, 120], dtype=np.int64) * NS
    mid = np.array([100.0, 101.0, 101.0, 101.0, 101.0])
    bought = report.markouts([Fill(0, "BUY", 100.0, 1.0, True)], mid_ts, mid)
    sold = report.markouts([Fill(0, "SELL", 100.0, 1.0, True)], mid_ts, mid)
    assert bought["1s"]["mean_bp"] == pytest.approx(100.0)  # mid up 1 % after a buy: favourable
    assert sold["1s"]["mean_bp"] == pytest.approx(-100.0)  # after a sell: adverse
    late = report.markouts([Fill(100 * NS, "BUY", 100.0, 1.0, True)], mid_ts, mid)
    assert late["60s"] == {"mean_bp": None, "n": 0}  # past the end of the data: left out


def test_max_drawdown_counts_from_the_start():
    assert report.max_drawdown(np.array([1.0, -2.0, 0.5, -1.0])) == pytest.approx(3.0)
    assert report.max_drawdown(np.array([-0.5])) == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------- CLI
def backtest(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "backtest.py"), *card(args)], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_cli_sweep_prints_one_row_per_setting_best_first(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    round_trip_market(data)
    out = tmp_path / "sweep.json"
    proc = backtest(
        "--data",
        str(data),
        "--symbol",
        "TESTUSDT",
        "--tick",
        "0.01",
        "--step",
        "0.01",
        "--sweep",
        "buy_spread+sell_spread=0.002,0.001",
        "--json",
        str(out),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    rows = proc.stdout.splitlines()
    assert rows[0].startswith("setting")
    assert rows[1].startswith("buy_spread+sell_spread=0.001 ")  # the round trip (+9.99 bp) ranks first
    assert rows[2].startswith("buy_spread+sell_spread=0.002 ")  # no fills: last
    runs = json.loads(out.read_text())["runs"]
    assert [r["sweep"] for r in runs] == [{"buy_spread+sell_spread": "0.001"}, {"buy_spread+sell_spread": "0.002"}]
    assert runs[0]["settings"]["sell_spread"] == "0.001"


@pytest.mark.skipif(not DATA_DIR.is_dir(), reason=f"recorded data not found at {DATA_DIR}")
def test_cli_on_recorded_bnbusdt_prints_the_report(tmp_path):
    out, png = tmp_path / "bnb.json", tmp_path / "bnb.png"
    proc = backtest(
        "--data",
        str(DATA_DIR),
        "--symbol",
        "BNBUSDT",
        "--buy-spread",
        "0.0002",
        "--sell-spread",
        "0.0002",
        "--json",
        str(out),
        "--plot",
        str(png),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    for label in ("net PnL after fees", "PnL per volume", "max drawdown", "markout 60s", "feed latency 50 ms"):
        assert label in proc.stdout
    result = json.loads(out.read_text())
    m = result["metrics"]
    assert m["book_snapshots"] == 1315 and m["fills"] > 0 and m["orders_sent"] >= m["fills"]
    assert result["settings"]["maker_fee"] == 0.0001 and result["settings"]["taker_fee"] == 0.00035
    assert png.stat().st_size > 10_000


def test_a_synthetic_slice_written_by_the_simulator_replays_and_backtests(tmp_path):
    """sim_exchange.py --write-synthetic writes the recorded format; the replay and the backtester read it
    whole (a full day is the same command with --hours 24: see docs/backtesting.md for its time)."""
    from aster_mm.simulator import ReplayMarket

    data = tmp_path / "synthetic"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "sim_exchange.py"),
            "--write-synthetic",
            str(data),
            "--hours",
            "0.05",
            "--symbol",
            "ETHUSDT",
            "--seed",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    for kind in ("orderbook", "trades", "prices"):
        reference = (DATA_DIR / f"{kind}_BNBUSDT.csv").read_text().splitlines()[0] if DATA_DIR.is_dir() else None
        written = (data / f"{kind}_ETHUSDT.csv").read_text().splitlines()
        assert reference is None or written[0] == reference
    n_trades = len((data / "trades_ETHUSDT.csv").read_text().splitlines()) - 1
    assert len(ReplayMarket(data, "ETHUSDT", levels=10).events()) == 1800 + n_trades  # 3 minutes of 0.1 s steps

    out = tmp_path / "synthetic.json"
    proc = backtest(
        "--data",
        str(data),
        "--symbol",
        "ETHUSDT",
        "--buy-spread",
        "0.001",
        "--sell-spread",
        "0.001",
        "--json",
        str(out),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    m = json.loads(out.read_text())["metrics"]
    assert (m["book_snapshots"], m["trades"]) == (1800, n_trades)
    assert m["span_s"] == pytest.approx(180, abs=1) and m["fills"] > 0


# ---------------------------------------------------------------------------------------- chunks and cache
def synthetic_slice(tmp_path: Path, minutes: float = 1.0) -> Path:
    data = tmp_path / "synthetic"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "sim_exchange.py"),
            "--write-synthetic",
            str(data),
            "--hours",
            str(minutes / 60),
            "--symbol",
            "ETHUSDT",
            "--seed",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return data


def synthetic_report(data: Path, cache_root: Path) -> dict:
    market = convert.load(*convert.data_files(data, "ETHUSDT"), 50_000_000, cache_root)
    rules = SymbolRules("ETHUSDT", "TRADING", Decimal("0.01"), Decimal("0.001"), Decimal("0.001"), Decimal("5"))
    params = QuoteParams(Decimal("0.0002"), Decimal("0.0002"), Decimal("0.2"), Decimal("15"))
    cfg = engine.EngineConfig(tick=0.01, lot=0.001)
    return report.summarize(Runner(market, rules, params, Decimal("0.0005"), Decimal(10000), cfg).run(), market)


def test_a_synthetic_slice_reports_the_same_converted_whole_in_chunks_and_from_the_cache(tmp_path, monkeypatch):
    data = synthetic_slice(tmp_path)
    whole = synthetic_report(data, tmp_path / "whole")
    assert len(list((tmp_path / "whole").glob("*/events-*.npz"))) == 1
    assert synthetic_report(data, tmp_path / "whole") == whole  # read back from the cache
    monkeypatch.setattr(stream, "BLOCK_ROWS", 37)
    monkeypatch.setattr(convert, "CHUNK_EVENTS", 5_000)
    chunked = synthetic_report(data, tmp_path / "chunked")
    assert len(list((tmp_path / "chunked").glob("*/events-*.npz"))) > 3
    assert chunked == whole and whole["fills"] > 10


def test_the_cache_is_rebuilt_when_a_csv_changes(tmp_path):
    write_market(tmp_path, [(0.0, BOOK)], [(0.5, "buy", "100.2", "1.5")])
    assert load(tmp_path).n_trades == 1
    write_market(tmp_path, [(0.0, BOOK)], [(0.5, "buy", "100.2", "1.5"), (0.6, "sell", "100.0", "1")])
    assert load(tmp_path).n_trades == 2
    caches = [p for p in (tmp_path / "cache" / "aster-mm" / "backtest").glob("*/*") if p.is_dir()]  # not its lock
    assert len(caches) == 1  # rebuilt in place


def test_windowed_event_order_is_hftbacktests_own_with_two_jittered_timestamps(tmp_path, monkeypatch):
    """Receipts 5-80 ms after the exchange's time, so the local order differs from the exchange order and
    rows straddle the windows: the streamed merge must still equal correct_event_order on the whole."""
    import polars as pl
    from hftbacktest.data.validation import correct_event_order

    data = synthetic_slice(tmp_path, minutes=0.5)
    rng = np.random.default_rng(1)
    book = pl.read_csv(data / "orderbook_ETHUSDT.csv", infer_schema=False)
    received = book["unix_timestamp"].cast(pl.Float64).to_numpy()
    exch_ms = np.round(received * 1000).astype(np.int64) - rng.integers(5, 80, len(book))
    book.with_columns(pl.Series("transaction_time_ms", exch_ms)).write_csv(data / "orderbook_ETHUSDT.csv")
    trades = pl.read_csv(data / "trades_ETHUSDT.csv", infer_schema=False)
    exch_ms = trades["unix_timestamp_ms"].cast(pl.Int64).to_numpy()
    local = (exch_ms + rng.integers(5, 80, len(trades))) / 1000
    trades.with_columns(pl.Series("local_timestamp", [f"{x:.3f}" for x in local])).write_csv(
        data / "trades_ETHUSDT.csv"
    )

    files = convert.data_files(data, "ETHUSDT")
    raw = np.concatenate(
        [
            r
            for r, _ in stream.raw_windows(
                stream.read_book(files[0], 0), stream.read_trades(files[1], 0), lambda *_: None
            )
        ]
    )
    expected = correct_event_order(raw, np.arange(len(raw)), np.argsort(raw["local_ts"], kind="stable"))
    monkeypatch.setattr(stream, "BLOCK_ROWS", 23)
    monkeypatch.setattr(convert, "CHUNK_EVENTS", 3_000)
    market = convert.load(*files, 0, tmp_path / "cache")
    assert len(market.chunks) > 2
    got = convert.event_array(market)
    assert (got["ev"] & EXCH_EVENT != 0).sum() == len(raw) and (got["ev"] & LOCAL_EVENT != 0).sum() == len(raw)
    assert len(got) > len(raw)  # the two orders really differ
    assert got.tobytes() == expected.tobytes()
    n_rows = market.n_snapshots + market.n_trades
    assert f"two timestamps on {n_rows} of {n_rows} rows" in market.feed_note


def test_depth_events_block_by_block_rebuild_every_snapshot(tmp_path):
    data = synthetic_slice(tmp_path, minutes=0.5)
    book = stream.read_book(data / "orderbook_ETHUSDT.csv", 0)
    n = len(book["local"])
    blocks = [stream.book_block(book, a, min(a + 70, n)) for a in range(0, n, 70)]
    events, rows = np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks])
    levels = {"bid": {}, "ask": {}}
    for r in range(n):
        for e in events[rows == r]:
            side = levels["bid" if e["ev"] & BUY_EVENT else "ask"]
            side[float(e["px"])] = float(e["qty"])
            if e["qty"] == 0:
                del side[float(e["px"])]
        for name, side in levels.items():
            assert side == dict(zip(book[f"{name}_px"][r], book[f"{name}_qty"][r])), (r, name)
    assert 0 < len(events) <= 40 * n  # at most every level changed and every old one left


def test_the_plot_spans_the_whole_data_and_draws_our_resting_quotes(tmp_path):
    """Issue 22: the plot's time axis stopped before the data (it ran from the first step, the first book with
    both sides, not from the first event) and it did not show where the bot's quotes rested."""
    market = load(
        write_market(
            tmp_path,
            [(10.0, BOOK), (40.0, ("100.0", "5", "99.9", "5", "100.2", "6", "100.3", "5"))],
            [(0.0, "buy", "100.2", "0.1"), (11.0, "sell", "99.9", "0.5"), (12.0, "buy", "100.3", "0.5")],
        )
    )
    r = run(market, tick="0.01", spread="0.001")
    assert [f.side for f in r.fills] == ["BUY", "SELL"]
    assert 99.99 in r.resting[:, 0] and 100.21 in r.resting[:, 1]  # the BUY, then the SELL, while they rested
    fig = report.figure(r, market, "test")
    equity, _, prices = fig.axes
    # the data's first event (the trade at 0 s) to its last (the book row received at 40 s, sent 50 ms before)
    assert prices.get_xlim() == pytest.approx((0.0, 39.95))
    assert equity.get_lines()[0].get_xdata()[0] == pytest.approx(10.0)  # the first step: the first book row
    labels = [line.get_label() for line in prices.get_lines()]
    assert {"mid", "our BUY quote", "our SELL quote"} <= set(labels)
