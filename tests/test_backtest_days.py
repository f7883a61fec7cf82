"""Days of data (issue 19): gzip recordings, several day folders replayed as one market, gaps, and the
fast loop (wakes only where the strategy's inputs can change) against the every-event reference loop."""

from __future__ import annotations

import gzip
import json
import shutil
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from helpers import BOOK, BOOK_HEADER, DATA_DIR, DOWN, FIXED_MODEL, NS, UP, a_market, write_market
from helpers import MARKET_T0 as T0

pytest.importorskip("hftbacktest", reason="pip install -r requirements-backtest.txt")

from aster_mm.backtest import cli, convert, engine, wakes  # noqa: E402
from aster_mm.backtest.bot import Config, QuoteParams, SymbolRules  # noqa: E402
from aster_mm.backtest.runner import Runner  # noqa: E402
from aster_mm.recording.reading import complete_bytes  # noqa: E402

RULES = SymbolRules("TESTUSDT", "TRADING", Decimal("0.01"), Decimal("0.01"), Decimal("0.01"), Decimal("5"))
PARAMS = QuoteParams(Decimal("0.001"), Decimal("0.001"), Decimal("0.2"), Decimal("15"))
ENGINE = engine.EngineConfig(tick=0.01, lot=0.01)


def runner(market, gap_s: float = 30.0, config: Config | None = None) -> Runner:
    return Runner(market, RULES, PARAMS, Decimal("0.001"), Decimal(10000), ENGINE, config, gap_s=gap_s)


def gzip_folder(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for path in src.glob("*.csv"):
        (dst / f"{path.name}.gz").write_bytes(gzip.compress(path.read_bytes()))
    return dst


# ------------------------------------------------------------------------------------------ gzip
def test_gzip_files_convert_to_the_same_events_as_plain_ones(tmp_path):
    plain = a_market(tmp_path / "plain")
    packed = gzip_folder(plain, tmp_path / "packed")
    a = convert.load(*convert.data_files(plain, "TESTUSDT"), 50_000_000, tmp_path / "cache")
    b = convert.load(*convert.data_files(packed, "TESTUSDT"), 50_000_000, tmp_path / "cache")
    assert convert.data_files(packed, "TESTUSDT")[0].name == "orderbook_TESTUSDT.csv.gz"
    assert convert.event_array(a).tobytes() == convert.event_array(b).tobytes()
    assert (a.n_snapshots, a.n_trades) == (b.n_snapshots, b.n_trades) == (300, 300)


def test_a_gzip_file_cut_short_reads_up_to_its_last_complete_row(tmp_path):
    text = b"".join(b"row %d,with,some,columns\n" % i for i in range(20_000))
    packed = gzip.compress(text)
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(packed[: len(packed) * 2 // 3])  # a crash mid-write
    got = complete_bytes(cut)
    assert got.endswith(b"\n") and text.startswith(got) and 0 < len(got) < len(text)
    lines = text.splitlines(keepends=True)
    two = tmp_path / "two.csv.gz"  # a restart appends a member; a torn write leaves zeros after it
    two.write_bytes(gzip.compress(b"".join(lines[:10])) + gzip.compress(b"".join(lines[10:30])) + b"\x00" * 7)
    assert complete_bytes(two) == b"".join(lines[:30])
    plain = tmp_path / "plain.csv"
    plain.write_bytes(b"".join(lines[:40]) + b"row 40,cut")
    assert complete_bytes(plain) == b"".join(lines[:40])


def test_a_folder_holding_both_plain_and_gzip_files_is_refused(tmp_path):
    a_market(tmp_path)
    shutil.copy(tmp_path / "trades_TESTUSDT.csv", tmp_path / "trades_TESTUSDT.csv.gz")
    with pytest.raises(ValueError, match="both"):
        convert.data_files(tmp_path, "TESTUSDT")


# ------------------------------------------------------------------------------------------ days
def split_days(whole: Path, out: Path, at_s: float) -> list[Path]:
    """The recording cut into two day folders at `at_s` after T0 by receipt time, as record.py rotates:
    a trade's row goes where its receipt falls (its exchange time 50 ms earlier)."""
    days = [out / "2025-09-29", out / "2025-09-30"]
    for day in days:
        day.mkdir(parents=True)
    for kind, stamp in (("orderbook", lambda r: float(r[0])), ("trades", lambda r: int(r[1]) / 1000 + 0.05)):
        header, *rows = (whole / f"{kind}_TESTUSDT.csv").read_text().splitlines()
        for day, keep in zip(days, (lambda t: t < T0 + at_s, lambda t: t >= T0 + at_s)):
            mine = [r for r in rows if keep(stamp(r.split(",")))]
            (day / f"{kind}_TESTUSDT.csv").write_text("\n".join([header, *mine]) + "\n")
    return days


def test_two_day_folders_replay_as_the_one_market_they_were_cut_from(tmp_path):
    whole = a_market(tmp_path / "whole")
    days = split_days(whole, tmp_path / "days", 301.03)  # a trade printed before the cut is received after it
    one = convert.load(*convert.data_files(whole, "TESTUSDT"), 50_000_000, tmp_path / "c1")
    two = convert.load_days([convert.data_files(d, "TESTUSDT") for d in reversed(days)], 50_000_000, tmp_path / "c2")
    assert two.days == tuple(str(d) for d in days)  # put back in time order
    assert convert.event_array(one).tobytes() == convert.event_array(two).tobytes()
    fills_one = [(f.ts_ns, f.side, f.price) for f in runner(one).run().fills]
    assert fills_one == [(f.ts_ns, f.side, f.price) for f in runner(two).run().fills] and len(fills_one) > 10


def test_the_cli_takes_day_folders_or_their_parent_and_caches_on_every_file(tmp_path, capsys):
    days = split_days(a_market(tmp_path / "whole"), tmp_path / "days", 301.03)
    flags = ["--symbol", "TESTUSDT", "--tick", "0.01", "--step", "0.01", "--buy-spread", "0.001", "--json", "-"]
    flags += FIXED_MODEL

    def metrics(*data: Path) -> dict:
        assert cli.main(["--data", *map(str, data), *flags]) == 0
        out = capsys.readouterr().out
        return json.loads(out[out.index("{\n") :])["metrics"]

    both, parent = metrics(*days), metrics(tmp_path / "days")
    assert both == parent and both["data_folders"] == 2 and both["fills"] > 10
    assert both["gaps"]["count"] == 0  # cut, not interrupted
    rows = (days[1] / "trades_TESTUSDT.csv").read_text().splitlines()
    (days[1] / "trades_TESTUSDT.csv").write_text("\n".join(rows[:-10]) + "\n")  # the second day changes
    assert metrics(tmp_path / "days")["trades"] == both["trades"] - 10


def test_days_that_overlap_are_refused(tmp_path):
    a, b = a_market(tmp_path / "a"), a_market(tmp_path / "b")
    with pytest.raises(ValueError, match="overlap"):
        convert.load_days([convert.data_files(d, "TESTUSDT") for d in (a, b)], 0, tmp_path / "cache")


# ------------------------------------------------------------------------------------------ gaps
def gap_market(tmp_path: Path) -> Path:
    """Mid 100.1 and the bot's BUY at 99.99; then nothing for 60 s (the recorder was down) but one sell
    printing through 99.99 at +60 s against the book from before; the book is back at +100 s, lower.
    (hftbacktest reports its last batch of events as the end of the data: +120 s is there to be last.)"""
    return write_market(tmp_path, [(0.0, BOOK), (100.0, DOWN), (120.0, BOOK)], [(60.0, "sell", "99.5", "50")])


def test_no_order_placed_before_a_gap_fills_across_it(tmp_path):
    market = convert.load(*convert.data_files(gap_market(tmp_path), "TESTUSDT"), 50_000_000, tmp_path / "c")
    kept = runner(market, gap_s=3600).run()  # no gap rule: the stale BUY takes the sell
    assert [(f.side, f.price, f.ts_ns) for f in kept.fills][:1] == [("BUY", 99.99, (T0 + 60) * NS)]
    r = runner(market).run()
    assert r.fills == [] and r.gap_cancels == 1
    assert r.gaps["count"] == 2 and r.gaps["longest_s"] == pytest.approx(60.05)  # 0 -> 60.05, then -> 100
    # pulled 30 s into the gap; quoting again at the first book row after it: BUY at floor(99.1 * 0.999)
    assert r.orders_sent == 2 and r.cancels_sent == 1
    assert (T0 + 30) * NS in r.ts and (T0 + 100) * NS in r.ts


def test_a_missing_day_between_two_folders_is_a_gap_in_the_replay(tmp_path):
    """Day 1, then day 3: its first row is a sell that would take day 1's BUY (100.39, on the book UP)."""
    (tmp_path / "d1").mkdir()
    (tmp_path / "d3").mkdir()
    first = write_market(tmp_path / "d1", [(0.0, BOOK), (1.0, UP)], [(0.5, "buy", "100.3", "1")])
    day3 = 2 * 86_400.0
    second = write_market(tmp_path / "d3", [(day3, DOWN), (day3 + 1, UP)], [(day3 - 0.5, "sell", "99.5", "50")])
    market = convert.load_days([convert.data_files(d, "TESTUSDT") for d in (first, second)], 0, tmp_path / "c")
    kept = runner(market, gap_s=10 * 86_400).run()
    assert [(f.side, f.price, f.ts_ns) for f in kept.fills] == [("BUY", 100.39, int((T0 + day3 - 0.5) * NS))]
    r = runner(market).run()
    assert r.gaps["count"] == 1 and r.gaps["longest_s"] == pytest.approx(day3 - 1.5)
    assert r.fills == [] and r.gap_cancels == 1  # day 1's BUY was pulled, not left to day 3's sell


# ------------------------------------------------------------------------------------------ fast == reference
def same_run(a, b) -> None:
    assert a.fills == b.fills
    assert (a.orders_sent, a.cancels_sent, a.expired, a.steps, a.gap_cancels) == (
        b.orders_sent,
        b.cancels_sent,
        b.expired,
        b.steps,
        b.gap_cancels,
    )
    for name in ("ts", "mid", "position", "equity", "held"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.estimates == b.estimates


@pytest.mark.skipif(not DATA_DIR.is_dir(), reason=f"recorded data not found at {DATA_DIR}")
@pytest.mark.parametrize(
    "symbol,spread_model,spread", [("BNBUSDT", "fixed", "0.0001"), ("ASTERUSDT", "adaptive", "0.0003")]
)
def test_the_fast_loop_fills_exactly_as_the_every_event_loop(tmp_path, symbol, spread_model, spread):
    book, trades = convert.data_files(DATA_DIR, symbol)
    rules = convert.symbol_rules(symbol, book, trades)
    market = convert.load(book, trades, 50_000_000, tmp_path / "cache")
    params = QuoteParams(Decimal(spread), Decimal(spread), Decimal("0.2"), Decimal("15"))
    config = Config(symbol=symbol, buy_spread=Decimal(spread), sell_spread=Decimal(spread), spread_model=spread_model)
    cfg = engine.EngineConfig(tick=float(rules.tick), lot=float(rules.step))

    def run(every_event: bool):
        return Runner(market, rules, params, Decimal("0.001"), Decimal(10000), cfg, config).run(every_event)

    fast, reference = run(False), run(True)
    same_run(fast, reference)
    assert len(fast.fills) >= 4 and fast.wakes == fast.steps < reference.wakes / 5


def test_the_fast_loop_honours_gaps_as_the_every_event_loop(tmp_path):
    write_market(
        tmp_path,
        [(0.0, BOOK), (2.0, UP), (100.0, DOWN), (101.0, BOOK), (140.0, UP), (141.0, DOWN)],
        [(1.0, "sell", "99.5", "50"), (40.0, "buy", "101", "50"), (101.5, "sell", "99.0", "50")],
    )
    market = convert.load(*convert.data_files(tmp_path, "TESTUSDT"), 50_000_000, tmp_path / "c")
    fast, reference = runner(market).run(), runner(market).run(every_event=True)
    same_run(fast, reference)
    assert fast.gap_cancels >= 1 and len(fast.fills) >= 2


def test_a_strategy_that_reads_more_is_woken_more_and_decides_the_same(tmp_path):
    """Quantities change under an unchanged top: a strategy reading two levels with their sizes is woken
    there too (its models are fed every book it reads), but asked again only when what its decision reads
    changed: the touch, the order, or its signal (here a signal that moves every 7 s); the bot's decisions,
    which read only the top, are the same."""
    thicker = ("100.0", "5", "99.9", "9", "100.2", "5", "100.3", "5")
    books = [(1.0 * i, (BOOK, thicker, UP)[i % 3]) for i in range(120)]
    trades = [(1.0 * i + 0.5, "sell" if i % 2 else "buy", "99.5" if i % 2 else "100.8", "50") for i in range(120)]
    market = convert.load(*convert.data_files(write_market(tmp_path, books, trades), "TESTUSDT"), 0, tmp_path / "c")
    top = runner(market).run()
    deep = runner(market)
    deep.reads = wakes.Reads(levels=2, quantities=True)
    deep.signal_key = lambda: deep.clock_ns // (7 * NS)  # a signal at its resolution
    r = deep.run()
    assert r.fills == top.fills and r.wakes > top.wakes and r.steps > top.steps
    top_times = wakes.book_changes(market, 0.01, 0.01, wakes.TOP_OF_BOOK)
    deep_times = wakes.book_changes(market, 0.01, 0.01, wakes.Reads(levels=2, quantities=True))
    assert set(top_times) <= set(deep_times) and len(deep_times) > len(top_times)


def test_the_depth_view_is_the_recorded_snapshot(tmp_path):
    write_market(tmp_path, [(0.0, BOOK)], [(0.5, "buy", "100.2", "1")])
    market = convert.load(*convert.data_files(tmp_path, "TESTUSDT"), 0, tmp_path / "c")
    bt = engine.Backtest(market.chunks, market.price_range, ENGINE)
    try:
        bt.advance(NS)
        assert bt.levels(3, True) == (10000, 9990, -(1 << 62), 5.0, 5.0, 0.0, 10020, 10030, 1 << 62, 5.0, 5.0, 0.0)
        assert bt.levels(1, False) == bt.top_ticks() == (10000, 10020)
    finally:
        bt.close()


def test_a_gzip_day_and_a_book_header_with_fewer_levels_join(tmp_path):
    """Days recorded with different depth still join: the thinner one is padded with empty levels."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = write_market(tmp_path / "a", [(0.0, BOOK), (1.0, UP)], [(0.5, "buy", "100.3", "1")])
    b = tmp_path / "b"
    header = ",".join(["unix_timestamp", "lastUpdateId", "bid_price_0", "bid_qty_0", "ask_price_0", "ask_qty_0"])
    (b / "orderbook_TESTUSDT.csv.gz").write_bytes(gzip.compress(f"{header}\n{T0 + 2},9,99.0,5,99.2,5\n".encode()))
    (b / "trades_TESTUSDT.csv.gz").write_bytes(gzip.compress(b"id,unix_timestamp_ms,side,price,quantity\n"))
    market = convert.load_days([convert.data_files(d, "TESTUSDT") for d in (a, b)], 0, tmp_path / "c")
    assert (market.n_snapshots, market.n_trades) == (3, 1)
    assert list(market.mid) == [100.1, 100.5, 99.1]
    assert BOOK_HEADER.count("bid_price") == 2
