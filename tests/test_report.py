"""`market_maker.py report` (aster_mm/accounting/report.py): a ledger summarised per UTC day, the ledgers of the
working directory found and kept apart by kind, bad input exiting 2."""

from __future__ import annotations

import pytest
from helpers import HAND_WRITTEN, SYMBOL

import market_maker


def test_report_summarises_a_hand_written_ledger_per_day(tmp_path, capsys):
    path = tmp_path / "ledger-ETHUSDT.csv"
    path.write_text(HAND_WRITTEN)
    assert market_maker.main(["report", "--ledger", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = ["day", "symbol", "fills", "volume", "fees", "funding", "rebates", "realized", "net", "net/volume"]
    assert lines[0].split() == header
    assert lines[1].split() == [
        "2025-09-28",
        "ETHUSDT",
        "1",
        "2000.00",
        "0.20",
        "0.00",
        "0.00",
        "0.00",
        "-0.20",
        "-1.0bp",
    ]
    # 2005 volume, fees 0.3005, funding -0.1, a rebate 0.25, realized 6: net 5.8495 = 29.2 bp
    day = ["2025-09-29", "ETHUSDT", "2", "2005.00", "0.30", "-0.10", "0.25", "6.00", "5.85", "29.2bp"]
    assert lines[2].split() == day
    assert lines[3].split() == ["total", "3", "4005.00", "0.50", "-0.10", "0.25", "6.00", "5.65", "14.1bp"]

    capsys.readouterr()
    assert market_maker.main(["report", "--ledger", str(path), "--since", "2025-09-29"]) == 0
    out = capsys.readouterr().out
    assert "2025-09-28" not in out and "2025-09-29" in out


def test_report_finds_the_ledgers_in_the_working_directory(tmp_path, capsys, monkeypatch):
    (tmp_path / "ledger-ETHUSDT.csv").write_text(HAND_WRITTEN)
    (tmp_path / "ledger-ETHUSDT-sim.csv").write_text(HAND_WRITTEN)  # a demo's: never mixed in
    (tmp_path / "ledger-BNBUSDT-paper.csv").write_text(HAND_WRITTEN.replace("ETHUSDT", "BNBUSDT"))
    monkeypatch.chdir(tmp_path)
    assert market_maker.main(["report"]) == 0
    out = capsys.readouterr().out
    real, paper, sim = out.split("\n\n")  # each kind in a table of its own, saying which files it read
    assert real.splitlines()[3].split()[1] == "3" and "BNBUSDT" not in real
    assert real.splitlines()[4] == "read ledger-ETHUSDT.csv"
    assert paper.splitlines()[4] == "read ledger-BNBUSDT-paper.csv (--paper: simulated fills on real prices)"
    assert sim.splitlines()[4] == "read ledger-ETHUSDT-sim.csv (--sim: simulated fills)"
    assert [line.split()[1] for line in out.splitlines() if line.startswith("total")] == ["3", "3", "3"]


def test_report_after_the_quick_start_finds_the_sim_ledger(tmp_path, capsys, monkeypatch):
    (tmp_path / "ledger-ETHUSDT-sim.csv").write_text(HAND_WRITTEN)
    monkeypatch.chdir(tmp_path)
    assert market_maker.main(["report"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[3].split()[:2] == ["total", "3"] and lines[4] == "read ledger-ETHUSDT-sim.csv (--sim: simulated fills)"


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--since", "yesterday"], "since must be a date"),
        (["--ledger", "missing.csv"], "does not exist"),
        (["--ledger", "bad.csv"], "not a ledger"),
        ([], "no ledger-*.csv"),
    ],
)
def test_report_bad_input_exits_2(tmp_path, capsys, monkeypatch, args, needle):
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        market_maker.main(["report", *args])
    assert exit_.value.code == 2 and needle in capsys.readouterr().err


def test_cli_report_help_and_a_bad_ledger_directory(tmp_path):
    import subprocess
    import sys

    from helpers import ROOT

    def run(*args):
        return subprocess.run(
            [sys.executable, str(ROOT / "market_maker.py"), *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )

    done = run("report", "--help")
    assert done.returncode == 0 and "--since" in done.stdout
    assert "report" in run("--help").stdout
    done = run("--symbol", SYMBOL, "--ledger", str(tmp_path / "nowhere" / "l.csv"), "--sim")
    assert done.returncode == 2 and "--ledger" in done.stderr and "Traceback" not in done.stderr
