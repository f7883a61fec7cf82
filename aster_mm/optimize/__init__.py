"""The walk-forward optimiser (`optimize.py`, `aster-mm-optimize`): Optuna's TPE over the bot's own options, each
trial a backtest of the bot's own decisions on the training days, each choice judged on the next day."""
