"""The options for the exchange's own limits and features (aster_mm/settings/exchange_options.py): parsed into
the Config; `user` on V3 calls as the bot sends them, left out with --v3-user omit; the V3-only options
refused with V1 credentials."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from helpers import SYMBOL, BotRun, open_orders, run_cli, wait_open

from aster_mm.core.config import MmpConfig
from aster_mm.simulator import SimExchange


def v3_env(sim: SimExchange) -> dict:
    """The bot subprocess's environment for a V3 simulator: its URLs and agent, nothing inherited of ASTER_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTER_")}
    env.update(ASTER_USER=sim.v3_user, ASTER_SIGNER=sim.v3_signer, ASTER_SIGNER_KEY=sim.v3_signer_key)
    return env | {"ASTER_REST_URL": sim.rest_url, "ASTER_WS_URL": sim.ws_url, "PYTHONUNBUFFERED": "1"}


# ---- `user` on V3 calls, and the V3-only options with V1 credentials ---------------------------------------
async def test_v3_user_is_sent_by_default_and_left_out_with_v3_user_omit(v3sim, tmp_path):
    sim = v3sim
    async with BotRun(sim) as bot:
        await wait_open(sim, "BUY")
        assert bot.client.signer.send_user
    signed = [r["params"] for r in sim.requests() if "signature" in r["params"]]
    assert signed and all(p["user"] == sim.v3_user and p["signer"] == sim.v3_signer for p in signed)
    first = len(sim.requests())
    log_file = str(tmp_path / "mm.log")
    proc = await run_cli("--symbol", SYMBOL, "--v3-user", "omit", "--log-file", log_file, env=v3_env(sim), cwd=tmp_path)
    try:
        await sim.wait_for(lambda: any(o["clientOrderId"].startswith("amm-") for o in open_orders(sim)), 20)
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 15)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0 and open_orders(sim) == []
    signed = [r for r in sim.requests()[first:] if "signature" in r["params"]]
    assert signed and all(r["status"] == 200 for r in signed)  # accepted: the exchange takes both forms
    assert all("user" not in r["params"] and r["params"]["signer"] == sim.v3_signer for r in signed)


async def test_v3_only_options_with_v1_credentials_exit_2(v3sim, tmp_path):
    sim, env = v3sim, {k: v for k, v in os.environ.items() if not k.startswith("ASTER_")}
    env.update(ASTER_API_KEY=sim.api_key, ASTER_API_SECRET=sim.api_secret, ASTER_REST_URL=sim.rest_url)
    for option in (["--stp", "EXPIRE_MAKER"], ["--v3-user", "omit"], ["--mmp-window", "1000", "--mmp-freeze", "5000",
                                                                      "--mmp-qty-limit", "1"]):  # fmt: skip
        proc = await run_cli("--symbol", SYMBOL, *option, env=env, cwd=tmp_path)
        _, err = await asyncio.wait_for(proc.communicate(), 15)
        assert proc.returncode == 2 and b"need Pro API (V3) credentials" in err
    assert not sim.requests()


# ---- parsed into the Config --------------------------------------------------------------------------------
def test_the_exchange_options_parse_into_the_config(capsys):
    from aster_mm.settings.parser import build_parser, parse_config

    cfg = parse_config(["--symbol", "ETHUSDT"])
    assert (cfg.weight_budget, cfg.send_user, cfg.stp_mode, cfg.mmp) == (None, True, None, None)
    argv = ["--symbol", "ETHUSDT", "--weight-budget", "1200", "--v3-user", "omit", "--stp", "EXPIRE_BOTH"]
    argv += ["--mmp-window", "5000", "--mmp-freeze", "10000", "--mmp-qty-limit", "10", "--mmp-delta-limit", "3"]
    cfg = parse_config(argv)
    assert (cfg.weight_budget, cfg.send_user, cfg.stp_mode) == (1200, False, "EXPIRE_BOTH")
    assert cfg.mmp == MmpConfig(5000, 10000, qty_limit=10, delta_limit=3)
    for bad, needle in (
        (["--mmp-qty-limit", "10"], "needs --mmp-window and --mmp-freeze"),
        (["--mmp-window", "1000", "--mmp-freeze", "1000"], "needs a limit"),
        (["--mmp-window", "1.5"], "mmp-window must be a whole number"),
        (["--stp", "NONE"], "invalid choice"),
        (["--weight-budget", "10"], "weight-budget must be a whole number from 50"),
    ):
        with pytest.raises(SystemExit) as exit_:
            parse_config(["--symbol", "ETHUSDT", *bad], build_parser())
        assert exit_.value.code == 2 and needle in capsys.readouterr().err
