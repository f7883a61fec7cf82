"""Credentials and hosts from the environment or .env (aster_mm/live/credentials.py): exactly one set (V3 agent
wallet or V1 API key), the network's hosts and chain, each stream's own host, errors that name the variable
and never the key, the variables documented, and a warning about an .env others can read."""

from __future__ import annotations

import asyncio
import os
import re
import signal

import pytest
from eth_account import Account
from helpers import DEMO_KEY, DEMO_SIGNER, DEMO_USER, ROOT, SYMBOL, free_port, run, run_cli, wait_open

import market_maker as mm
from aster_mm.live.credentials import env_file_warning, read_credentials

# ---- V3 and V1 credentials, and the networks' hosts --------------------------------------------------------
ALL_VARS = (
    "ASTER_USER",
    "ASTER_SIGNER",
    "ASTER_SIGNER_KEY",
    "ASTER_API_KEY",
    "ASTER_API_SECRET",
    "ASTER_REST_URL",
    "ASTER_WS_URL",
    "ASTER_MARKET_WS_URL",
    "ASTER_USER_WS_URL",
)
V3_ENV = {"ASTER_USER": DEMO_USER, "ASTER_SIGNER": DEMO_SIGNER, "ASTER_SIGNER_KEY": DEMO_KEY}
V1_ENV = {"ASTER_API_KEY": "key-0123456789abcdef", "ASTER_API_SECRET": "secret-0123456789abcdef"}


@pytest.fixture
def env(monkeypatch, tmp_path):
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env unless a test writes one

    def set_env(values: dict) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_env


def test_v3_credentials_pick_the_network_hosts_and_chain(env):
    from aster_mm.live.credentials import read_credentials

    env(V3_ENV)
    signer, rest, ws, user_ws = read_credentials("testnet")
    assert (signer.version, signer.chain_id) == (3, 714)
    # the testnet doc: market streams on fstream5., the user stream on fstream.
    assert (rest, ws, user_ws) == (
        "https://fapi.asterdex-testnet.com",
        "wss://fstream5.asterdex-testnet.com",
        "wss://fstream.asterdex-testnet.com",
    )
    signer, rest, ws, user_ws = read_credentials("mainnet")
    assert (signer.chain_id, rest, ws, user_ws) == (
        1666,
        "https://fapi.asterdex.com",
        "wss://fstream.asterdex.com",
        "wss://fstream.asterdex.com",
    )
    env({"ASTER_REST_URL": "http://127.0.0.1:1", "ASTER_WS_URL": "ws://127.0.0.1:1"})
    assert read_credentials("testnet")[1:] == ("http://127.0.0.1:1", "ws://127.0.0.1:1", "ws://127.0.0.1:1")
    env({"ASTER_USER_WS_URL": "ws://127.0.0.1:2/"})  # one stream's own host wins over ASTER_WS_URL
    assert read_credentials("testnet")[2:] == ("ws://127.0.0.1:1", "ws://127.0.0.1:2")
    env({"ASTER_MARKET_WS_URL": "http://127.0.0.1:3"})
    with pytest.raises(ValueError, match="ASTER_MARKET_WS_URL must start with ws:// or wss://"):
        read_credentials("testnet")


def test_v3_credentials_from_dotenv_the_environment_wins(env, tmp_path):
    from aster_mm.live.credentials import read_credentials

    stranger = Account.create()
    (tmp_path / ".env").write_text(
        f"ASTER_USER={DEMO_USER}\nASTER_SIGNER={stranger.address}\nASTER_SIGNER_KEY={stranger.key.hex()}\n"
    )
    env({"ASTER_SIGNER": DEMO_SIGNER, "ASTER_SIGNER_KEY": DEMO_KEY})
    try:
        signer = read_credentials().signer
    finally:
        import os

        os.environ.pop("ASTER_USER", None)
    assert signer.signer == DEMO_SIGNER and signer.user == DEMO_USER


@pytest.mark.parametrize(
    "values, args, needles",
    [
        ({}, [], ["ASTER_USER", "ASTER_API_KEY"]),  # none
        ({"ASTER_USER": DEMO_USER, "ASTER_SIGNER": DEMO_SIGNER}, [], ["ASTER_SIGNER_KEY"]),  # partial V3
        ({"ASTER_SIGNER_KEY": DEMO_KEY}, [], ["ASTER_USER and ASTER_SIGNER"]),
        ({"ASTER_API_KEY": "key-0123456789abcdef"}, [], ["ASTER_API_SECRET"]),  # partial V1
        (V3_ENV | V1_ENV, [], ["ASTER_SIGNER_KEY", "ASTER_API_SECRET", "not both"]),  # both sets
        (V3_ENV | {"ASTER_API_SECRET": "secret-0123456789abcdef"}, [], ["not both"]),
        (V3_ENV | {"ASTER_SIGNER": "0x" + "ab" * 20}, [], ["ASTER_SIGNER", "not the address"]),  # wrong signer
        (V3_ENV | {"ASTER_SIGNER_KEY": "0x1234"}, [], ["ASTER_SIGNER_KEY"]),  # malformed key
        (V3_ENV | {"ASTER_USER": "alice"}, [], ["ASTER_USER"]),
        (V1_ENV, ["--network", "testnet"], ["testnet", "V3"]),  # testnet is V3-only
    ],
)
def test_bad_credentials_exit_2_naming_the_variable_and_never_the_key(env, capsys, tmp_path, values, args, needles):
    import market_maker as mm

    env(values)
    with pytest.raises(SystemExit) as info:
        mm.main(["--symbol", SYMBOL, *args])
    assert info.value.code == 2
    out, err = capsys.readouterr()
    for needle in needles:
        assert needle in err
    for secret in (DEMO_KEY[2:], DEMO_KEY[2:].upper(), V1_ENV["ASTER_API_SECRET"]):
        assert secret not in out + err
    assert not (tmp_path / "market_maker.log").exists()


def test_every_variable_is_documented_in_env_example_and_readme():
    from aster_mm.live.credentials import V1_VARS, V3_VARS

    example, readme = (ROOT / ".env.example").read_text(), (ROOT / "README.md").read_text()
    for name in (*V3_VARS, *V1_VARS, "ASTER_REST_URL", "ASTER_WS_URL"):
        assert f"\n{name}=\n" in example and f"`{name}`" in readme
    # and every variable the code reads, optional ones included (commented out there)
    read = {
        m
        for f in (ROOT / "aster_mm").rglob("*.py")
        for m in re.findall(r'"((?:ASTER|TELEGRAM)_[A-Z_]+)"', f.read_text())
    }
    assert read and not {name for name in read if f"{name}=" not in example}


# ---- V1 credentials, a bad REST URL, and .env --------------------------------------------------------------
@pytest.mark.parametrize(
    "missing, present", [("ASTER_API_SECRET", "ASTER_API_KEY"), ("ASTER_API_KEY", "ASTER_API_SECRET")]
)
def test_main_without_credentials_exits_2_naming_the_variable(monkeypatch, tmp_path, capsys, missing, present):
    for name in ("ASTER_API_KEY", "ASTER_API_SECRET", "ASTER_REST_URL", "ASTER_WS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    secret = "Zx9-very-secret-value-0042"
    monkeypatch.setenv(present, secret)
    with pytest.raises(SystemExit) as info:
        mm.main(["--symbol", "ETHUSDT"])
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert missing in err
    assert secret not in out + err
    assert not (tmp_path / "market_maker.log").exists()


def test_main_with_a_bad_rest_url_exits_2(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ASTER_API_KEY", "k" * 20)
    monkeypatch.setenv("ASTER_API_SECRET", "s" * 20)
    monkeypatch.setenv("ASTER_REST_URL", "ftp://nowhere")
    with pytest.raises(SystemExit) as info:
        mm.main(["--symbol", "ETHUSDT"])
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert "ASTER_REST_URL" in err and "ftp://nowhere" in err and "s" * 20 not in out + err


def test_dotenv_fills_in_what_the_environment_lacks_and_the_environment_wins(monkeypatch, tmp_path):
    for name in ("ASTER_API_KEY", "ASTER_API_SECRET", "ASTER_REST_URL", "ASTER_WS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "ASTER_API_KEY=from-dotenv-key\nASTER_API_SECRET=from-dotenv-secret\nASTER_WS_URL=ws://127.0.0.1:9\n"
    )
    monkeypatch.setenv("ASTER_API_KEY", "from-environment-key")
    try:
        signer, rest, ws, user_ws = read_credentials()
    finally:  # load_dotenv wrote into os.environ: undo it
        for name in ("ASTER_API_SECRET", "ASTER_WS_URL"):
            os.environ.pop(name, None)
    assert signer.hint == "V1 key from…-key"
    assert signer.sign_stream({}, 0).headers == {"X-MBX-APIKEY": "from-environment-key"}
    assert (rest, ws, user_ws) == ("https://fapi.asterdex.com", "ws://127.0.0.1:9", "ws://127.0.0.1:9")


# ---- an .env others can read -------------------------------------------------------------------------------
def test_an_env_file_others_can_read_is_warned_about(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("ASTER_API_KEY=x\nASTER_API_SECRET=y\n")
    env_file.chmod(0o644)
    assert "chmod 600" in env_file_warning(tmp_path) and "mode 644" in env_file_warning(tmp_path)
    rest = {"ASTER_REST_URL": f"http://127.0.0.1:{free_port()}"}
    done = run("--symbol", "ETHUSDT", "--start-timeout", "0", cwd=tmp_path, env=rest)
    assert done.returncode == 1 and done.stderr.startswith(f"market_maker.py: warning: {env_file} holds your keys")
    env_file.chmod(0o600)
    assert env_file_warning(tmp_path) is None and env_file_warning(tmp_path / "none") is None
    done = run("--symbol", "ETHUSDT", "--start-timeout", "0", cwd=tmp_path, env=rest)
    assert done.returncode == 1 and "warning" not in done.stderr


# ---- each stream's own host --------------------------------------------------------------------------------
async def test_market_and_user_streams_each_take_their_own_host(sim, bot_env, tmp_path):
    """The testnet doc names one host for market streams and another for the user stream: each variable
    reaches its own stream (ASTER_WS_URL, pointing nowhere here, is the fallback of both)."""
    bot_env.update(
        ASTER_WS_URL=f"ws://127.0.0.1:{free_port()}",
        ASTER_MARKET_WS_URL=sim.ws_url,
        ASTER_USER_WS_URL=sim.ws_url,
    )
    proc = await run_cli("--symbol", SYMBOL, "--log-file", str(tmp_path / "mm.log"), env=bot_env, cwd=tmp_path)
    try:
        await wait_open(sim, "BUY", timeout=20)  # quoting: both streams are up
        assert sim.market_stream_connections == 1 and sim.user_stream_connections == 1
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 15)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0


def test_the_new_variables_are_in_env_example_and_the_exchange_page():
    from helpers import ROOT

    example, page = (ROOT / ".env.example").read_text(), (ROOT / "docs" / "exchange.md").read_text()
    for name in ("ASTER_MARKET_WS_URL", "ASTER_USER_WS_URL"):
        assert f"\n{name}=\n" in example and f"`{name}`" in page
