"""Credentials from the environment or .env (exactly one set: V3 Pro API agent wallet, or V1 API key)
turned into the request signer, with the hosts to use; the Telegram alert settings; the hosts --paper reads.

Every mistake becomes a ValueError naming what is missing or conflicting, never a traceback.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import NamedTuple

from dotenv import load_dotenv

from aster_mm.core.config import Config
from aster_mm.exchange.hosts import NETWORKS
from aster_mm.exchange.signing import Eip712Signer, HmacSigner, Signer
from aster_mm.ops.alerts import TELEGRAM_API_URL

V3_VARS = ("ASTER_USER", "ASTER_SIGNER", "ASTER_SIGNER_KEY")
V1_VARS = ("ASTER_API_KEY", "ASTER_API_SECRET")


class Credentials(NamedTuple):
    signer: Signer
    rest_url: str
    ws_url: str  # the market streams' host
    user_ws_url: str | None = None  # the user stream's host; None: ws_url


def read_telegram() -> tuple[str, str, str] | None:
    """Token, chat id and API base URL for Telegram alerts from the environment or .env; None when unset."""
    load_dotenv(Path.cwd() / ".env", override=False)
    token, chat = _env("TELEGRAM_BOT_TOKEN"), _env("TELEGRAM_CHAT_ID")
    if not token and not chat:
        return None
    if not (token and chat):
        missing = "TELEGRAM_CHAT_ID" if token else "TELEGRAM_BOT_TOKEN"
        raise ValueError(f"{missing} is not set: Telegram alerts need both TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID")
    api = _env("TELEGRAM_API_URL") or TELEGRAM_API_URL
    if not api.startswith(("http://", "https://")):
        raise ValueError(f"TELEGRAM_API_URL must start with http:// or https://, got {api!r}")
    return token, chat, api


def env_file_warning(folder: Path | None = None) -> str | None:
    """A warning when .env, which holds the API wallet's private key or the V1 secret, is open to other users."""
    path = (folder or Path.cwd()) / ".env"
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    if not mode & 0o077:
        return None
    return f"{path} holds your keys and other users of this machine can open it (mode {mode:o}): chmod 600 {path}"


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def paper_hosts(config: Config) -> tuple[str, str]:
    """The real exchange's REST host (the symbol's rules) and public WebSocket host (the feed) for --paper:
    ASTER_REST_URL, else the network's; --paper-feed-url, else ASTER_MARKET_WS_URL, else ASTER_WS_URL, else
    the network's market-stream host."""
    load_dotenv(Path.cwd() / ".env", override=False)
    network = NETWORKS[config.network]
    rest = _env("ASTER_REST_URL") or network.rest
    feed = config.paper_feed_url or _env("ASTER_MARKET_WS_URL") or _env("ASTER_WS_URL") or network.market_ws
    _check_urls(rest, [("--paper-feed-url or ASTER_MARKET_WS_URL or ASTER_WS_URL", feed)])
    return rest.rstrip("/"), feed.rstrip("/")


def ws_hosts(network: str) -> list[tuple[str, str]]:
    """The market-stream and user-stream hosts, each with the variable that set it: ASTER_MARKET_WS_URL and
    ASTER_USER_WS_URL each, else ASTER_WS_URL for both, else the network's (on the testnet the docs name two
    different hosts)."""
    hosts = NETWORKS[network]
    return [
        (own, _env(own)) if _env(own) else ("ASTER_WS_URL", _env("ASTER_WS_URL") or default)
        for own, default in (("ASTER_MARKET_WS_URL", hosts.market_ws), ("ASTER_USER_WS_URL", hosts.user_ws))
    ]


def _check_urls(rest: str, ws: list[tuple[str, str]]) -> None:
    for name, value, schemes in (
        ("ASTER_REST_URL", rest, ("http://", "https://")),
        *((name, url, ("ws://", "wss://")) for name, url in ws),
    ):
        if not value.startswith(schemes):
            raise ValueError(f"{name} must start with {' or '.join(schemes)}, got {value!r}")


def read_credentials(network: str = "mainnet", send_user: bool = True) -> Credentials:
    """The signer and the REST and WS URLs, from the environment, then .env (the environment wins).
    Exactly one complete set of credentials: a ValueError names what is missing or conflicting. `send_user`:
    V3 calls carry `user` besides `signer` (--v3-user)."""
    load_dotenv(Path.cwd() / ".env", override=False)
    v3 = {name: _env(name) for name in V3_VARS}
    v1 = {name: _env(name) for name in V1_VARS}
    has_v3, has_v1 = any(v3.values()), any(v1.values())
    if has_v3 and has_v1:
        named = [n for n, v in (v3 | v1).items() if v]
        raise ValueError(
            f"two sets of credentials ({', '.join(named)}): set either ASTER_USER, ASTER_SIGNER and "
            "ASTER_SIGNER_KEY (Pro API) or ASTER_API_KEY and ASTER_API_SECRET (V1), not both"
        )
    if not has_v3 and not has_v1:
        raise ValueError(
            "no credentials: set ASTER_USER, ASTER_SIGNER and ASTER_SIGNER_KEY (Pro API agent wallet) "
            "or ASTER_API_KEY and ASTER_API_SECRET (existing V1 keys), in the environment or in .env "
            "(see .env.example); --sim and --paper need none"
        )
    given = v3 if has_v3 else v1
    missing = [n for n, v in given.items() if not v]
    if missing:
        raise ValueError(
            f"{' and '.join(missing)} not set: {'V3' if has_v3 else 'V1'} credentials need {', '.join(given)}"
        )
    hosts = NETWORKS[network]
    if has_v1 and network != "mainnet":
        raise ValueError(
            f"--network {network} accepts Pro API (V3) credentials only, and ASTER_API_KEY is a V1 "
            "key: create an agent wallet on the testnet's API wallet page and set ASTER_USER, "
            "ASTER_SIGNER and ASTER_SIGNER_KEY"
        )
    signer: Signer = (
        Eip712Signer(v3["ASTER_USER"], v3["ASTER_SIGNER"], v3["ASTER_SIGNER_KEY"], hosts.chain_id, send_user)
        if has_v3
        else HmacSigner(v1["ASTER_API_KEY"], v1["ASTER_API_SECRET"])
    )
    rest = _env("ASTER_REST_URL") or hosts.rest
    ws = ws_hosts(network)
    _check_urls(rest, ws)
    (_, market), (_, user) = ws
    return Credentials(signer, rest, market.rstrip("/"), user.rstrip("/"))
