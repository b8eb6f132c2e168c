"""Interaction logs for recommendation: ids mapped, timestamps parsed, events weighted,
duplicates removed, the item catalogue joined, and the evaluation splits.

Every event is ``(user, item, time)`` with an optional event type (weighted) and value
(a number that multiplies the event's weight; events with a value <= 0 are dropped).
Users and items become dense integer codes; each user's events are ordered by time with
a stable sort (ties keep file order), which is the sequence every model and split uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import yaml

from tailorkit.errors import DataError, SpecError

_RULE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_ ]*?)\s*(==|!=|>=|<=|>|<|\bnot in\b|\bin\b)\s*(.+)$")
_EPOCH_UNITS = ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3))  # magnitude -> divisor to seconds


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


# ------------------------------------------------------------------ loading
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
    frame = pd.DataFrame(
        {
            "user": _ids(events[user_col], source, user_col),
            "item": _ids(events[item_col], source, item_col),
            "time": parse_timestamps(events[time_col], source, time_col),
            "row": np.arange(len(events)),
        }
    )
    frame["weight"] = _event_weights(events, event_col, event_weights, source, warnings)
    key = ["user", "item", "time"] + (["event"] if event_col else [])
    if event_col:
        frame["event"] = events[event_col].astype(str).to_numpy()
    if value_col:  # quantity, amount, rating: scales the event's weight
        values = _event_values(events[value_col], source, value_col)
        frame["weight"] *= values
        spent = values <= 0
        counts["non_positive_values"] = int(spent.sum())
        if spent.any():
            warnings.append(
                f"{source}: {int(spent.sum())} events with {value_col} <= 0 (returns, zero "
                "quantities) dropped"
            )
            frame = frame[~spent]
    exact = frame.duplicated(subset=key, keep="first")
    counts["duplicate_events"] = int(exact.sum())
    if exact.any():
        warnings.append(
            f"{source}: {int(exact.sum())} duplicate events (same user, item, time"
            f"{', event' if event_col else ''}) dropped"
        )
        frame = frame[~exact.to_numpy()]
    frame = frame.sort_values(["user", "time", "row"], kind="stable")
    if repeats == "first":
        again = frame.duplicated(subset=["user", "item"], keep="first")
        if again.any():
            # the repeat's weight adds to the first event (a bought-twice item counts more)
            totals = frame.groupby(["user", "item"], sort=False)["weight"].transform("sum")
            frame = frame.assign(weight=totals)[~again.to_numpy()]
        counts["repeat_interactions_merged"] = int(again.sum())
    elif repeats != "keep":
        raise SpecError(f"data.repeats must be 'first' or 'keep' (got {repeats!r})")

    catalogue, item_text, table = _catalogue(
        frame["item"], items, items_source, item_key, text_columns, warnings, counts
    )
    user_ids = np.array(sorted(frame["user"].unique(), key=_natural), dtype=object)
    user_code = {u: i for i, u in enumerate(user_ids)}
    item_code = {it: i for i, it in enumerate(catalogue)}
    frame = frame.assign(
        ucode=frame["user"].map(user_code).to_numpy(), icode=frame["item"].map(item_code)
    )
    frame = frame.sort_values(["ucode", "time", "row"], kind="stable")
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


def parse_timestamps(values: pd.Series, source: str, column: str) -> np.ndarray:
    """Seconds since the epoch from epoch numbers (s, ms, µs, ns) or date strings in any
    mix of formats; a value that is neither is a DataError naming its row."""
    if values.isna().any():
        row = int(np.argmax(values.isna().to_numpy())) + 2
        raise DataError(f"{source} row {row}: column '{column}' has no timestamp")
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.to_datetime(values, utc=True)
        return stamps.astype("int64").to_numpy() / 1e9 * _ns_scale(stamps)
    numeric = pd.to_numeric(values, errors="coerce")
    out = np.full(len(values), np.nan)
    is_number = numeric.notna().to_numpy()
    if is_number.any():
        out[is_number] = _epoch_seconds(numeric[is_number].to_numpy(np.float64))
    if (~is_number).any():
        text = values[~is_number].astype(str)
        parsed = pd.to_datetime(text, format="mixed", utc=True, errors="coerce")
        bad = parsed.isna().to_numpy()
        if bad.any():
            position = np.flatnonzero(~is_number)[np.argmax(bad)]
            raise DataError(
                f"{source} row {position + 2}: column '{column}' value "
                f"{values.iloc[position]!r} is not a date or epoch timestamp"
            )
        seconds = (parsed - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
        out[~is_number] = seconds.to_numpy(np.float64)
    return out


def _ns_scale(stamps: pd.Series) -> float:
    unit = getattr(stamps.dtype, "unit", "ns")
    return {"s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1.0}[unit]


def _epoch_seconds(numbers: np.ndarray) -> np.ndarray:
    """Epoch numbers in seconds; values in ms/µs/ns are recognised by their magnitude
    (each value on its own, so a column mixing units still parses)."""
    out = numbers.astype(np.float64).copy()
    size = np.abs(out)
    for magnitude, divisor in _EPOCH_UNITS:
        big = size >= magnitude
        out[big] = out[big] / divisor
        size[big] = 0.0
    return out


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


# -------------------------------------------------------------------- rules
@dataclass(frozen=True)
class Rule:
    """``column op value``: items matching it are never recommended (``in_stock == false``)."""

    text: str
    column: str
    op: str
    value: Any


def parse_rule(text: str) -> Rule:
    match = _RULE.match(str(text))
    if not match:
        raise SpecError(
            f"rule '{text}' must look like 'column == value' (==, !=, <, <=, >, >=, in, not in)"
        )
    column, op, raw = match[1].strip(), match[2], match[3].strip()
    value = yaml.safe_load(raw)
    if op in ("in", "not in") and not isinstance(value, list):
        raise SpecError(f"rule '{text}': '{op}' needs a list, e.g. [a, b]")
    return Rule(str(text).strip(), column, op, value)


def blocked_items(table: pd.DataFrame | None, rules: list[str], source: str) -> np.ndarray:
    """Boolean mask over item codes: True = filtered out by at least one rule."""
    if table is None:
        if rules:
            raise SpecError("rules need an item table (data.items)")
        return np.zeros(0, dtype=bool)
    blocked = np.zeros(len(table), dtype=bool)
    for rule in map(parse_rule, rules):
        if rule.column not in table.columns:
            raise DataError(f"{source}: rule '{rule.text}' names unknown column '{rule.column}'")
        blocked |= _matches(table[rule.column], rule)
    return blocked


def _matches(column: pd.Series, rule: Rule) -> np.ndarray:
    value = rule.value
    if isinstance(value, bool) or rule.op in ("in", "not in"):
        text = column.astype(str).str.strip().str.lower()
        wanted = [str(v).lower() for v in (value if isinstance(value, list) else [value])]
        hit = text.isin(wanted).to_numpy()
        if isinstance(value, bool):  # 0/1 columns count as booleans too
            hit = hit | text.isin(["1" if value else "0", "1.0" if value else "0.0"]).to_numpy()
        return ~hit if rule.op in ("!=", "not in") else hit
    if isinstance(value, (int, float)):
        numbers = pd.to_numeric(column, errors="coerce").to_numpy(np.float64)
        ops = {
            "==": np.equal,
            "!=": np.not_equal,
            ">": np.greater,
            ">=": np.greater_equal,
            "<": np.less,
            "<=": np.less_equal,
        }
        with np.errstate(invalid="ignore"):
            return ops[rule.op](numbers, value) & ~np.isnan(numbers)
    text = column.astype(str).str.strip()
    if rule.op == "==":
        return (text == str(value)).to_numpy()
    if rule.op == "!=":
        return (text != str(value)).to_numpy()
    raise SpecError(f"rule '{rule.text}': '{rule.op}' needs a number")


# ------------------------------------------------------------------- splits
@dataclass
class EvalCases:
    """Users to evaluate: their history before the target, and the target item."""

    users: np.ndarray
    histories: list[np.ndarray]
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.targets)

    def subset(self, keep: np.ndarray) -> EvalCases:
        index = np.flatnonzero(keep)
        return EvalCases(self.users[index], [self.histories[i] for i in index], self.targets[index])


@dataclass
class Split:
    """Training sequences (what models fit on) and the validation and test cases."""

    train: list[np.ndarray]
    train_times: list[np.ndarray]
    valid: EvalCases
    test: EvalCases
    protocol: str
    description: str
    counts: dict[str, int] = field(default_factory=dict)
    cold_items: np.ndarray | None = None  # boolean mask of items withheld from training
    train_weights: list[np.ndarray] | None = None  # event weights of the training sequences


def leave_one_out(
    sequences: list[np.ndarray], times: list[np.ndarray], weights: list[np.ndarray] | None = None
) -> Split:
    """Per user: last interaction = test, second-to-last = validation, the rest = training.

    Users with one interaction are training-only; users with two have a test case (their
    first interaction as history and training) but no validation case. ``weights`` (per
    user, like ``sequences``) follow the training events."""
    train, train_times = [], []
    v_users, v_hist, v_tgt, t_users, t_hist, t_tgt = [], [], [], [], [], []
    for user, (seq, ts) in enumerate(zip(sequences, times, strict=False)):
        n = len(seq)
        if n < 2:
            train.append(seq)
            train_times.append(ts)
            continue
        cut = n - 2 if n >= 3 else 1
        train.append(seq[:cut])
        train_times.append(ts[:cut])
        if n >= 3:
            v_users.append(user)
            v_hist.append(seq[: n - 2])
            v_tgt.append(seq[n - 2])
        t_users.append(user)
        t_hist.append(seq[: n - 1])
        t_tgt.append(seq[n - 1])
    counts = {
        "training_only_users": sum(1 for s in sequences if len(s) < 2),
        "validation_cases": len(v_tgt),
        "test_cases": len(t_tgt),
    }
    return Split(
        train,
        train_times,
        EvalCases(np.array(v_users, dtype=np.int64), v_hist, np.array(v_tgt, dtype=np.int64)),
        EvalCases(np.array(t_users, dtype=np.int64), t_hist, np.array(t_tgt, dtype=np.int64)),
        "leave_one_out",
        "Leave-one-out by time: each user's events in time order (stable sort, ties keep "
        "file order); last = test, second-to-last = validation, the rest = training. Users "
        "with a single interaction are used for training only.",
        counts,
        train_weights=_prefixes(weights, train),
    )


def _prefixes(weights: list[np.ndarray] | None, train: list[np.ndarray]):
    """Each user's weights cut to the length of their training sequence (a prefix)."""
    if weights is None:
        return None
    return [w[: len(seq)] for w, seq in zip(weights, train, strict=True)]


def temporal_split(
    sequences: list[np.ndarray],
    times: list[np.ndarray],
    test_fraction: float = 0.1,
    weights: list[np.ndarray] | None = None,
) -> Split:
    """Global temporal split: two cut times at the (1 - 2f) and (1 - f) quantiles of all
    event times. Training = events before the first cut; validation = each user's first
    event between the cuts; test = each user's first event after the second cut (history:
    everything before it)."""
    every = np.concatenate(times) if times else np.zeros(0)
    valid_cut, test_cut = np.quantile(every, [1 - 2 * test_fraction, 1 - test_fraction])
    train, train_times = [], []
    v = ([], [], [])
    t = ([], [], [])
    for user, (seq, ts) in enumerate(zip(sequences, times, strict=False)):
        before_valid = int(np.searchsorted(ts, valid_cut, side="left"))
        before_test = int(np.searchsorted(ts, test_cut, side="left"))
        train.append(seq[:before_valid])
        train_times.append(ts[:before_valid])
        if before_valid < before_test and before_valid > 0:
            v[0].append(user)
            v[1].append(seq[:before_valid])
            v[2].append(seq[before_valid])
        if before_test < len(seq) and before_test > 0:
            t[0].append(user)
            t[1].append(seq[:before_test])
            t[2].append(seq[before_test])

    def cases(parts) -> EvalCases:
        return EvalCases(
            np.array(parts[0], dtype=np.int64), parts[1], np.array(parts[2], dtype=np.int64)
        )

    return Split(
        train,
        train_times,
        cases(v),
        cases(t),
        "temporal",
        f"Global temporal split: training = events before the {1 - 2 * test_fraction:.0%} "
        f"time quantile; validation = each user's first event before the "
        f"{1 - test_fraction:.0%} quantile after that; test = each user's first event after "
        "it, with all earlier events as history.",
        {"validation_cases": len(v[2]), "test_cases": len(t[2])},
        train_weights=_prefixes(weights, train),
    )


def withhold_items(
    split: Split, n_items: int, fraction: float = 0.1, seed: int = 0, eligible=None
) -> Split:
    """The cold-start-item split: ``fraction`` of the items (among ``eligible``, default
    all) are removed from training entirely (every event, every history); the test cases
    kept are those whose target is a withheld item."""
    rng = np.random.default_rng(seed)
    pool = np.flatnonzero(eligible) if eligible is not None else np.arange(n_items)
    chosen = rng.choice(pool, size=max(1, int(round(fraction * len(pool)))), replace=False)
    cold = np.zeros(n_items, dtype=bool)
    cold[chosen] = True

    def warm(seq: np.ndarray) -> np.ndarray:
        return seq[~cold[seq]]

    keep_train = [~cold[s] for s in split.train]
    train = [s[k] for s, k in zip(split.train, keep_train, strict=False)]
    train_times = [t[k] for t, k in zip(split.train_times, keep_train, strict=False)]
    weights = split.train_weights
    if weights is not None:
        weights = [w[k] for w, k in zip(weights, keep_train, strict=True)]

    def cases(c: EvalCases, only_cold: bool) -> EvalCases:
        target_cold = cold[c.targets]
        keep = target_cold if only_cold else ~target_cold
        out = c.subset(keep)
        out.histories = [warm(h) for h in out.histories]
        return out

    return Split(
        train,
        train_times,
        cases(split.valid, only_cold=False),
        cases(split.test, only_cold=True),
        split.protocol + "+cold_items",
        f"{split.description} Cold-start items: {fraction:.0%} of the items (seed {seed}) are "
        "withheld from training entirely; test cases = users whose test item is withheld; "
        "ranking over all items.",
        {"withheld_items": int(cold.sum())},
        cold,
        weights,
    )
