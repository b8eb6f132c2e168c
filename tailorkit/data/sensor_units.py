"""Sensor units: the known units per quantity and the conversion of sensors declared in
different units of one quantity to a single unit."""

from __future__ import annotations

import pandas as pd

from tailorkit.errors import SpecError

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
