"""Backtesting the bot on recorded market data with hftbacktest; `backtest.py` is the command."""
