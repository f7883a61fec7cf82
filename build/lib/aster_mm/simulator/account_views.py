"""How the account looks on the wire, in the shapes of the V3 doc's examples: "Position Information v3"
(positionRisk), "Futures Account Balance v3" (balance), "Account Information v3" (account), and the user
stream's "Event: Balance and Position Update" (ACCOUNT_UPDATE). Fields the docs do not show (Binance's
`notional`, `isolatedWallet`) are left out, so a client does not come to rely on them.
"""

from __future__ import annotations

from decimal import Decimal

from .accounts import MAX_NOTIONAL, Accounts
from .orders import Order
from .wire import ZERO, fmt


def position_rows(acc: Accounts, symbol: str) -> list[dict]:
    """positionRisk rows of a symbol: BOTH in one-way mode, LONG and SHORT in hedge mode."""
    row = position_dict(acc, symbol)
    if not acc.dual_side:
        return [row]
    amt = acc.positions[symbol].amt
    return [
        {**row, "positionSide": "LONG", "positionAmt": fmt(max(amt, ZERO))},
        {**row, "positionSide": "SHORT", "positionAmt": fmt(min(amt, ZERO))},
    ]


def position_dict(acc: Accounts, symbol: str) -> dict:
    pos, mark = acc.positions[symbol], acc.mark(symbol)
    return {
        "entryPrice": fmt(round(pos.entry, 8)),
        "marginType": pos.margin_type,
        "isAutoAddMargin": "false",
        "isolatedMargin": "0",
        "leverage": str(pos.leverage),
        "liquidationPrice": "0",
        "markPrice": fmt(round(mark, 8)),
        "maxNotionalValue": fmt(MAX_NOTIONAL),
        "positionAmt": fmt(pos.amt),
        "symbol": symbol,
        "unRealizedProfit": fmt(round(acc.unrealized(symbol), 8)),
        "positionSide": "BOTH",
        "updateTime": pos.update_time if acc.stamp_positions else 0,
    }


def account_update(acc: Accounts, symbol: str, now: int, t: int) -> dict:
    balances = [{"a": a, "wb": fmt(w), "cw": fmt(w), "bc": "0"} for a, w in acc.wallet.items()]
    return {
        "e": "ACCOUNT_UPDATE",
        "E": now,
        "T": t,
        "a": {"m": "ORDER", "B": balances, "P": [position_event(acc, symbol)]},
    }


def balance_update(acc: Accounts, reason: str, symbol: str, amount: Decimal, now: int) -> dict:
    """The ACCOUNT_UPDATE of a payment into the USDT wallet (funding, a reward). The doc, "Event: Balance and
    Position Update": for funding in a crossed position only the balance of that asset, no `P`; in an
    isolated one also that position. `bc` is the balance change (it is not PnL or commission)."""
    wallet = acc.wallet["USDT"]
    update: dict = {"m": reason, "B": [{"a": "USDT", "wb": fmt(wallet), "cw": fmt(wallet), "bc": fmt(amount)}]}
    if reason == "FUNDING_FEE" and acc.positions[symbol].margin_type == "isolated":
        update["P"] = [position_event(acc, symbol)]
    return {"e": "ACCOUNT_UPDATE", "E": now, "T": now, "a": update}


def position_event(acc: Accounts, symbol: str) -> dict:
    pos = acc.positions[symbol]
    return {
        "s": symbol,
        "pa": fmt(pos.amt),
        "ep": fmt(round(pos.entry, 8)),
        "cr": fmt(pos.realized),
        "up": fmt(round(acc.unrealized(symbol), 8)),
        "mt": pos.margin_type,
        "iw": "0",
        "ps": "BOTH",
    }


def balance_rows(acc: Accounts, open_orders: list[Order], now: int) -> list:
    """The body of GET /fapi/v3/balance."""
    upnl = acc.total_unrealized()
    return [
        {
            "accountAlias": "SimAccount",
            "asset": a,
            "balance": fmt(w),
            "crossWalletBalance": fmt(w),
            "crossUnPnl": fmt(round(upnl if a == "USDT" else ZERO, 8)),
            "availableBalance": fmt(round(acc.asset_available(a, open_orders), 8)),
            "maxWithdrawAmount": fmt(round(acc.asset_available(a, open_orders), 8)),
            "marginAvailable": True,
            "updateTime": now,
        }
        for a, w in acc.wallet.items()
    ]


def _asset(acc: Accounts, asset: str, wallet: Decimal, open_orders: list[Order], now: int) -> dict:
    upnl = acc.total_unrealized() if asset == "USDT" else ZERO
    available = fmt(round(acc.asset_available(asset, open_orders), 8))
    return {
        "asset": asset,
        "walletBalance": fmt(wallet),
        "unrealizedProfit": fmt(round(upnl, 8)),
        "marginBalance": fmt(round(wallet + upnl, 8)),
        "maintMargin": "0",
        "initialMargin": "0",
        "positionInitialMargin": "0",
        "openOrderInitialMargin": "0",
        "crossWalletBalance": fmt(wallet),
        "crossUnPnl": "0",
        "availableBalance": available,
        "maxWithdrawAmount": available,
        "marginAvailable": True,
        "updateTime": now,
    }


def _account_position(acc: Accounts, symbol: str) -> dict:
    d = position_dict(acc, symbol)
    return {
        "symbol": symbol,
        "initialMargin": "0",
        "maintMargin": "0",
        "unrealizedProfit": d["unRealizedProfit"],
        "positionInitialMargin": "0",
        "openOrderInitialMargin": "0",
        "leverage": d["leverage"],
        "isolated": acc.positions[symbol].margin_type == "isolated",
        "entryPrice": d["entryPrice"],
        "maxNotional": d["maxNotionalValue"],
        "positionSide": "BOTH",
        "positionAmt": d["positionAmt"],
        "updateTime": d["updateTime"],
    }


def account_body(acc: Accounts, open_orders: list[Order], now: int) -> dict:
    """The body of GET /fapi/v3/accountWithJoinMargin (V1: GET /fapi/v4/account)."""
    upnl = acc.total_unrealized()
    wallet = sum(acc.wallet.values(), ZERO)
    pos_margin, order_margin = acc.position_margin(), acc.order_margin(open_orders)
    avail = round(max(ZERO, acc.available(open_orders)), 8)
    return {
        "feeTier": 0,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "updateTime": 0,
        "totalInitialMargin": fmt(round(pos_margin + order_margin, 8)),
        "totalMaintMargin": "0",
        "totalWalletBalance": fmt(wallet),
        "totalUnrealizedProfit": fmt(round(upnl, 8)),
        "totalMarginBalance": fmt(round(wallet + upnl, 8)),
        "totalPositionInitialMargin": fmt(round(pos_margin, 8)),
        "totalOpenOrderInitialMargin": fmt(round(order_margin, 8)),
        "totalCrossWalletBalance": fmt(wallet),
        "totalCrossUnPnl": fmt(round(upnl, 8)),
        "availableBalance": fmt(avail),
        "maxWithdrawAmount": fmt(avail),
        "assets": [_asset(acc, a, w, open_orders, now) for a, w in acc.wallet.items()],
        "positions": [_account_position(acc, s) for s in acc.symbols],
    }
