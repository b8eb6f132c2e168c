"""Users without history get the items popular in their segments (region, age band, ...).

A segment is one value of one user attribute (``region=North``); its popularity is the share
of the segment's users who had each item. A user with no history but known attributes is
scored by the mean popularity of their segments; segments with fewer than ``MIN_USERS``
users are skipped. The solution keeps this fallback only where it beats global popularity
on the validation cases ranked as if those users were new.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tailorkit.data.interactions import normalize_ids
from tailorkit.errors import DataError
from tailorkit.evaluate.ranking import seen_mask, target_ranks

MAX_LEVELS = 50  # columns chosen automatically: 2 to 50 distinct values
MIN_USERS = 20


def read_user_attributes(
    table: pd.DataFrame, source: str, user_col: str, columns: list[str] | None
) -> tuple[pd.DataFrame, list[str]]:
    """The segment columns as strings ("" when missing), one row per user id, and warnings.

    ``columns=None`` takes every attribute with 2 to ``MAX_LEVELS`` distinct values."""
    if user_col not in table.columns:
        raise DataError(f"{source}: user id column '{user_col}' not found")
    if columns is None:
        columns = [
            c
            for c in table.columns
            if c != user_col and 2 <= table[c].nunique(dropna=True) <= MAX_LEVELS
        ]
    for column in columns:
        if column not in table.columns:
            raise DataError(f"{source}: column '{column}' (data.user_segments) not found")
    ids = pd.Series(normalize_ids(table[user_col]))
    warnings = []
    duplicated = ids.duplicated()
    if duplicated.any():
        row = int(np.argmax(duplicated.to_numpy())) + 2
        warnings.append(
            f"{source}: {int(duplicated.sum())} repeated user ids (first at row {row}); "
            "the first row of each is used"
        )
    values = table[columns].astype("string").fillna("").apply(lambda s: s.str.strip())
    values.index = ids
    return values[~duplicated.to_numpy()], warnings


@dataclass
class UserSegments:
    """Per-segment item popularity and each user's segment values."""

    columns: list[str]
    keys: list[str]  # "column=value" for each row of ``popularity``
    popularity: np.ndarray  # (segments, items): share of the segment's users with the item
    values: dict[str, list[str]]  # user id -> one value per column
    _rows: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rows = {key: i for i, key in enumerate(self.keys)}

    def segments_of(self, values: list[str]) -> list[str]:
        keys = (f"{c}={v}" for c, v in zip(self.columns, values, strict=True) if v != "")
        return [key for key in keys if key in self._rows]

    def scores(self, values: list[str]) -> np.ndarray | None:
        """Mean popularity of the segments these values fall in (None: no usable segment)."""
        rows = [self._rows[key] for key in self.segments_of(values)]
        return self.popularity[rows].mean(axis=0) if rows else None

    def state(self) -> dict:
        return {"columns": self.columns, "keys": self.keys, "values": self.values}

    @classmethod
    def from_state(cls, state: dict, popularity: np.ndarray) -> UserSegments:
        return cls(state["columns"], state["keys"], popularity, state["values"])


def fit_segments(
    attributes: pd.DataFrame, user_ids: np.ndarray, sequences: list[np.ndarray], n_items: int
) -> UserSegments:
    """Segment popularity from the users' sequences (``sequences[i]`` is ``user_ids[i]``'s)."""
    aligned = attributes.reindex(pd.Index(user_ids, dtype=object)).fillna("")
    keys, rows = [], []
    for column in attributes.columns:
        for value, members in aligned.groupby(column).indices.items():
            if value == "" or len(members) < MIN_USERS:
                continue
            had = [np.unique(sequences[i]) for i in members if len(sequences[i])]
            counts = np.bincount(np.concatenate(had), minlength=n_items) if had else 0
            keys.append(f"{column}={value}")
            rows.append(np.asarray(counts, dtype=np.float32) / len(members))
    popularity = np.stack(rows) if rows else np.zeros((0, n_items), np.float32)
    known = set(user_ids)  # users with history are scored by the model: keep the others
    values = {
        str(u): [str(v) for v in row]
        for u, row in zip(attributes.index, attributes.to_numpy(), strict=True)
        if u not in known
    }
    return UserSegments(list(attributes.columns), keys, popularity, values)


def rank_as_new_users(
    segments: UserSegments,
    attributes: pd.DataFrame,
    user_ids: np.ndarray,
    cases,
    popularity: np.ndarray,
    exclude_seen: bool,
    chunk: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """Target ranks of ``cases`` scored as if their users were new: by global popularity,
    and by their segments' popularity (global where they have no usable segment)."""
    popularity = np.asarray(popularity, np.float64)
    aligned = attributes.reindex(pd.Index(user_ids[cases.users], dtype=object)).fillna("")
    values = [[str(v) for v in row] for row in aligned.to_numpy()]
    overall, by_segment = [], []
    for start in range(0, len(cases), chunk):
        stop = min(start + chunk, len(cases))
        targets = cases.targets[start:stop]
        excluded = seen_mask(cases.histories[start:stop], len(popularity)) if exclude_seen else None
        scores = np.tile(popularity, (stop - start, 1))
        overall.append(target_ranks(scores, targets, excluded))
        for i in range(start, stop):
            mine = segments.scores(values[i])
            if mine is not None:
                scores[i - start] = mine
        by_segment.append(target_ranks(scores, targets, excluded))
    empty = np.zeros(0, np.int64)
    return (
        np.concatenate(overall) if overall else empty,
        np.concatenate(by_segment) if by_segment else empty,
    )
