"""Asset lives and their labels: readings split into lives at maintenance and failure events,
and each row's remaining life until its life's failure (censored when none)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def life_ids(frame: pd.DataFrame, asset: str, time: str, events: pd.DataFrame | None) -> np.ndarray:
    """One id per life: an asset's readings split after each maintenance or failure event."""
    assets = frame[asset].to_numpy(str)
    if events is None or events.empty:
        return assets
    segment = np.zeros(len(frame), dtype=int)
    for name, group in events.groupby("asset"):
        rows = np.flatnonzero(assets == str(name))
        if not len(rows):
            continue
        times = frame[time].to_numpy(float)[rows]
        segment[rows] = np.searchsorted(np.sort(group["time"].to_numpy(float)), times, "left")
    return np.array([f"{a}#{s}" if s else a for a, s in zip(assets, segment, strict=False)])


def remaining_life(
    frame: pd.DataFrame,
    asset: str,
    time: str,
    lives: np.ndarray,
    events: pd.DataFrame | None,
    *,
    run_to_failure: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Uncapped remaining life per row and whether the life ended in a failure.

    Without an events table, ``run_to_failure`` means every asset's last reading is its
    failure (C-MAPSS training data). With one, a life ends at its event: a failure labels
    its rows, a maintenance censors them (no RUL label, still used for pretraining).
    """
    times = frame[time].to_numpy(float)
    rul = np.full(len(frame), np.nan)
    failed = np.zeros(len(frame), dtype=bool)
    end_of_life: dict[str, tuple[float, bool]] = {}
    if events is not None and not events.empty:
        for name, group in events.groupby("asset"):
            ordered = group.sort_values("time")
            for number, (_, row) in enumerate(ordered.iterrows()):
                key = str(name) if number == 0 else f"{name}#{number}"
                end_of_life[key] = (float(row["time"]), row["event"] == "failure")
    frame_lives = pd.Series(lives)
    last_time = pd.Series(times).groupby(frame_lives).transform("max").to_numpy()
    for life in np.unique(lives):
        rows = lives == life
        if life in end_of_life:
            at, is_failure = end_of_life[life]
        elif events is None or events.empty:
            at, is_failure = last_time[rows][0], run_to_failure
        else:
            continue  # still running: censored
        if is_failure:
            rul[rows] = at - times[rows]
            failed[rows] = True
    return rul, failed
