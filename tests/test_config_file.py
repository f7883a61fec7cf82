"""`--config FILE` (TOML presets) for the bot and backtest.py, and the fee tiers every backtest reports (base and
MM1 side by side, the other tier repriced from the fills)."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from helpers import ROOT

from aster_mm.settings import config_file
from aster_mm.settings.parser import parse_config


def preset(tmp_path: Path, text: str) -> str:
    path = tmp_path / "preset.toml"
    path.write_text(text)
    return str(path)


def test_every_flag_can_come_from_the_file_and_the_command_line_wins(tmp_path):
    path = preset(
        tmp_path,
        'symbol = "ethusdt"\nbuy-spread = 0.0005\nsell_spread = "0.0007"\nstop-loss = 0.002\n'
        'flatten-on-halt = true\nside = "short"\nno-modify = true\nleverage = 3\nlog-level = "debug"\n',
    )
    cfg = parse_config(["--config", path, "--sell-spread", "0.0009"])
    assert (cfg.symbol, cfg.buy_spread, cfg.sell_spread, cfg.stop_loss) == (
        "ETHUSDT",
        Decimal("0.0005"),
        Decimal("0.0009"),
        Decimal("0.002"),
    )
    assert (cfg.flatten_on_halt, cfg.side, cfg.modify, cfg.leverage, cfg.log_level) == (
        True,
        "short",
        False,
        3,
        "DEBUG",
    )
    assert parse_config(["--config", path, "--symbol", "BNBUSDT"]).symbol == "BNBUSDT"
    assert parse_config(["--symbol", "BNBUSDT"]).buy_spread == Decimal("0.006")  # a parser without the file


@pytest.mark.parametrize(
    "text, needle",
    [
        ("buy-spread = 2\n", "buy-spread = 2: buy-spread must be between 0 and 1"),
        ("buy-sprad = 0.1\n", "unknown key 'buy-sprad'"),
        ('side = "middle"\n', "side = 'middle': choose from long, short"),
        ("sim = 1\n", "sim = 1: a switch takes true or false"),
        ("leverage = 0.5\n", "leverage = 0.5: leverage must be an integer from 1 to 125"),
        ("buy-spread = 0.001\nbuy_spread = 0.002\n", "'buy_spread' is given twice"),
        ('config = "other.toml"\n', "unknown key 'config'"),
        ("buy-spread = [\n", "not valid TOML"),
        ("sim = true\n", "--sim and --paper: choose one"),
    ],
)
def test_a_bad_file_exits_2_naming_the_key_and_the_file_without_a_traceback(tmp_path, text, needle):
    path = preset(tmp_path, text)
    done = subprocess.run(
        [sys.executable, str(ROOT / "market_maker.py"), "--config", path, "--symbol", "ETHUSDT", "--paper"]
        if "paper" in needle
        else [sys.executable, str(ROOT / "market_maker.py"), "--config", path, "--symbol", "ETHUSDT"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert done.returncode == 2 and needle in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    if "choose one" not in needle:
        assert path in done.stderr


def test_a_missing_file_exits_2():
    with pytest.raises(SystemExit) as info:
        parse_config(["--config", "/nonexistent/preset.toml", "--symbol", "ETHUSDT"])
    assert info.value.code == 2


def test_a_preset_written_reads_back_as_the_same_options(tmp_path):
    values = {"symbol": "ETHUSDT", "buy-spread": "0.00012", "stop-loss": "0.0021", "side": "short", "sim": True}
    path = preset(tmp_path, config_file.dumps(values, ["a comment", "another"]))
    assert Path(path).read_text().startswith("# a comment\n# another\n")
    cfg = parse_config(["--config", path])
    assert (cfg.buy_spread, cfg.stop_loss, cfg.side, cfg.sim) == (Decimal("0.00012"), Decimal("0.0021"), "short", True)


# ---------------------------------------------------------------------------------------------- fee tiers
def test_the_other_tier_is_each_fills_notional_at_its_rate():
    from aster_mm.backtest.report import fee_tiers
    from aster_mm.backtest.runner import Fill

    fills = [Fill(0, "BUY", 100.0, 20.0, True), Fill(1, "SELL", 101.0, 20.0, False)]  # 2,000 maker, 2,020 taker
    run_fees = 2000 * 0.0001 + 2020 * 0.00035
    tiers = fee_tiers(fills, run_fees, net=20.0 - run_fees, volume_usd=4020.0)
    assert tiers["base"]["net_pnl_usd"] == pytest.approx(20.0 - run_fees)
    assert tiers["mm1"]["fees_usd"] == pytest.approx(2000 * -0.000015 + 2020 * 0.00027)
    assert tiers["mm1"]["net_pnl_usd"] == pytest.approx(20.0 + 0.03 - 2020 * 0.00027)
    assert tiers["mm1"]["pnl_per_volume_bp"] == pytest.approx(tiers["mm1"]["net_pnl_usd"] / 4020 * 1e4)


def test_a_backtest_at_mm1_rates_nets_what_the_base_runs_mm1_column_says(tmp_path):
    pytest.importorskip("hftbacktest", reason="pip install -r requirements-backtest.txt")
    from helpers import a_market

    from aster_mm.backtest import cli

    data = a_market(tmp_path / "day")
    # An order is sized (wallet + net) * 0.2 / mid, floored to the step: 20 in steps of 10 at any mid of this market
    # (98.9..100.7) while the wallet is within 12,500 +- 2,000, so the fees (which move the net) cannot change a
    # size: the fills are the same at both rates
    base = ["--data", str(data), "--symbol", "TESTUSDT", "--tick", "0.1", "--step", "10", "--wallet", "12500"]
    base += [
        "--spread-model",
        "fixed",
        "--buy-spread",
        "0.004",
        "--sell-spread",
        "0.004",
        "--reprice-threshold",
        "0.0005",
    ]
    at_base = cli.run_once(*cli.parse(base), {})[0]["metrics"]
    at_mm1 = cli.run_once(*cli.parse([*base, "--maker-fee", "-0.000015", "--taker-fee", "0.00027"]), {})[0]["metrics"]
    assert at_base["fills"] == at_mm1["fills"] > 4 and at_base["volume_usd"] == at_mm1["volume_usd"]
    assert at_base["fee_tiers"]["mm1"]["net_pnl_usd"] == pytest.approx(at_mm1["net_pnl_usd"], abs=1e-6)
    assert at_mm1["fee_tiers"]["base"]["net_pnl_usd"] == pytest.approx(at_base["net_pnl_usd"], abs=1e-6)
    assert at_base["fee_tiers"]["base"]["net_pnl_usd"] == pytest.approx(at_base["net_pnl_usd"], abs=1e-6)
