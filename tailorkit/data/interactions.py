"""Interaction logs for recommendation: ids mapped, timestamps parsed, events weighted,
duplicates removed and the item catalogue joined.

Every event is ``(user, item, time)`` with an optional event type (weighted) and value
(a number that multiplies the event's weight; events with a value <= 0 are dropped).
Users and items become dense integer codes; each user's events are ordered by time with
a stable sort (ties keep file order), which is the sequence every model and split uses.
Timestamps are parsed by ``timestamps``, item rules live in ``item_rules`` and the
evaluation splits in ``rec_splits``; their public names are importable from here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tailorkit.data.item_rules import Rule, blocked_items, parse_rule
from tailorkit.data.rec_splits import (
    EvalCases,
    Split,
    leave_one_out,
    temporal_split,
    withhold_items,
)
from tailorkit.data.timestamps import parse_timestamps
from tailorkit.errors import DataError, SpecError

__all__ = [
    "EvalCases",
    "Interactions",
    "Rule",
    "Split",
    "blocked_items",
    "build_interactions",
    "leave_one_out",
    "normalize_ids",
    "parse_rule",
    "parse_timestamps",
    "temporal_split",
    "withhold_items",
]


@dataclass
class Interactions:
    """The cleaned log: per-event codes sorted by (user, time, file order) plus the catalogue."""

    user_ids: np.ndarray  # original user id per user code (as strings)
    item_ids: np.ndarray  # original item id per item code (as strings)
    users: np.ndarray  # user code per event
    items: np.ndarray  # item code per event
    times: np.ndarray  # seconds since the epoch per event
    weights: np.ndarray  # event weight per event
    item_text: list[str]  # one text per item code ("" when none)
    item_table: pd.DataFrame | None  # catalogue rows aligned to item codes (None: no table)
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    def sequences(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Each user's items and times in time order (index = user code)."""
        return self._per_user(self.items), self._per_user(self.times)

    def weight_sequences(self) -> list[np.ndarray]:
        """Each user's event weights, aligned with ``sequences()``."""
        return self._per_user(self.weights)

    def _per_user(self, values: np.ndarray) -> list[np.ndarray]:
        return np.split(values, np.searchsorted(self.users, np.arange(1, self.n_users)))

    def item_index(self) -> dict[str, int]:
        return {item: code for code, item in enumerate(self.item_ids)}

    def user_index(self) -> dict[str, int]:
        return {user: code for code, user in enumerate(self.user_ids)}


def build_interactions(
    events: pd.DataFrame,
    *,
    source: str,
    user_col: str,
    item_col: str,
    time_col: str,
    event_col: str | None = None,
    event_weights: dict[str, float] | None = None,
    value_col: str | None = None,
    repeats: str = "first",
    items: pd.DataFrame | None = None,
    items_source: str = "items",
    item_key: str | None = None,
    text_columns: list[str] | None = None,
) -> Interactions:
    """Clean an event table and join the item catalogue; problems are DataErrors naming
    file, row and column, or counted warnings when the rows can still be used."""
    for column in (user_col, item_col, time_col, event_col, value_col):
        if column and column not in events.columns:
            raise DataError(
                f"{source}: column '{column}' not found; columns are {', '.join(events.columns)}"
            )
    warnings: list[str] = []
    counts: dict[str, int] = {"rows": len(events)}
    frame = _event_frame(events, source, user_col, item_col, time_col)
    frame["weight"] = _event_weights(events, event_col, event_weights, source, warnings)
    if event_col:
        frame["event"] = events[event_col].astype(str).to_numpy()
    if value_col:  # quantity, amount, rating: scales the event's weight
        frame = _scaled_by_values(frame, events[value_col], source, value_col, warnings, counts)
    frame = _without_duplicates(frame, source, event_col, warnings, counts)
    frame = frame.sort_values(["user", "time", "row"], kind="stable")
    frame = _merged_repeats(frame, repeats, counts)
    catalogue, item_text, table = _catalogue(
        frame["item"], items, items_source, item_key, text_columns, warnings, counts
    )
    user_ids = np.array(sorted(frame["user"].unique(), key=_natural), dtype=object)
    frame = _coded(frame, user_ids, catalogue)
    _count_coded(frame, user_ids, catalogue, source, warnings, counts)
    return Interactions(
        user_ids=user_ids,
        item_ids=np.array(catalogue, dtype=object),
        users=frame["ucode"].to_numpy(np.int64),
        items=frame["icode"].to_numpy(np.int64),
        times=frame["time"].to_numpy(np.float64),
        weights=frame["weight"].to_numpy(np.float32),
        item_text=item_text,
        item_table=table,
        counts=counts,
        warnings=warnings,
    )


def _event_frame(
    events: pd.DataFrame, source: str, user_col: str, item_col: str, time_col: str
) -> pd.DataFrame:
    """User and item ids, timestamps in seconds and the file row of every event."""
    return pd.DataFrame(
        {
            "user": _ids(events[user_col], source, user_col),
            "item": _ids(events[item_col], source, item_col),
            "time": parse_timestamps(events[time_col], source, time_col),
            "row": np.arange(len(events)),
        }
    )


def _scaled_by_values(
    frame: pd.DataFrame,
    raw: pd.Series,
    source: str,
    value_col: str,
    warnings: list[str],
    counts: dict[str, int],
) -> pd.DataFrame:
    """Weights multiplied by the value column; events with a value <= 0 dropped."""
    values = _event_values(raw, source, value_col)
    frame["weight"] *= values
    spent = values <= 0
    counts["non_positive_values"] = int(spent.sum())
    if spent.any():
        warnings.append(
            f"{source}: {int(spent.sum())} events with {value_col} <= 0 (returns, zero "
            "quantities) dropped"
        )
        frame = frame[~spent]
    return frame


def _without_duplicates(
    frame: pd.DataFrame,
    source: str,
    event_col: str | None,
    warnings: list[str],
    counts: dict[str, int],
) -> pd.DataFrame:
    """Exact repeats of an event (same user, item, time and event type) dropped."""
    key = ["user", "item", "time"] + (["event"] if event_col else [])
    exact = frame.duplicated(subset=key, keep="first")
    counts["duplicate_events"] = int(exact.sum())
    if exact.any():
        warnings.append(
            f"{source}: {int(exact.sum())} duplicate events (same user, item, time"
            f"{', event' if event_col else ''}) dropped"
        )
        frame = frame[~exact.to_numpy()]
    return frame


def _merged_repeats(frame: pd.DataFrame, repeats: str, counts: dict[str, int]) -> pd.DataFrame:
    """``repeats: first`` keeps a user's first event per item, carrying the summed weight."""
    if repeats == "first":
        again = frame.duplicated(subset=["user", "item"], keep="first")
        if again.any():
            # the repeat's weight adds to the first event (a bought-twice item counts more)
            totals = frame.groupby(["user", "item"], sort=False)["weight"].transform("sum")
            frame = frame.assign(weight=totals)[~again.to_numpy()]
        counts["repeat_interactions_merged"] = int(again.sum())
    elif repeats != "keep":
        raise SpecError(f"data.repeats must be 'first' or 'keep' (got {repeats!r})")
    return frame


def _coded(frame: pd.DataFrame, user_ids: np.ndarray, catalogue: list[str]) -> pd.DataFrame:
    """User and item codes added; events sorted by (user code, time, file row)."""
    user_code = {u: i for i, u in enumerate(user_ids)}
    item_code = {it: i for i, it in enumerate(catalogue)}
    frame = frame.assign(
        ucode=frame["user"].map(user_code).to_numpy(), icode=frame["item"].map(item_code)
    )
    return frame.sort_values(["ucode", "time", "row"], kind="stable")


def _count_coded(
    frame: pd.DataFrame,
    user_ids: np.ndarray,
    catalogue: list[str],
    source: str,
    warnings: list[str],
    counts: dict[str, int],
) -> None:
    """Users, items and interactions counted; single-interaction users warned about."""
    per_user = np.bincount(frame["ucode"].to_numpy(), minlength=len(user_ids))
    counts["users"] = len(user_ids)
    counts["items"] = len(catalogue)
    counts["interactions"] = len(frame)
    counts["single_interaction_users"] = int((per_user == 1).sum())
    if counts["single_interaction_users"]:
        warnings.append(
            f"{source}: {counts['single_interaction_users']} users have a single interaction; "
            "they are used for training and excluded from evaluation"
        )


def _natural(value: str):
    """Sort numeric-looking ids numerically, then the rest as text."""
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def _ids(values: pd.Series, source: str, column: str) -> np.ndarray:
    missing = values.isna().to_numpy()
    if missing.any():
        row = int(np.argmax(missing)) + 2
        raise DataError(
            f"{source} row {row}: column '{column}' is empty ({int(missing.sum())} rows); "
            "every interaction needs a user and an item"
        )
    return normalize_ids(values)


def normalize_ids(values: pd.Series) -> np.ndarray:
    """Ids as strings; floats that are whole numbers lose their '.0' (17850.0 -> '17850')."""
    if pd.api.types.is_float_dtype(values):
        whole = np.isfinite(values) & (values == np.round(values))
        if bool(whole.all()):
            return values.astype(np.int64).astype(str).to_numpy(dtype=object)
    return values.astype(str).str.strip().to_numpy(dtype=object)


def _event_weights(
    events: pd.DataFrame,
    event_col: str | None,
    weights: dict[str, float] | None,
    source: str,
    warnings: list[str],
) -> np.ndarray:
    if not event_col:
        return np.ones(len(events), dtype=np.float32)
    kinds = events[event_col].astype(str).str.strip().str.lower()
    table = {str(k).lower(): float(v) for k, v in (weights or {}).items()}
    if not table:
        return np.ones(len(events), dtype=np.float32)
    unknown = ~kinds.isin(list(table))
    if unknown.any():
        names = ", ".join(sorted(kinds[unknown].unique())[:5])
        warnings.append(
            f"{source}: {int(unknown.sum())} events of types without a weight ({names}) "
            "get weight 1"
        )
    return kinds.map(table).fillna(1.0).to_numpy(np.float32)


def _event_values(values: pd.Series, source: str, column: str) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(numbers)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(
            f"{source} row {row + 2}: column '{column}' value {values.iloc[row]!r} is not a "
            f"number ({int(bad.sum())} such rows); the value column must be numeric"
        )
    return numbers.astype(np.float32)


def _catalogue(
    event_items: pd.Series,
    items: pd.DataFrame | None,
    source: str,
    item_key: str | None,
    text_columns: list[str] | None,
    warnings: list[str],
    counts: dict[str, int],
) -> tuple[list[str], list[str], pd.DataFrame | None]:
    """Item codes: the catalogue's items (also those never interacted with: cold items),
    then items that appear only in the events (counted and warned)."""
    seen = sorted(pd.unique(event_items), key=_natural)
    if items is None:
        counts["items_missing_from_table"] = 0
        return list(seen), [""] * len(seen), None
    if not item_key or item_key not in items.columns:
        raise DataError(f"{source}: item id column '{item_key}' not found")
    table = items.copy()
    table["__id"] = normalize_ids(table[item_key])
    dupes = table["__id"].duplicated()
    if dupes.any():
        warnings.append(f"{source}: {int(dupes.sum())} repeated item ids; the first row is kept")
        table = table[~dupes.to_numpy()]
    listed = list(table["__id"])
    known = set(listed)
    missing = [i for i in seen if i not in known]
    counts["items_missing_from_table"] = len(missing)
    counts["catalogue_items_without_interactions"] = len(known - set(seen))
    if missing:
        example = ", ".join(missing[:3])
        warnings.append(
            f"{source}: {len(missing)} items in the interactions are missing from the item "
            f"table (e.g. {example}); they are kept, without text or attributes"
        )
    catalogue = listed + missing
    columns = [c for c in (text_columns or []) if c in table.columns]
    absent = [c for c in (text_columns or []) if c not in table.columns]
    if absent:
        raise DataError(f"{source}: text column(s) {', '.join(absent)} not found")
    texts = (
        table[columns].astype("string").fillna("").agg(" | ".join, axis=1).str.strip(" |")
        if columns
        else pd.Series([""] * len(table))
    )
    item_text = list(texts.astype(str)) + [""] * len(missing)
    counts["items_without_text"] = sum(1 for t in item_text if not t.strip())
    if columns and counts["items_without_text"]:
        warnings.append(
            f"{source}: {counts['items_without_text']} items have no text; they get the "
            "empty-text vector (no text signal)"
        )
    aligned = table.set_index("__id").reindex(catalogue)
    return catalogue, item_text, aligned
