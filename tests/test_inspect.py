"""`backtest.py inspect`: a clean synthetic recording is clean, and each defect put into it is found and
counted (aster_mm/recording/inspect.py)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("polars", reason="pip install -r requirements-backtest.txt")

from aster_mm.backtest import cli  # noqa: E402
from aster_mm.recording import inspect  # noqa: E402

T0 = 1_767_657_600.0  # 2026-01-06 00:00:00 UTC
HEADER = ",".join(
    ["unix_timestamp", "lastUpdateId"]
    + [f"{s}_{w}_{i}" for s in ("bid", "ask") for i in (0, 1) for w in ("price", "qty")]
)
TRADES_HEADER = "id,unix_timestamp_ms,side,price,quantity"
CLEAN = ["100.0", "0.5", "99.9", "1.25", "100.2", "0.75", "100.3", "2"]


def clean() -> tuple[list[list[str]], list[list[str]]]:
    """100 book rows a second apart (bid 100.0, ask 100.2, on a 0.1 grid); 200 trades half a second apart
    printing inside the spread on a 0.01 grid (100.05 .. 100.15)."""
    books = [[f"{T0 + i:.3f}", str(i), *CLEAN] for i in range(100)]
    trades = [
        [
            str(i),
            str(int((T0 + 0.25 + i / 2) * 1000)),
            "buy" if i % 2 else "sell",
            f"{100.05 + (i % 3) * 0.05:.2f}",
            "0.01",
        ]
        for i in range(200)
    ]
    return books, trades


def write(folder: Path, books: list[list[str]], trades: list[list[str]], symbol: str = "TESTUSDT", gz: bool = False):
    folder.mkdir(parents=True, exist_ok=True)
    for name, header, rows in (("orderbook", HEADER, books), ("trades", TRADES_HEADER, trades)):
        text = "\n".join([header, *(",".join(r) for r in rows)]) + "\n"
        path = folder / f"{name}_{symbol}.csv"
        if gz:
            path.with_name(path.name + ".gz").write_bytes(gzip.compress(text.encode()))
        else:
            path.write_text(text)
    return folder


def report(tmp_path: Path, books, trades) -> dict:
    return inspect.inspect_day(write(tmp_path, books, trades), "TESTUSDT", 30.0)


def test_a_clean_recording_reports_its_rates_grids_and_spread_and_nothing_wrong(tmp_path):
    r = report(tmp_path, *clean())
    assert (r["book_rows"], r["trades"]) == (100, 200)
    assert r["book_span_s"] == pytest.approx(99) and r["trade_span_s"] == pytest.approx(99.5)
    assert r["grids"] == {"book prices": 0.1, "trade prices": 0.05, "quantities": 0.01}
    assert r["tick"] == 0.05
    assert r["spread"]["ticks"] == pytest.approx([4, 4, 4, 4]) and r["spread"]["bp"][1] == pytest.approx(
        19.98, abs=0.01
    )
    assert r["vs_book"]["inside"] == 200 and r["vs_book"]["outside"] == 0
    lines = inspect.format_day("day", "TESTUSDT", r, 30.0)
    assert lines[-1] == "verdict     nothing looks wrong"
    assert "book        100 rows, 1.01/s" in "\n".join(lines) and "trades      200, 120.6/min" in "\n".join(lines)


def put(rows: list[list[str]], i: int, **cells: str) -> None:
    columns = HEADER.split(",")
    for name, value in cells.items():
        rows[i][columns.index(name)] = value


def crossed(b, t):
    put(b, 10, bid_price_0="100.3")


def locked(b, t):
    put(b, 20, bid_price_0="100.2")


def out_of_order(b, t):
    put(b, 30, ask_price_1="100.1")


def one_sided(b, t):
    put(b, 40, ask_price_0="", ask_qty_0="", ask_price_1="", ask_qty_1="")


def book_back(b, t):
    b[50][0] = f"{T0 + 48.5:.3f}"


def trade_back(b, t):
    t[60][1] = str(int((T0 + 10) * 1000))


def trade_ids(b, t):
    t[70][0] = t[69][0]


def book_gap(b, t):
    for row in b[80:]:
        row[0] = f"{float(row[0]) + 45:.3f}"


def trade_gap(b, t):
    del t[100:190]  # 45 s without a trade


def through(b, t):
    t[150][3], t[150][2] = "99.9", "sell"  # 0.1 below the bid (on its second level): 2 ticks of 0.05
    t[151][3], t[151][2] = "100.6", "buy"  # 0.4 above the ask, beyond the second level too: 8 ticks


def wrong_side(b, t):
    t[40][3], t[40][2] = "100.0", "buy"  # a buyer hitting the bid


CASES = [
    (crossed, lambda r: r["book"]["crossed"], "crossed books 1"),
    (locked, lambda r: r["book"]["locked"], "locked books 1"),
    (out_of_order, lambda r: r["book"]["out-of-order"], "out-of-order books 1"),
    (one_sided, lambda r: r["book"]["one-sided"], "one-sided books 1"),
    (book_back, lambda r: r["times"]["book receipt"], "book receipt going back 1"),
    (trade_back, lambda r: r["times"]["trade time"], "trade time going back 1"),
    (trade_ids, lambda r: r["times"]["trade id"], "trade id going back 1"),
    (book_gap, lambda r: r["book_gaps"]["count"], "book gaps 1"),
    (trade_gap, lambda r: r["trade_gaps"]["count"], "trade gaps 1"),
    (through, lambda r: r["vs_book"]["beyond_levels"], "trades beyond the recorded levels 1 (0.5%)"),
]


@pytest.mark.parametrize("defect,count,verdict", CASES, ids=[c[0].__name__ for c in CASES])
def test_each_defect_is_found_once_and_named_in_the_verdict(tmp_path, defect, count, verdict):
    books, trades = clean()
    defect(books, trades)
    r = report(tmp_path, books, trades)
    assert count(r) == 1
    assert inspect.format_day("day", "TESTUSDT", r, 30.0)[-1] == f"verdict     {verdict}"


def test_trades_outside_the_book_are_counted_with_their_distance_in_ticks(tmp_path):
    books, trades = clean()
    through(books, trades)
    wrong_side(books, trades)
    v = report(tmp_path, books, trades)["vs_book"]
    assert (v["outside"], v["beyond_levels"], v["wrong_side"]) == (2, 1, 1)
    assert v["ticks"] == pytest.approx([5, 7.4, 8])  # p50, p90, max of 2 and 8 ticks
    assert v["inside"] == 197  # the buy at the bid is neither inside nor outside


def test_gaps_say_how_long_and_where(tmp_path):
    books, trades = clean()
    book_gap(books, trades)
    g = report(tmp_path, books, trades)["book_gaps"]
    assert g["count"] == 1 and g["longest_s"] == pytest.approx(46) and g["at"] == pytest.approx(T0 + 79)
    assert inspect._gap_text(g) == "1 (longest 46.0 s at 00:01:19, 46 s in all)"


def test_the_cli_inspects_gzip_day_folders_under_a_parent_per_symbol(tmp_path, capsys):
    books, trades = clean()
    write(tmp_path / "days" / "2026-01-06", books, trades, "AAAUSDT", gz=True)
    crossed(books, trades)
    write(tmp_path / "days" / "2026-01-07", books, trades, "AAAUSDT")
    write(tmp_path / "days" / "2026-01-07", *clean(), "BBBUSDT")
    assert cli.main(["inspect", str(tmp_path / "days")]) == 0
    out = capsys.readouterr().out
    heads = [line for line in out.splitlines() if line.startswith("== ")]
    assert [h.split()[-1] for h in heads] == ["AAAUSDT", "AAAUSDT", "BBBUSDT"]
    verdicts = [line for line in out.splitlines() if line.startswith("verdict")]
    assert verdicts == [
        "verdict     nothing looks wrong",
        "verdict     crossed books 1",
        "verdict     nothing looks wrong",
    ]
    assert "span        2026-01-06 00:00:00 .. 2026-01-06 00:01:39 UTC (0.03 h)" in out


def test_the_cli_refuses_a_folder_without_recordings(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["inspect", str(tmp_path)])
    assert exit_.value.code == 2 and "holds no orderbook_<SYMBOL>.csv" in capsys.readouterr().err


def test_the_grid_is_the_coarsest_step_every_value_sits_on_at_any_magnitude():
    assert inspect.grid(np.array([93869.83, 93869.5])) == 0.01  # a BTC trade between two 0.1 levels
    assert inspect.grid(np.array([93869.5, 93870.1, 93870.0])) == 0.1
    assert inspect.grid(np.array([0.0001, 0.0025, 1.2])) == 0.0001
    assert inspect.grid(np.array([2.5, 5.0, 12.5])) == 0.5
    assert inspect.grid(np.array([np.nan, 0.0])) is None
