"""A monitoring window as written in a query or an option: ``30m``, ``24h``, ``7d``."""

from __future__ import annotations

import re
from datetime import timedelta

from tailorkit.errors import TailorkitError

WINDOW = re.compile(r"(\d{1,6})([mhd])")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}
LONGEST = timedelta(days=3660)


class WindowError(TailorkitError):
    """A window that is not N minutes, hours or days (``30m``, ``24h``, ``7d``)."""


def parse_window(text: str, field: str = "window") -> timedelta:
    """``24h`` as a timedelta; anything else, zero or over ten years, is a ``WindowError``
    naming ``field``."""
    found = WINDOW.fullmatch(text.strip())
    if found is None or int(found[1]) == 0:
        raise WindowError(
            f"{field} {text!r}: give a positive number of minutes, hours or days, e.g. 30m, "
            "24h or 7d"
        )
    window = timedelta(**{UNITS[found[2]]: int(found[1])})
    if window > LONGEST:
        raise WindowError(f"{field} {text!r}: at most {LONGEST.days}d")
    return window
