"""User-facing errors: one clear sentence naming the file, row, column or field."""

from __future__ import annotations

import reprlib
from typing import Any

_SHORT = reprlib.Repr()  # Python 3.11's Repr takes no arguments
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 3, 60, 60, 40


class TailorkitError(Exception):
    """A mistake in the user's input (file, spec, data, command).

    The CLI prints ``str(error)`` on one line and exits with code 2; no traceback unless
    ``--debug``. Build messages that name the file/row/column/field and say what to do.
    """

    exit_code = 2


class DataError(TailorkitError):
    """A data file or table cannot be read or does not have the expected shape."""


class SpecError(TailorkitError):
    """The project spec (tailorkit.yaml) is invalid."""


class RegistryError(TailorkitError):
    """A project, model version or alias does not exist, or a registry call is invalid."""


class DatabaseUnavailable(TailorkitError):
    """The workspace database cannot be reached, read or written right now (server down or
    restarting, file read-only, disk full); the same call may succeed once that ends."""


class GateFailed(TailorkitError):
    """A requirement in the spec is not met and ``--enforce`` was given."""

    exit_code = 1


def shown_value(value: Any) -> str:
    """``repr(value)`` cut short for a message (a 100,000-character string or a value nested
    5,000 deep stays one short line); lone surrogates are escaped, as ``repr`` does."""
    return _SHORT.repr(value)
