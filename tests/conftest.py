"""Fixtures: a simulator on 127.0.0.1 for the real bot to run against, and the bot's environment as a subprocess.

The `sim` fixture runs every test that uses it twice, once per credential scheme ("v1": API key and
HMAC on /fapi/v1 paths; "v3": Pro API agent wallet and EIP-712 on /fapi/v3 paths), and records the
scheme on the simulator (`sim.scheme`); `BotRun` (tests/helpers.py) and `bot_env` give the bot that scheme's
credentials. The simulator answers a V1 path asked of it (requests, fail_next) for the V3 path of the same
endpoint. The helpers the test files share are in tests/helpers.py.
"""

from __future__ import annotations

import os

import pytest
from helpers import set_mid

from aster_mm.simulator import SimExchange


# AMM_TEST_SCHEMES=v1 runs them on one scheme only (scripts/mutation.py does, for time).
@pytest.fixture(params=os.environ.get("AMM_TEST_SCHEMES", "v1,v3").split(","))
def scheme(request) -> str:
    return request.param


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Backtest conversions are cached under $XDG_CACHE_HOME: each test gets its own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
async def sim(scheme):
    async with SimExchange() as exchange:
        exchange.scheme = scheme
        await set_mid(exchange, "2500")
        yield exchange


@pytest.fixture
async def v3sim():
    """The simulator on the V3 scheme only: for what V1 does not have (Modify Order, STP, MMP, `user`)."""
    async with SimExchange() as exchange:
        exchange.scheme = "v3"
        await set_mid(exchange, "2500")
        yield exchange


@pytest.fixture
def bot_env(sim, tmp_path):
    """Environment for the bot as a subprocess: the simulator's URLs and keys, no inherited secrets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTER_")}
    if sim.scheme == "v3":
        env.update(ASTER_USER=sim.v3_user, ASTER_SIGNER=sim.v3_signer, ASTER_SIGNER_KEY=sim.v3_signer_key)
    else:
        env.update(ASTER_API_KEY=sim.api_key, ASTER_API_SECRET=sim.api_secret)
    env.update(ASTER_REST_URL=sim.rest_url, ASTER_WS_URL=sim.ws_url, PYTHONUNBUFFERED="1")
    return env
