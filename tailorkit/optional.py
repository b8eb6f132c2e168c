"""Optional dependencies: a missing extra is one line naming the ``pip install`` that adds it.

The core install trains and evaluates; the service, text encoders, ONNX, Excel and SQL
databases other than SQLite come with extras (``pip install 'tailorkit[serve]'``, ...).
"""

from __future__ import annotations

import importlib.util

from tailorkit.errors import TailorkitError

SQL_DRIVERS = {"duckdb": ("duckdb", "duckdb_engine"), "postgresql+psycopg": ("psycopg",)}


def missing(*modules: str) -> list[str]:
    """The top-level modules among ``modules`` that cannot be imported (none are imported)."""
    names = [module.partition(".")[0] for module in modules]
    return [name for name in names if importlib.util.find_spec(name) is None]


def require(*modules: str, extra: str, feature: str) -> None:
    """Raise a one-line ``TailorkitError`` (exit code 2) when a module of ``extra`` is missing:
    "``feature`` needs the ``extra`` extra: pip install 'tailorkit[extra]'"."""
    absent = missing(*modules)
    if absent:
        raise TailorkitError(
            f"{feature} needs the {extra} extra: pip install 'tailorkit[{extra}]' "
            f"({', '.join(absent)} {'is' if len(absent) == 1 else 'are'} not installed)"
        )


def require_sql_driver(url: str) -> None:
    """``require`` the driver of a database URL that the ``sql`` extra provides (DuckDB,
    ``postgresql+psycopg``); SQLite is built in, other drivers are the user's own. The
    message names the URL's scheme only, never its password."""
    scheme = url.partition("://")[0].lower()
    drivers = SQL_DRIVERS.get(scheme) or SQL_DRIVERS.get(scheme.partition("+")[0])
    if drivers:
        require(*drivers, extra="sql", feature=f"a {scheme}:// database")
