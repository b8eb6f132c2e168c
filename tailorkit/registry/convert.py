"""Values in and out of the registry tables: JSON text, finite floats and UTC times."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any


def dumps(document: Any) -> str:
    return json.dumps(document, default=str, sort_keys=True)


def finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def now() -> datetime:
    return datetime.now(timezone.utc)


def aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; every stored time is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
