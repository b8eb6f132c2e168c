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

Each step has its module (``sensor_checks``, ``sensor_units``, ``sensor_normalizer``,
``life_context``, ``sensor_windows``, ``sensor_lives``); this one re-exports their public names.
"""

from __future__ import annotations

from collections.abc import Callable

from tailorkit.data.life_context import LifeContext
from tailorkit.data.sensor_checks import GAP_FACTOR, ReadingsCheck, check_readings
from tailorkit.data.sensor_lives import life_ids, remaining_life
from tailorkit.data.sensor_normalizer import (
    CLUSTER_SILHOUETTE,
    CONSTANT_RELATIVE_STD,
    MAX_CONDITIONS,
    SensorNormalizer,
)
from tailorkit.data.sensor_units import UNITS, convert_units
from tailorkit.data.sensor_windows import Windows, sliding_windows

__all__ = [
    "CLUSTER_SILHOUETTE",
    "CONSTANT_RELATIVE_STD",
    "GAP_FACTOR",
    "MAX_CONDITIONS",
    "UNITS",
    "LifeContext",
    "ReadingsCheck",
    "SensorNormalizer",
    "Warn",
    "Windows",
    "check_readings",
    "convert_units",
    "life_ids",
    "remaining_life",
    "sliding_windows",
]

Warn = Callable[[str], None]
