"""The floor of a requote: a bare client that sends the requests of a requote and does nothing else.

    python -m benchmarking.floor --symbol ETHUSDT      # credentials and hosts from ASTER_* as for the bot

It reads the same credentials as the bot (V1 HMAC or V3 EIP-712), talks through the same `AsterClient`
and holds the same streams open (the market streams, and the user stream so the exchange does the same
work for each request; its frames are read and dropped). On each depth frame that moves its target price it sends what
the bot sends for that requote: on V3 one Modify Order (PUT), on V1 a cancel (DELETE) and, once that is
answered, the new order (POST). No state machine, no position, no checks, no metrics, no logging: what
the bot takes beyond this is the bot's own share of a requote.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from decimal import ROUND_DOWN, Decimal

import websockets

from aster_mm.core.kinds import Side
from aster_mm.exchange.client import AsterClient
from aster_mm.live.credentials import read_credentials

SPREAD = Decimal("0.006")  # the bot's default --buy-spread, so the prices are the ones it sends
QTY = Decimal("0.01")


class Floor:
    def __init__(self, client: AsterClient, symbol: str, tick: Decimal, modify: bool = True):
        self.client, self.symbol, self.tick = client, symbol, tick
        self.modifies = modify and client.can_modify
        self.seq = 0
        self.client_id = ""
        self.price: Decimal | None = None

    def target(self, raw: str | bytes) -> Decimal | None:
        """The BUY price for a depth frame (None for any other frame)."""
        data = json.loads(raw).get("data", {})
        if data.get("e") != "depthUpdate":
            return None
        mid = (Decimal(data["b"][0][0]) + Decimal(data["a"][0][0])) / 2
        return (mid * (1 - SPREAD)).quantize(self.tick, ROUND_DOWN)

    async def requote(self, price: Decimal) -> None:
        if self.price is not None and self.modifies:
            await self.client.modify_order(self.symbol, self.client_id, QTY, price)
        else:
            if self.price is not None:
                await self.client.cancel_order(self.symbol, client_order_id=self.client_id)
            self.seq += 1
            self.client_id = f"floor-{self.seq}"
            await self.client.place_limit(self.symbol, Side.BUY, QTY, price, self.client_id)
        self.price = price

    async def run(self, ws_url: str) -> None:
        name = self.symbol.lower()
        listen_key = await self.client.new_listen_key()
        async with (
            websockets.connect(f"{ws_url}/ws/{listen_key}", max_size=2**22) as user,
            websockets.connect(
                f"{ws_url}/stream?streams={name}@depth5@100ms/{name}@markPrice@1s", max_size=2**22
            ) as market,
        ):
            drain = asyncio.create_task(self.drain(user))
            async for raw in market:
                price = self.target(raw)
                if price is not None and price != self.price:
                    await self.requote(price)
            drain.cancel()

    @staticmethod
    async def drain(ws) -> None:
        async for _ in ws:
            pass


async def main(symbol: str, modify: bool) -> None:
    creds = read_credentials()
    async with AsterClient(signer=creds.signer, rest_url=creds.rest_url) as client:
        await client.sync_time()
        rules = await client.symbol_rules(symbol)
        await client.cancel_all(symbol)
        task = asyncio.create_task(Floor(client, symbol, rules.tick, modify).run(creds.ws_url.rstrip("/")))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass
        await client.cancel_all(symbol)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--symbol", required=True)
    p.add_argument(
        "--no-modify", dest="modify", action="store_false", help="V3: cancel then place, as the bot's --no-modify"
    )
    args = p.parse_args()
    asyncio.run(main(args.symbol, args.modify))
