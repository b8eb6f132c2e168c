"""Sensor readings per asset: validation, cleaning, labels, normalization and sliding windows.

The steps a maintenance run applies, in order:

1. ``check_readings``: required columns present, sensors numeric, time steps sorted (unsorted
   rows are sorted with a warning), exact duplicate rows dropped with a warning, conflicting
   duplicates (same asset and time, different values) a ``DataError`` naming them, gaps in time
   flagged, NaN bursts filled forward/backward within the asset and reported.
2. ``convert_units``: sensors declared in different units of the same quantity (``degF`` and
   ``degC``) are converted to one unit per quantity; unknown units are a ``SpecError``.
3. ``SensorNormalizer``: constant sensors dropped and reported; operating conditions found by
   KMeans on the settings when they cluster (FD002/FD004-style), then per-condition z-scores.
4. ``LifeContext`` (on by default): each reading gains the life's context, its drift from the
   life's own first readings (per sensor) and its age (time since the life began), so that a
   model sees how far *this* asset has moved from *its* healthy start, not only from the fleet.
5. ``sliding_windows``: vectorized windows per asset; assets shorter than the window are padded
   at the front with their first reading and flagged, never dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tailorkit.errors import DataError, SpecError

Warn = Callable[[str], None]
GAP_FACTOR = 1.5  # a step this many times the usual step counts as a gap
CONSTANT_RELATIVE_STD = 1e-6
MAX_CONDITIONS = 8
CLUSTER_SILHOUETTE = 0.8  # settings "cluster" when KMeans separates them this cleanly

# unit -> (quantity, scale, offset): canonical = value * scale + offset
UNITS: dict[str, tuple[str, float, float]] = {
    "K": ("temperature", 1.0, 0.0),
    "degC": ("temperature", 1.0, 273.15),
    "C": ("temperature", 1.0, 273.15),
    "degF": ("temperature", 5.0 / 9.0, 273.15 - 32.0 * 5.0 / 9.0),
    "F": ("temperature", 5.0 / 9.0, 273.15 - 32.0 * 5.0 / 9.0),
    "degR": ("temperature", 5.0 / 9.0, 0.0),
    "R": ("temperature", 5.0 / 9.0, 0.0),
    "Pa": ("pressure", 1.0, 0.0),
    "kPa": ("pressure", 1000.0, 0.0),
    "bar": ("pressure", 1e5, 0.0),
    "psi": ("pressure", 6894.757, 0.0),
    "psia": ("pressure", 6894.757, 0.0),
    "rpm": ("speed", 1.0, 0.0),
    "Hz": ("speed", 60.0, 0.0),
    "m": ("length", 1.0, 0.0),
    "mm": ("length", 1e-3, 0.0),
    "in": ("length", 0.0254, 0.0),
    "kg/s": ("mass flow", 1.0, 0.0),
    "lbm/s": ("mass flow", 0.45359237, 0.0),
    "pps": ("mass flow", 0.45359237, 0.0),
    "W": ("power", 1.0, 0.0),
    "kW": ("power", 1000.0, 0.0),
    "hp": ("power", 745.69987, 0.0),
    "Nm": ("torque", 1.0, 0.0),
    "g": ("acceleration", 1.0, 0.0),
    "m/s2": ("acceleration", 1.0 / 9.80665, 0.0),
    "ratio": ("ratio", 1.0, 0.0),
    "-": ("ratio", 1.0, 0.0),
}


@dataclass
class ReadingsCheck:
    """What ``check_readings`` found and fixed, for warnings and the report."""

    warnings: list[str] = field(default_factory=list)
    unsorted_assets: list[str] = field(default_factory=list)
    duplicates_dropped: int = 0
    gaps: dict[str, int] = field(default_factory=dict)
    filled_values: dict[str, int] = field(default_factory=dict)
    longest_nan_burst: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "unsorted_assets": self.unsorted_assets[:20],
            "duplicates_dropped": self.duplicates_dropped,
            "assets_with_gaps": dict(list(self.gaps.items())[:20]),
            "filled_values": self.filled_values,
            "longest_nan_burst": self.longest_nan_burst,
        }


# ------------------------------------------------------------------------------ checks
def check_readings(
    frame: pd.DataFrame,
    *,
    asset: str,
    time: str,
    sensors: list[str],
    source: str = "readings",
) -> tuple[pd.DataFrame, ReadingsCheck]:
    """Validate and clean one readings table; returns it sorted by asset and time."""
    found = ReadingsCheck()
    _require_columns(frame, [asset, time, *sensors], source)
    if frame.empty:
        raise DataError(f"{source}: the table has no rows")
    frame = frame[[asset, time, *sensors]].copy()
    frame.index = pd.RangeIndex(len(frame))
    if frame[asset].isna().any():
        row = int(np.flatnonzero(frame[asset].isna().to_numpy())[0]) + 1
        raise DataError(f"{source}: row {row}: column '{asset}' (the asset id) is empty")
    frame[asset] = frame[asset].astype(str)
    frame[time] = _numeric_time(frame[time], time, source)
    for column in sensors:
        frame[column] = _numeric_column(frame[column], column, source)
    frame = _sorted(frame, asset, time, source, found)
    frame = _deduplicated(frame, asset, time, sensors, source, found)
    _flag_gaps(frame, asset, time, source, found)
    frame = _filled(frame, asset, sensors, source, found)
    return frame.reset_index(drop=True), found


def _require_columns(frame: pd.DataFrame, columns: list[str], source: str) -> None:
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{source}: column(s) {', '.join(map(repr, missing))} not found; "
            f"the table has {', '.join(map(str, list(frame.columns)[:15]))}"
        )


def _numeric_time(values: pd.Series, column: str, source: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return (values - values.min()).dt.total_seconds()
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna()
    if bad.any():
        parsed = pd.to_datetime(values, errors="coerce")
        if parsed.notna().all():
            return (parsed - parsed.min()).dt.total_seconds()
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
        raise DataError(
            f"{source}: row {row}: column '{column}' (time) must be a number or a date "
            f"(got {values.iloc[row - 1]!r})"
        )
    return numbers.astype(float)


def _numeric_column(values: pd.Series, column: str, source: str) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
        raise DataError(
            f"{source}: row {row}: sensor column '{column}' must be numeric "
            f"(got {values.iloc[row - 1]!r})"
        )
    return numbers.astype(float)


def _sorted(
    frame: pd.DataFrame, asset: str, time: str, source: str, found: ReadingsCheck
) -> pd.DataFrame:
    steps = frame.groupby(asset, sort=False)[time].diff()
    backwards = frame.loc[steps < 0, asset].unique().tolist()
    if backwards:
        found.unsorted_assets = [str(a) for a in backwards]
        found.warnings.append(
            f"{source}: time steps of {len(backwards)} asset(s) were not in order "
            f"(first: asset {backwards[0]!r}); the readings were sorted by '{time}'"
        )
    return frame.sort_values([asset, time], kind="stable")


def _deduplicated(
    frame: pd.DataFrame,
    asset: str,
    time: str,
    sensors: list[str],
    source: str,
    found: ReadingsCheck,
) -> pd.DataFrame:
    repeated = frame.duplicated([asset, time], keep=False)
    if not repeated.any():
        return frame
    exact = frame.duplicated([asset, time, *sensors], keep="first")
    frame = frame.loc[~exact]
    found.duplicates_dropped = int(exact.sum())
    clash = frame.duplicated([asset, time], keep=False)
    if clash.any():
        rows = frame.index[clash.to_numpy()][:2] + 1
        first = frame.loc[clash].iloc[0]
        raise DataError(
            f"{source}: rows {rows[0]} and {rows[1]}: asset {first[asset]!r} has two different "
            f"readings at {time} {first[time]:g}; keep one of them"
        )
    found.warnings.append(
        f"{source}: {found.duplicates_dropped} duplicated reading(s) (same asset, time and "
        "values) were dropped"
    )
    return frame


def _flag_gaps(
    frame: pd.DataFrame, asset: str, time: str, source: str, found: ReadingsCheck
) -> None:
    steps = frame.groupby(asset, sort=False)[time].diff()
    usual = steps[steps > 0].median()
    if not np.isfinite(usual):
        return
    gap = steps > GAP_FACTOR * usual
    if gap.any():
        counts = frame.loc[gap, asset].value_counts()
        found.gaps = {str(k): int(v) for k, v in counts.items()}
        first = frame.index[gap.to_numpy()][0]
        found.warnings.append(
            f"{source}: {int(gap.sum())} gap(s) in time across {len(counts)} asset(s) (first: "
            f"asset {frame.at[first, asset]!r} jumps to {time} {frame.at[first, time]:g}, the "
            f"usual step is {usual:g}); windows span the gaps as consecutive readings"
        )


def _filled(
    frame: pd.DataFrame, asset: str, sensors: list[str], source: str, found: ReadingsCheck
) -> pd.DataFrame:
    missing = frame[sensors].isna()
    if not missing.to_numpy().any():
        return frame
    found.filled_values = {c: int(n) for c, n in missing.sum().items() if n}
    found.longest_nan_burst = _longest_run(missing, frame[asset])
    grouped = frame.groupby(asset, sort=False)[sensors]
    frame[sensors] = grouped.ffill()
    frame[sensors] = frame[sensors].fillna(frame.groupby(asset, sort=False)[sensors].bfill())
    empty = [c for c in sensors if frame[c].isna().all()]
    if empty:
        raise DataError(f"{source}: sensor column(s) {', '.join(map(repr, empty))} are all empty")
    total = sum(found.filled_values.values())
    found.warnings.append(
        f"{source}: {total} missing sensor value(s) in {len(found.filled_values)} column(s) "
        f"(longest run {found.longest_nan_burst} readings) were filled with the asset's last "
        "known value"
    )
    return frame


def _longest_run(missing: pd.DataFrame, assets: pd.Series) -> int:
    longest = 0
    new_asset = (assets != assets.shift()).to_numpy()
    for column in missing.columns:
        values = missing[column].to_numpy()
        if not values.any():
            continue
        breaks = ~values | new_asset
        run_id = np.cumsum(breaks)
        lengths = np.bincount(run_id[values])
        longest = max(longest, int(lengths.max()))
    return longest


# ------------------------------------------------------------------------------ units
def convert_units(
    frame: pd.DataFrame, units: dict[str, str], source: str = "spec"
) -> tuple[pd.DataFrame, list[str]]:
    """Convert sensors of one quantity given in different units to one unit per quantity.

    The first unit declared for a quantity is kept; others are converted to it. An unknown
    unit is a ``SpecError`` naming the field.
    """
    notes: list[str] = []
    chosen: dict[str, str] = {}
    for sensor, unit in units.items():
        if unit not in UNITS:
            raise SpecError(
                f"{source}: field 'data.units.{sensor}': unknown unit {unit!r}; "
                f"known: {', '.join(UNITS)}"
            )
        chosen.setdefault(UNITS[unit][0], unit)
    frame = frame.copy()
    for sensor, unit in units.items():
        quantity = UNITS[unit][0]
        target = chosen[quantity]
        if sensor not in frame.columns or UNITS[target][1:] == UNITS[unit][1:]:
            continue
        _, scale, offset = UNITS[unit]
        _, target_scale, target_offset = UNITS[target]
        canonical = frame[sensor].astype(float) * scale + offset
        frame[sensor] = (canonical - target_offset) / target_scale
        notes.append(f"sensor '{sensor}' converted from {unit} to {target} ({quantity})")
    return frame, notes


# -------------------------------------------------------------------------- normalizer
class SensorNormalizer:
    """Drop constant sensors, find operating conditions, z-score each sensor per condition.

    Serializes to JSON (``to_dict`` / ``from_dict``): KMeans centers, per-condition means
    and standard deviations. Nothing is pickled.
    """

    def __init__(self, *, sensors: list[str], settings: list[str], random_state: int = 0):
        self.sensors = list(sensors)
        self.settings = list(settings)
        self.random_state = random_state

    def fit(self, frame: pd.DataFrame) -> SensorNormalizer:
        values = frame[self.sensors].to_numpy(float)
        spread = values.std(axis=0)
        scale = np.maximum(np.abs(values).mean(axis=0), 1.0)
        constant = spread <= CONSTANT_RELATIVE_STD * scale
        self.dropped_ = [s for s, c in zip(self.sensors, constant, strict=False) if c]
        self.kept_ = [s for s, c in zip(self.sensors, constant, strict=False) if not c]
        if not self.kept_:
            raise DataError(
                f"every sensor is constant ({', '.join(self.sensors)}); nothing to learn"
            )
        self._fit_conditions(frame)
        condition = self.conditions(frame)
        kept = frame[self.kept_].to_numpy(float)
        self.mean_ = np.zeros((self.n_conditions_, len(self.kept_)))
        self.std_ = np.ones((self.n_conditions_, len(self.kept_)))
        for k in range(self.n_conditions_):
            rows = kept[condition == k]
            if len(rows):
                self.mean_[k] = rows.mean(axis=0)
                self.std_[k] = np.where(rows.std(axis=0) > 1e-12, rows.std(axis=0), 1.0)
        return self

    def _fit_conditions(self, frame: pd.DataFrame) -> None:
        self.n_conditions_, self.centers_, self.silhouette_ = 1, np.zeros((1, 0)), None
        self.settings_mean_ = np.zeros(len(self.settings))
        self.settings_std_ = np.ones(len(self.settings))
        if not self.settings:
            return
        from sklearn.cluster import KMeans
        from sklearn.metrics import silhouette_score

        raw = frame[self.settings].to_numpy(float)
        self.settings_mean_ = raw.mean(axis=0)
        self.settings_std_ = np.where(raw.std(axis=0) > 1e-12, raw.std(axis=0), 1.0)
        points = (raw - self.settings_mean_) / self.settings_std_
        rng = np.random.default_rng(self.random_state)
        sample = points[rng.permutation(len(points))[:3000]]
        best = (CLUSTER_SILHOUETTE, None)
        for k in range(2, min(MAX_CONDITIONS, len(np.unique(sample, axis=0)) - 1) + 1):
            kmeans = KMeans(k, n_init=3, random_state=self.random_state).fit(sample)
            score = silhouette_score(sample, kmeans.labels_)
            if score > best[0]:
                best = (score, kmeans)
        if best[1] is not None:
            self.n_conditions_ = best[1].n_clusters
            self.centers_ = best[1].cluster_centers_
            self.silhouette_ = float(best[0])

    def conditions(self, frame: pd.DataFrame) -> np.ndarray:
        if self.n_conditions_ == 1:
            return np.zeros(len(frame), dtype=int)
        points = (frame[self.settings].to_numpy(float) - self.settings_mean_) / self.settings_std_
        distance = ((points[:, None, :] - self.centers_[None]) ** 2).sum(axis=2)
        return distance.argmin(axis=1)

    def transform(self, frame: pd.DataFrame, source: str = "readings") -> np.ndarray:
        """The kept sensors as per-condition z-scores, float32 (rows × kept sensors)."""
        needed = self.kept_ + self.settings
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise DataError(
                f"{source}: sensor column(s) {', '.join(map(repr, missing))} that the model "
                "was trained on are missing; add them"
            )
        condition = self.conditions(frame)
        values = frame[self.kept_].to_numpy(float)
        return ((values - self.mean_[condition]) / self.std_[condition]).astype(np.float32)

    def describe(self) -> dict[str, Any]:
        return {
            "sensors_used": self.kept_,
            "constant_sensors_dropped": self.dropped_,
            "operating_conditions": self.n_conditions_,
            "condition_silhouette": self.silhouette_,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "sensors": self.sensors,
            "settings": self.settings,
            "random_state": self.random_state,
            "dropped": self.dropped_,
            "kept": self.kept_,
            "n_conditions": self.n_conditions_,
            "centers": self.centers_.tolist(),
            "silhouette": self.silhouette_,
            "settings_mean": self.settings_mean_.tolist(),
            "settings_std": self.settings_std_.tolist(),
            "mean": self.mean_.tolist(),
            "std": self.std_.tolist(),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> SensorNormalizer:
        normalizer = cls(
            sensors=state["sensors"], settings=state["settings"], random_state=state["random_state"]
        )
        normalizer.dropped_, normalizer.kept_ = state["dropped"], state["kept"]
        normalizer.n_conditions_ = state["n_conditions"]
        normalizer.centers_ = np.array(state["centers"], dtype=float).reshape(
            state["n_conditions"] if state["n_conditions"] > 1 else 1, -1
        )
        normalizer.silhouette_ = state["silhouette"]
        normalizer.settings_mean_ = np.array(state["settings_mean"], dtype=float)
        normalizer.settings_std_ = np.array(state["settings_std"], dtype=float)
        normalizer.mean_ = np.array(state["mean"], dtype=float)
        normalizer.std_ = np.array(state["std"], dtype=float)
        return normalizer


# ------------------------------------------------------------------------ life context
class LifeContext:
    """Drift and age channels appended to normalized readings, computed causally per life.

    drift: each sensor minus the mean of the life's first ``baseline`` readings (while fewer
    have arrived, the mean of those so far), so a reading never depends on later ones; age:
    time since the life's first reading over the median training life length. Both assume a
    life's readings start at installation or maintenance (``life_ids`` splits lives there);
    turn the step off (``tasks.life_context: false``) when records start mid-life.
    """

    def __init__(self, *, baseline: int):
        self.baseline = int(baseline)

    def fit(self, times: np.ndarray, lives: np.ndarray) -> LifeContext:
        spans = pd.Series(np.asarray(times, float)).groupby(np.asarray(lives)).agg(np.ptp)
        median = float(spans.median()) if len(spans) else 0.0
        self.age_scale_ = median if median > 0 else 1.0
        return self

    def transform(self, values: np.ndarray, times: np.ndarray, lives: np.ndarray) -> np.ndarray:
        """(rows, sensors) -> (rows, 2 * sensors + 1); rows sorted by life, then time."""
        values = np.asarray(values, np.float32)
        times, lives = np.asarray(times, float), np.asarray(lives)
        if len(values) == 0:
            return np.zeros((0, 2 * values.shape[1] + 1), np.float32)
        first = np.flatnonzero(np.r_[True, lives[1:] != lives[:-1]])
        start = np.repeat(first, np.diff(np.r_[first, len(lives)]))
        used = np.minimum(np.arange(len(values)) - start, self.baseline - 1)
        running = np.cumsum(values, axis=0, dtype=np.float64)
        before = np.where(start[:, None] > 0, running[np.maximum(start - 1, 0)], 0.0)
        base = (running[start + used] - before) / (used + 1)[:, None]
        age = (times - times[start]) / self.age_scale_
        return np.concatenate([values, values - base, age[:, None]], axis=1).astype(np.float32)

    def step(self, row: np.ndarray, time: float, state: dict | None) -> tuple[np.ndarray, dict]:
        """One streamed reading of a life (``state`` from its previous reading, None first):
        the same channels ``transform`` gives that reading in a batch, and the new state."""
        row = np.asarray(row, np.float64)
        if state is None:
            state = {"start": float(time), "sum": np.zeros_like(row), "count": 0}
        if state["count"] < self.baseline:
            state = {**state, "sum": state["sum"] + row, "count": state["count"] + 1}
        base = state["sum"] / state["count"]
        age = (float(time) - state["start"]) / self.age_scale_
        return np.r_[row, row - base, age].astype(np.float32), state

    def channels(self, sensors: list[str]) -> list[str]:
        return [*sensors, *(f"{s}_drift" for s in sensors), "age"]

    def to_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "age_scale": self.age_scale_}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> LifeContext:
        context = cls(baseline=state["baseline"])
        context.age_scale_ = float(state["age_scale"])
        return context


# ----------------------------------------------------------------------------- windows
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


# ------------------------------------------------------------------------------ labels
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
