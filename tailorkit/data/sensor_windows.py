"""Sliding windows over sensor rows, per asset (life), vectorized; short assets are padded at
the front with their first reading and flagged."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Windows:
    """Sliding windows over assets: ``values`` is (n, window, features), float32."""

    values: np.ndarray
    asset: np.ndarray  # asset (life) id of each window
    end: np.ndarray  # position of the window's last reading in the input rows
    padded: np.ndarray  # True where the asset had fewer readings than the window


def sliding_windows(
    values: np.ndarray,
    groups: np.ndarray,
    window: int,
    *,
    last_only: bool = False,
    stride: int = 1,
) -> Windows:
    """Every window of ``window`` consecutive rows within each group (rows sorted by group).

    A group shorter than the window yields windows padded at the front with its first row
    (flagged in ``padded``). ``last_only`` keeps one window per group, ending at its last row.
    """
    values = np.asarray(values, dtype=np.float32)
    groups = np.asarray(groups)
    if len(values) == 0:
        return Windows(np.zeros((0, window, values.shape[1]), np.float32), groups[:0], [], [])
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    stops = np.r_[starts[1:], len(groups)]
    index_blocks, pad_flags, ends = [], [], []
    offsets = np.arange(-window + 1, 1)
    for start, stop in zip(starts, stops, strict=False):
        last = np.arange(stop - 1, start - 1, -stride)[::-1]
        if last_only:
            last = last[-1:]
        positions = np.clip(last[:, None] + offsets[None, :], start, None)
        index_blocks.append(positions)
        pad_flags.append(np.full(len(last), stop - start < window))
        ends.append(last)
    index = np.concatenate(index_blocks)
    end = np.concatenate(ends)
    return Windows(
        values=values[index], asset=groups[end], end=end, padded=np.concatenate(pad_flags)
    )
