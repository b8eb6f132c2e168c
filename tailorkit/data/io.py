"""Read tables from files and databases; every user mistake becomes one clear DataError.

Files are chosen by extension (CSV/TSV, compressed CSV, Parquet, JSON lines, Excel, Feather,
SQLite and DuckDB files); databases by SQLAlchemy URL with a ``table`` or ``query``. Files are
only ever opened for reading: database files are opened read-only, so a wrong path never
creates an empty database. The readers live in ``io_files`` (paths, formats, shared errors),
``io_csv``, ``io_formats`` (Parquet, Feather, JSON, Excel) and ``io_sql``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from tailorkit.data.io_csv import DELIMITERS, csv_chunks, read_csv
from tailorkit.data.io_files import (
    COMPRESSION_SUFFIXES,
    CSV_SUFFIXES,
    FORMAT_BY_SUFFIX,
    SNIFF_BYTES,
    SPEC_HINT,
    FileSource,
    check_duplicate_names,
    check_encoding,
    empty_error,
    reject_database_options,
    resolve_file,
)
from tailorkit.data.io_formats import (
    json_chunks,
    parquet_chunks,
    read_excel,
    read_feather,
    read_json,
    read_parquet,
    slices,
)
from tailorkit.data.io_sql import (
    SqlSource,
    hide_password,
    is_database_url,
    read_sql,
    sql_chunks,
    sql_label,
)
from tailorkit.errors import DataError

__all__ = [
    "COMPRESSION_SUFFIXES",
    "CSV_SUFFIXES",
    "DELIMITERS",
    "FORMAT_BY_SUFFIX",
    "SNIFF_BYTES",
    "SPEC_HINT",
    "is_database_url",
    "iter_table_chunks",
    "read_table",
    "table_label",
]


def table_label(source: str | Path, table: str | None = None, query: str | None = None) -> str:
    """A short human label for messages: the file or URL (password hidden), table or query."""
    text = hide_password(str(source))
    if table:
        return f"{text} table '{table}'"
    if query:
        return f"{text} query"
    return text


def read_table(
    source: str | Path,
    *,
    table: str | None = None,
    query: str | None = None,
    sheet: str | int | None = None,
    encoding: str = "utf-8",
    base_dir: Path | None = None,
) -> pd.DataFrame:
    """Read a whole table; relative paths resolve against ``base_dir`` (the spec's folder)."""
    check_encoding(encoding)
    if is_database_url(source):
        sql = SqlSource.from_url(str(source), base_dir)
        return _finish(read_sql(sql, table, query), sql_label(sql, table, query))
    file = resolve_file(source, base_dir)
    if file.kind in ("sqlite", "duckdb"):
        sql = SqlSource.from_file(file)
        return _finish(read_sql(sql, table, query), sql_label(sql, table, query))
    reject_database_options(file, table, query)
    if sheet is not None and file.kind != "excel":
        raise DataError(f"'sheet' applies only to Excel files, not to data file '{file.given}'")
    readers: dict[str, Callable[[FileSource, str], pd.DataFrame]] = {
        "csv": read_csv,
        "parquet": read_parquet,
        "jsonl": read_json,
        "json": read_json,
        "feather": read_feather,
    }
    if file.kind == "excel":
        frame = read_excel(file, sheet)
    else:
        frame = readers[file.kind](file, encoding)
    return _finish(frame, f"data file '{file.given}'")


def iter_table_chunks(
    source: str | Path,
    *,
    chunk_rows: int = 50_000,
    encoding: str = "utf-8",
    table: str | None = None,
    query: str | None = None,
    base_dir: Path | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield the table in order, ``chunk_rows`` rows at a time, without loading it whole.

    CSV, JSON lines, Parquet (by record batches) and SQL stream; Excel, JSON and Feather
    are read whole and then cut into chunks.
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    check_encoding(encoding)
    if is_database_url(source):
        sql = SqlSource.from_url(str(source), base_dir)
        chunks = sql_chunks(sql, table, query, chunk_rows)
        label = sql_label(sql, table, query)
    else:
        file = resolve_file(source, base_dir)
        label = f"data file '{file.given}'"
        if file.kind in ("sqlite", "duckdb"):
            sql = SqlSource.from_file(file)
            chunks = sql_chunks(sql, table, query, chunk_rows)
            label = sql_label(sql, table, query)
        else:
            reject_database_options(file, table, query)
            chunks = _file_chunks(file, encoding, chunk_rows)
    rows = 0
    for chunk in chunks:
        if len(chunk):
            rows += len(chunk)
            yield _clean_columns(chunk, label)
    if rows == 0:
        raise empty_error(label)


def _file_chunks(file: FileSource, encoding: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    if file.kind == "csv":
        return csv_chunks(file, encoding, chunk_rows)
    if file.kind == "parquet":
        return parquet_chunks(file, chunk_rows)
    if file.kind in ("jsonl", "json"):
        return json_chunks(file, encoding, chunk_rows)
    whole = read_excel(file, None) if file.kind == "excel" else read_feather(file, encoding)
    return slices(whole, chunk_rows)


def _finish(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    if len(frame) == 0:
        raise empty_error(label)
    return _clean_columns(frame, label)


def _clean_columns(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """Column names as stripped strings; two columns with one name is an error."""
    names = [str(name).strip() for name in frame.columns]
    check_duplicate_names(names, label)
    if names != list(frame.columns):
        frame = frame.set_axis(names, axis=1)
    return frame
