"""Predictive maintenance: sensor readings per asset in; remaining useful life with a band,
failure probability within a horizon, an anomaly score and when to maintain out.

Defaults: windows of 30 readings, RUL capped at 125, LightGBM on window features beside an
LSTM, a 1-D CNN and a transformer encoder (each pretrained on masked sensor segments, with
the no-pretraining ablation), their equal-weight ensemble; grouped holdout by asset; the
maintenance policy chosen from the predicted RUL distribution under the spec's costs.

The solution object is ``solution.SOLUTION``; this package imports nothing on its own.
"""
