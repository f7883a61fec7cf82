"""Who may call the simulator, and how another client starts one: V3 requests with or without `user`, a main
wallet signing for itself, the main wallet's typed-data signature (approveBuilder), the command line's
--agent, --print-identity and --journal, and replays of gzip-compressed recordings."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import signal
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
import yarl
from eth_account import Account
from eth_account.messages import encode_typed_data
from helpers import ROOT, SYMBOL
from simclient import WireClient, sign_v3

from aster_mm.simulator import ReplayMarket, SimExchange, symbol_table
from aster_mm.simulator.markets import open_csv


@pytest.fixture
async def sim():
    async with SimExchange(rate_limits=None) as s:
        yield s


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


# ------------------------------------------------------------------ V3 identities
async def test_agent_requests_with_or_without_user(sim, session):
    """bfeefea (2026-04-28): "If API_WALLET authentication is required, a signer should be included"; the
    examples no longer send `user`. Sent or not, both work (A1); the signature may lack "0x" (A5)."""
    for send_user, prefix in ((True, True), (False, True), (False, False)):
        client = WireClient(sim, session, send_user=send_user, prefix=prefix)
        status, body, _ = await client.v3("GET", "/fapi/v3/openOrders", {"symbol": SYMBOL})
        assert (status, body) == (200, []), (send_user, prefix)
    sent = [r["params"] for r in sim.requests("GET", "/fapi/v3/openOrders")]
    assert ["user" in p for p in sent] == [True, False, False]


async def test_user_that_is_not_the_signers_main_wallet_is_refused(sim, session):
    client = WireClient(sim, session, user=Account.create().address)
    status, body, _ = await client.v3("GET", "/fapi/v3/openOrders", {"symbol": SYMBOL})
    assert (status, body["code"]) == (401, -2015)


async def test_main_wallet_signs_for_itself_only_once_registered(sim, session):
    """The docs call the signer "API wallet address" and are silent on a main wallet as its own signer,
    which is all ccxt can do: accepted once registered, `--agent W:W` (A2)."""
    main = WireClient(sim, session, key=sim.v3_user_key, signer=sim.v3_user, user=sim.v3_user)
    status, body, _ = await main.v3("GET", "/fapi/v3/balance")
    assert (status, body["code"]) == (401, -2015)
    sim.add_agent(sim.v3_user, sim.v3_user)
    assert (await main.v3("GET", "/fapi/v3/balance"))[0] == 200


async def test_an_agent_belongs_to_one_main_wallet(sim):
    with pytest.raises(ValueError, match="already registered"):
        sim.add_agent(Account.create().address, sim.v3_signer)


def approve_builder_signature(key: str, values: dict, chain_id: int) -> str:
    """demo/aster-code.py `sign_v3_eip712`: the capitalised parameters as a typed struct, chainId 56."""
    fields = [("Builder", "string"), ("MaxFeeRate", "string"), ("BuilderName", "string")]
    fields += [("AsterChain", "string"), ("User", "string"), ("Nonce", "uint256")]
    message = {name: values[name[0].lower() + name[1:]] for name, _ in fields}
    message["Nonce"] = int(message["Nonce"])
    data = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "ApproveBuilder": [{"name": n, "type": t} for n, t in fields],
        },
        "primaryType": "ApproveBuilder",
        "domain": {
            "name": "AsterSignTransaction",
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": "0x0000000000000000000000000000000000000000",
        },
        "message": message,
    }
    return "0x" + bytes(Account.sign_message(encode_typed_data(full_message=data), private_key=key).signature).hex()


async def test_approve_builder_is_signed_by_the_main_wallet_and_recorded(sim, session):
    client = WireClient(sim, session)
    builder = Account.create().address
    values = {"builder": builder, "maxFeeRate": "0.00001", "builderName": "demo", "asterChain": "Mainnet"}
    values |= {"user": sim.v3_user, "nonce": str(client.nonce())}

    async def approve(key: str) -> tuple:
        form = values | {"signature": approve_builder_signature(key, values, 56), "signatureChainId": "56"}
        return await client.raw("POST", "/fapi/v3/approveBuilder", body="&".join(f"{k}={v}" for k, v in form.items()))

    status, body, _ = await approve(sim.v3_signer_key)  # an agent's key: not the main wallet's signature
    assert (status, body["code"]) == (400, -1022)
    stranger = Account.create()  # signs its own approval correctly, but the exchange knows no such user
    status, body, _ = await client.raw(
        "POST",
        "/fapi/v3/approveBuilder",
        body="&".join(f"{k}={v}" for k, v in (values | {"user": stranger.address}).items())
        + f"&signature={approve_builder_signature(stranger.key.hex(), values | {'user': stranger.address}, 56)}"
        + "&signatureChainId=56",
    )
    assert (status, body["code"]) == (401, -2015)
    status, body, _ = await approve(sim.v3_user_key)
    assert (status, body) == (200, {"code": 200, "msg": "success"})
    _, builders, _ = await client.v3("GET", "/fapi/v3/builder")
    assert (
        builders
        == sim.builders()
        == [{"userAddress": sim.v3_user, "builderAddress": builder, "maxFeeRate": "0.00001", "builderName": "demo"}]
    )


# ------------------------------------------------------------------ the command line
async def test_print_identity_then_serve_it_with_agent_and_journal(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "sim_exchange.py"), "--print-identity"], capture_output=True, text=True, timeout=30
    )
    env = dict(re.findall(r"^([A-Z_]+)=(\S+)$", done.stdout, re.M))
    assert done.returncode == 0 and set(env) >= {"ASTER_USER", "ASTER_SIGNER", "ASTER_SIGNER_KEY", "SIM_USER_KEY"}
    assert Account.from_key(env["SIM_USER_KEY"]).address == env["ASTER_USER"]
    assert Account.from_key(env["ASTER_SIGNER_KEY"]).address == env["ASTER_SIGNER"]
    journal = tmp_path / "journal.jsonl"
    args = ["--port", "0", "--journal", str(journal), "--agent", f"{env['ASTER_USER']}:{env['ASTER_SIGNER']}"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "sim_exchange.py"), *args, stdout=asyncio.subprocess.PIPE, cwd=tmp_path
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        rest_url = re.search(r"ASTER_REST_URL=(\S+)", line).group(1)
        assert env["ASTER_USER"] in line
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{rest_url}/fapi/v3/time") as resp:
                server_ms = (await resp.json())["serverTime"]
            msg = urlencode({"symbol": SYMBOL, "nonce": server_ms * 1000, "signer": env["ASTER_SIGNER"]})  # no user
            url = f"{rest_url}/fapi/v3/openOrders?{msg}&signature={sign_v3(env['ASTER_SIGNER_KEY'], msg)}"
            async with session.get(yarl.URL(url, encoded=True)) as resp:
                assert (resp.status, await resp.json()) == (200, [])
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 10)
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [(e["method"], e["path"], e["status"]) for e in lines] == [
        ("GET", "/fapi/v3/time", 200),
        ("GET", "/fapi/v3/openOrders", 200),
    ]
    assert lines[1]["params"]["signer"] == env["ASTER_SIGNER"] and lines[1]["response"] == []


# ------------------------------------------------------------------ replays
def write_gzip_recording(directory: Path, symbol: str = "BTCUSD") -> None:
    book = "unix_timestamp,lastUpdateId,bid_price_0,bid_qty_0,ask_price_0,ask_qty_0\n"
    book += "1000.0,1,91000.1,0.5,91000.2,0.7\n1001.0,2,91000.0,0.4,91000.3,0.6\n"
    trades = "id,unix_timestamp_ms,side,price,quantity,local_timestamp\n2,1000500,buy,91000.25,0.0012,1000.6\n"
    (directory / f"orderbook_{symbol}.csv.gz").write_bytes(gzip.compress(book.encode()))
    (directory / f"trades_{symbol}.csv.gz").write_bytes(gzip.compress(trades.encode()))


async def test_replay_reads_gzip_recordings(tmp_path):
    """shared/data/standx-btcusd is gzip-compressed: orderbook_BTCUSD.csv.gz, trades_BTCUSD.csv.gz."""
    write_gzip_recording(tmp_path)
    market = ReplayMarket(tmp_path, symbol="BTCUSD", speed=0)
    spec = market.spec()
    assert (spec.tick, spec.step) == (D("0.01"), D("0.0001"))
    async with SimExchange(symbols=symbol_table(spec), rate_limits=None) as sim:
        assert await market.run(sim) == 3
        assert sim.book("BTCUSD")[0][0] == (D("91000.0"), D("0.4"))
        assert [e["payload"]["p"] for e in sim.journal if e.get("payload", {}).get("e") == "aggTrade"] == ["91000.25"]


def test_the_shared_standx_recording_opens():
    data = ROOT.parent / "shared" / "data" / "standx-btcusd" / "2026-01-05"
    if not data.is_dir():
        pytest.skip("shared data not present")
    market = ReplayMarket(data, symbol="BTCUSD")
    assert market.book_csv.name == "orderbook_BTCUSD.csv.gz"
    first = next(open_csv(market.book_csv))
    assert float(first["unix_timestamp"]) > 1.7e9
