"""The command line parsed into a Config (aster_mm/settings/parser.py): the original script's defaults, every flag,
and a bad value exiting 2 naming it."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from aster_mm.core.config import Config
from aster_mm.core.kinds import SpreadModel
from aster_mm.core.quoting import SIGNAL_STOP_LOSS, QuotePolicy
from aster_mm.core.signals import SignalConfig
from aster_mm.settings.parser import build_parser, parse_config


# ---- the command line's values -----------------------------------------------------------------------------
def test_defaults_match_the_original_script():
    cfg = parse_config(["--symbol", "ethusdt"])
    assert cfg == Config(symbol="ETHUSDT")
    assert (
        cfg.buy_spread,
        cfg.sell_spread,
        cfg.balance_fraction,
        cfg.leverage,
        cfg.position_threshold_usd,
        cfg.reprice_threshold,
        cfg.log_file,
    ) == (D("0.006"), D("0.006"), D("0.2"), 1, D("15"), D("0.001"), "market_maker.log")
    assert all(
        isinstance(v, D)
        for v in (
            cfg.buy_spread,
            cfg.sell_spread,
            cfg.balance_fraction,
            cfg.position_threshold_usd,
            cfg.reprice_threshold,
        )
    )


def test_the_default_model_is_signal_with_its_stop_loss_and_the_others_have_none():
    cfg = parse_config(["--symbol", "ethusdt"])
    assert cfg.spread_model == SpreadModel.SIGNAL and cfg.stop_loss_in_force == SIGNAL_STOP_LOSS == D("0.00116")
    assert cfg.quote_policy == QuotePolicy() and cfg.signal == SignalConfig()
    for model in ("fixed", "adaptive"):
        assert parse_config(["--symbol", "ETHUSDT", "--spread-model", model]).stop_loss_in_force is None
    for off in ("0", "off", "OFF"):
        assert parse_config(["--symbol", "ETHUSDT", "--stop-loss", off]).stop_loss_in_force is None
    given = parse_config(["--symbol", "ETHUSDT", "--spread-model", "fixed", "--stop-loss", "0.003"])
    assert given.stop_loss_in_force == D("0.003")


def test_flags_are_parsed():
    cfg = parse_config(
        [
            "--symbol",
            "BTCUSDT",
            "--buy-spread",
            "0.01",
            "--sell-spread",
            "0.02",
            "--balance-fraction",
            "0.5",
            "--leverage",
            "125",
            "--position-threshold-usd",
            "7.5",
            "--reprice-threshold",
            "0.002",
            "--log-file",
            "x.log",
            "--log-level",
            "debug",
        ]
    )
    assert cfg == Config(
        "BTCUSDT", D("0.01"), D("0.02"), D("0.5"), 125, D("7.5"), D("0.002"), log_file="x.log", log_level="DEBUG"
    )


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--buy-spread", "-0.1"),
        ("--buy-spread", "0"),
        ("--sell-spread", "1"),
        ("--sell-spread", "1.5"),
        ("--buy-spread", "abc"),
        ("--buy-spread", "nan"),
        ("--sell-spread", "inf"),
        ("--balance-fraction", "0"),
        ("--balance-fraction", "1"),
        ("--balance-fraction", "half"),
        ("--leverage", "0"),
        ("--leverage", "126"),
        ("--leverage", "2.5"),
        ("--leverage", "x"),
        ("--position-threshold-usd", "0"),
        ("--position-threshold-usd", "-5"),
        ("--position-threshold-usd", "ten"),
        ("--position-threshold-usd", "nan"),
        ("--reprice-threshold", "1"),
        ("--reprice-threshold", "abc"),
        ("--stop-loss", "-0.01"),
        ("--stop-loss", "1"),
        ("--stop-loss", "never"),
        ("--symbol", "ETH-USDT"),
    ],
)
def test_bad_values_exit_2_naming_the_value(capsys, flag, value):
    argv = ["--symbol", "ETHUSDT", f"{flag}={value}"] if flag != "--symbol" else [f"--symbol={value}"]
    with pytest.raises(SystemExit) as info:
        parse_config(argv, build_parser())
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and value in err


def test_missing_symbol_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        parse_config([])
    assert info.value.code == 2 and "--symbol" in capsys.readouterr().err
