"""Alerts reach a local server standing in for a Slack/Discord webhook and for Telegram: coalesced,
rate-limited, retried a bounded number of times, never holding up shutdown, never showing a secret."""

from __future__ import annotations

import asyncio
import logging
import signal
import time

import pytest
from aiohttp import web
from helpers import SYMBOL, BotRun, run_cli, wait_open

from aster_mm.ops.alerts import Alerts, telegram_sink, webhook_sink
from aster_mm.ops.unattended import Ops, OpsSettings

TOKEN = "123456:AAH-very-secret-bot-token"
CHAT = "-1001234"


class AlertServer:
    """Records what arrives at /hook (webhook) and /bot<token>/sendMessage (Telegram)."""

    def __init__(self):
        self.received: list[tuple[str, dict]] = []
        self.statuses: list[int] = []  # answers to give, in order; then 200
        self.hang = False
        self.release = asyncio.Event()
        self.arrived = asyncio.Condition()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        kind = "telegram" if request.path == f"/bot{TOKEN}/sendMessage" else "webhook"
        async with self.arrived:
            self.received.append((kind, body))
            self.arrived.notify_all()
        if self.hang:
            await self.release.wait()
        return web.json_response({"ok": True}, status=self.statuses.pop(0) if self.statuses else 200)

    def texts(self, kind: str) -> list[str]:
        return [b["text"] for k, b in self.received if k == kind]

    async def wait(self, predicate, timeout: float = 10.0) -> None:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(predicate), timeout)


@pytest.fixture
async def server():
    srv = AlertServer()
    app = web.Application()
    app.router.add_post("/hook", srv.handle)
    app.router.add_post("/bot{token}/sendMessage", srv.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    srv.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    yield srv
    srv.release.set()
    await runner.cleanup()


def sinks(server):
    return [webhook_sink(f"{server.url}/hook"), telegram_sink(TOKEN, CHAT, server.url)]


async def test_both_destinations_get_the_text_in_their_own_shape(server):
    async with Alerts(sinks(server), "aster-mm ETHUSDT") as alerts:
        alerts.send("halted: daily loss limit")
        await server.wait(lambda: len(server.received) == 2)
    [(_, hook)] = [r for r in server.received if r[0] == "webhook"]
    [(_, tg)] = [r for r in server.received if r[0] == "telegram"]
    assert hook == {
        "text": "aster-mm ETHUSDT: halted: daily loss limit",
        "content": "aster-mm ETHUSDT: halted: daily loss limit",
    }
    assert tg["chat_id"] == CHAT and tg["text"] == hook["text"]


async def test_identical_alerts_are_coalesced_and_the_rate_is_limited(server):
    alerts = Alerts([webhook_sink(f"{server.url}/hook")], per_minute=2)
    for _ in range(3):
        alerts.send("market stream down")  # queued before the sender runs: one message
    alerts.send("user stream down")
    alerts.send("third distinct message")
    await alerts.__aenter__()
    await server.wait(lambda: len(server.received) == 2)
    assert server.texts("webhook") == ["aster-mm: market stream down (x3)", "aster-mm: user stream down"]
    started = time.monotonic()
    await alerts.close(flush_for=0.2)  # the third waits for the next minute; close does not
    assert time.monotonic() - started < 1.0
    assert len(server.received) == 2


async def test_a_failing_destination_is_retried_a_bounded_number_of_times(server):
    server.statuses = [500, 502]
    async with Alerts([webhook_sink(f"{server.url}/hook")], retry_delay=0.01) as alerts:
        alerts.send("one")
        await server.wait(lambda: len(server.received) == 3)  # two failures, then delivered
        server.statuses = [500, 500, 500, 500]
        alerts.send("two")
        await server.wait(lambda: len(server.received) == 6)
        assert alerts.metrics.alerts == {"sent": 1, "failed": 1, "dropped": 0}
        server.statuses = [400]  # a bad request: no retry
        alerts.send("three")
        alerts.send("four")
        await server.wait(lambda: len(server.received) == 8)
    assert server.texts("webhook")[-2:] == ["aster-mm: three", "aster-mm: four"]


async def test_a_hanging_destination_never_holds_up_shutdown(server):
    server.hang = True
    alerts = Alerts([webhook_sink(f"{server.url}/hook")])
    await alerts.__aenter__()
    alerts.send("stopped")
    await server.wait(lambda: len(server.received) == 1)
    started = time.monotonic()
    await alerts.close(flush_for=0.3)
    assert time.monotonic() - started < 1.0


async def test_the_token_and_the_webhook_url_never_appear_in_text_or_log(server, caplog):
    caplog.set_level(logging.DEBUG)
    server.statuses = [401]
    async with Alerts(sinks(server), retry_delay=0.01) as alerts:
        alerts.send(f"error mentioning {TOKEN} and {server.url}/hook")
        await server.wait(lambda: len(server.received) == 2)
        assert repr(alerts.sinks[1]) == "Sink(name='telegram')"
    for _, body in server.received:
        assert TOKEN not in body["text"] and "/hook" not in body["text"]
    assert "alert to webhook failed (HTTP 401)" in caplog.text
    assert TOKEN not in caplog.text and "/hook" not in caplog.text


async def test_close_only_and_a_long_stream_outage_are_alerted(sim, server):
    ops = Ops(OpsSettings(stream_alert_after=0.5, watch_every=0.05), sinks=sinks(server)[:1], prefix="mm")
    async with ops, BotRun(sim, ops=ops) as bot:
        await server.wait(lambda: any(t.startswith("mm: started: mode=BUY") for t in server.texts("webhook")))
        await wait_open(sim, "BUY")
        await sim.fill_order(SYMBOL)
        await wait_open(sim, "SELL")
        await sim.liquidate(SYMBOL, "2300")
        await server.wait(lambda: any("CLOSE-ONLY: liquidation/ADL fill" in t for t in server.texts("webhook")))
        assert "liquidation" in bot.state.close_only
        sim.refuse_streams("market")
        await sim.drop_streams("market")
        await server.wait(lambda: any("market stream down for" in t for t in server.texts("webhook")))
        sim.refuse_streams("market", refuse=False)
        await server.wait(lambda: any("market stream back after" in t for t in server.texts("webhook")))
    assert server.texts("webhook")[-1].startswith("mm: stopped: left open: nothing")


async def test_the_service_alerts_start_stop_and_a_fatal_error(sim, bot_env, tmp_path, server):
    env = {**bot_env, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": CHAT, "TELEGRAM_API_URL": server.url}
    args = ("--alert-webhook", f"{server.url}/hook", "--log-file", str(tmp_path / "mm.log"))
    proc = await run_cli("--symbol", SYMBOL, *args, env=env, cwd=tmp_path)
    await server.wait(lambda: len(server.received) == 2, timeout=15)
    assert all(
        t.startswith(f"aster-mm {SYMBOL}: started: mode=BUY")
        for t in server.texts("webhook") + server.texts("telegram")
    )
    await wait_open(sim, "BUY")
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 15) == 0
    assert server.texts("telegram")[-1].startswith(f"aster-mm {SYMBOL}: stopped: left open: nothing")
    assert server.texts("webhook")[-1] == server.texts("telegram")[-1]

    proc = await run_cli("--symbol", "NOSUCHUSDT", *args, env=env, cwd=tmp_path)
    assert await asyncio.wait_for(proc.wait(), 15) == 1
    assert "FATAL" in server.texts("telegram")[-1] and "NOSUCHUSDT" in server.texts("telegram")[-1]
    log = (tmp_path / "mm.log").read_text()
    assert TOKEN not in log and "/hook" not in log


def test_telegram_needs_both_variables(monkeypatch, tmp_path, capsys):
    import market_maker as mm

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.delenv("TELEGRAM_CHAT_ID", raising=False)
    with pytest.raises(SystemExit) as info:
        mm.main(["--symbol", SYMBOL, "--sim"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "TELEGRAM_CHAT_ID" in err and TOKEN not in err


def test_a_bad_webhook_url_exits_2_without_echoing_it(capsys):
    import market_maker as mm

    with pytest.raises(SystemExit) as info:
        mm.main(["--symbol", SYMBOL, "--sim", "--alert-webhook", "ftp://secret-hook"])
    assert info.value.code == 2 and "secret-hook" not in capsys.readouterr().err
