"""Read tables from files and databases; every user mistake becomes one clear DataError.

Files are chosen by extension (CSV/TSV, compressed CSV, Parquet, JSON lines, Excel, Feather,
SQLite and DuckDB files); databases by SQLAlchemy URL with a ``table`` or ``query``. Files are
only ever opened for reading: database files are opened read-only, so a wrong path never
creates an empty database.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import json
import lzma
import re
import sqlite3
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tailorkit.errors import DataError

CSV_SUFFIXES = {".csv": None, ".tsv": "\t", ".tab": "\t", ".txt": None}
FORMAT_BY_SUFFIX = {
    **{suffix: "csv" for suffix in CSV_SUFFIXES},
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".xls": "excel",
    ".feather": "feather",
    ".db": "sqlite",
    ".sqlite": "sqlite",
    ".sqlite3": "sqlite",
    ".duckdb": "duckdb",
}
COMPRESSION_SUFFIXES = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip", ".zst": "zstd"}
DELIMITERS = (",", "\t", ";", "|")
SNIFF_BYTES = 64 * 1024
SPEC_HINT = "the spec's data section"

_URL_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_MAGIC_NAMES = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a zip archive (an Excel workbook?)",
    b"\xd0\xcf\x11\xe0": "an old Office document (.xls or .doc)",
    b"PAR1": "a Parquet file",
    b"SQLite format 3": "a SQLite database",
    b"\x1f\x8b": "a gzip archive",
}


@dataclass(frozen=True)
class _FileSource:
    """A resolved data file: what the user wrote, where it is, and how to read it."""

    given: str
    path: Path
    kind: str
    compression: str | None


def table_label(source: str | Path, table: str | None = None, query: str | None = None) -> str:
    """A short human label for messages: the file or URL (password hidden), table or query."""
    text = _hide_password(str(source))
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
    _check_encoding(encoding)
    if is_database_url(source):
        sql = _SqlSource.from_url(str(source), base_dir)
        return _finish(_read_sql(sql, table, query), _sql_label(sql, table, query))
    file = _resolve_file(source, base_dir)
    if file.kind in ("sqlite", "duckdb"):
        sql = _SqlSource.from_file(file)
        return _finish(_read_sql(sql, table, query), _sql_label(sql, table, query))
    _reject_database_options(file, table, query)
    if sheet is not None and file.kind != "excel":
        raise DataError(f"'sheet' applies only to Excel files, not to data file '{file.given}'")
    readers: dict[str, Callable[[_FileSource, str], pd.DataFrame]] = {
        "csv": _read_csv,
        "parquet": _read_parquet,
        "jsonl": _read_json,
        "json": _read_json,
        "feather": _read_feather,
    }
    if file.kind == "excel":
        frame = _read_excel(file, sheet)
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
    _check_encoding(encoding)
    if is_database_url(source):
        sql = _SqlSource.from_url(str(source), base_dir)
        chunks = _sql_chunks(sql, table, query, chunk_rows)
        label = _sql_label(sql, table, query)
    else:
        file = _resolve_file(source, base_dir)
        label = f"data file '{file.given}'"
        if file.kind in ("sqlite", "duckdb"):
            sql = _SqlSource.from_file(file)
            chunks = _sql_chunks(sql, table, query, chunk_rows)
            label = _sql_label(sql, table, query)
        else:
            _reject_database_options(file, table, query)
            chunks = _file_chunks(file, encoding, chunk_rows)
    rows = 0
    for chunk in chunks:
        if len(chunk):
            rows += len(chunk)
            yield _clean_columns(chunk, label)
    if rows == 0:
        raise _empty_error(label)


def is_database_url(source: str | Path) -> bool:
    """True for SQLAlchemy URLs such as ``sqlite:///x.db`` or ``postgresql+psycopg://...``."""
    return isinstance(source, str) and bool(_URL_PATTERN.match(source))


# ----------------------------------------------------------------------------- files


def _resolve_file(source: str | Path, base_dir: Path | None) -> _FileSource:
    given = str(source)
    path = Path(source).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    path = path.absolute()
    if not path.exists():
        raise DataError(
            f"data file '{given}' not found (looked in {path}); check the path in {SPEC_HINT}"
        )
    if path.is_dir():
        raise DataError(f"data path '{given}' is a folder, not a file; name one file inside it")
    kind, compression = _detect_format(path, given)
    return _FileSource(given, path, kind, compression)


def _detect_format(path: Path, given: str) -> tuple[str, str | None]:
    suffixes = [s.lower() for s in path.suffixes]
    compression = COMPRESSION_SUFFIXES.get(suffixes[-1]) if suffixes else None
    if compression:
        suffixes = suffixes[:-1]
    kind = FORMAT_BY_SUFFIX.get(suffixes[-1]) if suffixes else None
    if kind is None or (compression and kind not in ("csv", "jsonl", "json")):
        extension = "".join(path.suffixes[-2:] if compression else path.suffixes[-1:])
        known = ", ".join(sorted(FORMAT_BY_SUFFIX))
        raise DataError(
            f"data file '{given}' has an unknown extension '{extension or '(none)'}'; "
            f"save it as one of {known} (CSV may be compressed with .gz, .bz2, .xz, .zip)"
        )
    return kind, compression


def _reject_database_options(file: _FileSource, table: str | None, query: str | None) -> None:
    if table or query:
        option = "table" if table else "query"
        raise DataError(
            f"'{option}' applies only to databases, but data file '{file.given}' is a "
            f"{file.kind} file; remove '{option}' from {SPEC_HINT}"
        )


def _check_encoding(encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DataError(
            f"unknown encoding '{encoding}' in {SPEC_HINT}; use e.g. utf-8 or latin-1"
        ) from None


def _open_binary(file: _FileSource):
    """The file's (decompressed) bytes, for sniffing and for locating bad bytes."""
    openers = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}
    if file.compression in openers:
        return openers[file.compression](file.path, "rb")
    if file.compression == "zip":
        archive = zipfile.ZipFile(file.path)
        names = [n for n in archive.namelist() if not n.endswith("/")]
        if len(names) != 1:
            raise DataError(f"zip file '{file.given}' must hold exactly one data file")
        return archive.open(names[0])
    return open(file.path, "rb")


def _head_bytes(file: _FileSource) -> bytes:
    if file.compression == "zstd":
        return b""
    try:
        with _open_binary(file) as handle:
            return handle.read(SNIFF_BYTES)
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile) as error:
        raise DataError(
            f"data file '{file.given}' cannot be decompressed ({error}); check that it is a "
            f"valid {file.compression} archive"
        ) from None


def _empty_error(label: str) -> DataError:
    if label.startswith("data file"):
        return DataError(
            f"{label} has no data rows; add rows below the header or pick another file"
        )
    return DataError(f"{label} has no data rows; check the table or query in {SPEC_HINT}")


def _reject_binary(file: _FileSource, head: bytes) -> None:
    name = next((name for magic, name in _MAGIC_NAMES.items() if head.startswith(magic)), None)
    if name is None:
        if b"\x00" not in head[:8192]:
            return
        name = "binary data"
    raise DataError(
        f"data file '{file.given}' is not a text table (it looks like {name}); export the "
        f"data as CSV, Parquet, JSON lines or Excel"
    )


# ------------------------------------------------------------------------------- CSV


@dataclass(frozen=True)
class _CsvLayout:
    delimiter: str
    header: list[str]


def _csv_layout(file: _FileSource, encoding: str) -> _CsvLayout:
    if file.path.stat().st_size == 0:
        raise _empty_error(f"data file '{file.given}'")
    head = _head_bytes(file)
    _reject_binary(file, head)
    if len(head) == SNIFF_BYTES and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]
    try:
        text = head.decode(encoding)
    except UnicodeDecodeError as error:
        raise _encoding_error(file, encoding, head, error.start) from None
    if head and not text.strip():
        raise _empty_error(f"data file '{file.given}'")
    suffix = file.path.suffixes[-2 if file.compression else -1].lower()
    delimiter = CSV_SUFFIXES.get(suffix) or _sniff_delimiter(text)
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    header = next((row for row in rows if any(cell.strip() for cell in row)), [])
    return _CsvLayout(delimiter, header)


def _sniff_delimiter(text: str) -> str:
    """The candidate that splits the first lines into the same, largest number of fields."""
    lines = text.splitlines()[:30]
    best, best_fields = ",", 1
    for delimiter in DELIMITERS:
        try:
            widths = [len(row) for row in csv.reader(lines, delimiter=delimiter) if row]
        except csv.Error:
            continue
        if widths and len(set(widths)) == 1 and widths[0] > best_fields:
            best, best_fields = delimiter, widths[0]
    if best_fields == 1:
        counts = {d: lines[0].count(d) for d in DELIMITERS} if lines else {}
        if counts and max(counts.values()) > 0:
            best = max(counts, key=counts.get)
    return best


def _csv_options(file: _FileSource, layout: _CsvLayout, encoding: str) -> dict:
    return {
        "sep": layout.delimiter,
        "encoding": encoding,
        "compression": file.compression or None,
        "skip_blank_lines": True,
    }


def _read_csv(file: _FileSource, encoding: str) -> pd.DataFrame:
    layout = _csv_layout(file, encoding)
    _check_duplicate_names(layout.header, f"data file '{file.given}'")
    with _csv_errors(file, encoding, layout):
        return pd.read_csv(file.path, **_csv_options(file, layout, encoding))


def _csv_chunks(file: _FileSource, encoding: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    layout = _csv_layout(file, encoding)
    _check_duplicate_names(layout.header, f"data file '{file.given}'")
    with _csv_errors(file, encoding, layout):
        options = _csv_options(file, layout, encoding)
        with pd.read_csv(file.path, chunksize=chunk_rows, **options) as reader:
            yield from reader


@contextmanager
def _csv_errors(file: _FileSource, encoding: str, layout: _CsvLayout) -> Iterator[None]:
    """Turn pandas' parser failures into one sentence naming the file and line."""
    label = f"data file '{file.given}'"
    try:
        yield
    except pd.errors.EmptyDataError:
        raise _empty_error(label) from None
    except pd.errors.ParserError as error:
        raise DataError(_parser_message(label, str(error), layout.delimiter)) from None
    except UnicodeDecodeError:
        line, byte = _locate_bad_byte(file, encoding)
        raise DataError(_encoding_message(file.given, encoding, line, byte)) from None
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile) as error:
        raise DataError(f"{label} cannot be read ({error}); check the file") from None


def _parser_message(label: str, message: str, delimiter: str) -> str:
    shown = {"\t": "tab"}.get(delimiter, repr(delimiter))
    fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if fields:
        expected, line, saw = fields.groups()
        return (
            f"{label} line {line}: expected {expected} fields, saw {saw}; fix that row or "
            f"quote values that contain the delimiter {shown}"
        )
    quote = re.search(r"EOF inside string starting at row (\d+)", message)
    if quote:
        return (
            f"{label} line {int(quote.group(1)) + 1}: a quoted value is never closed; add "
            "the missing closing quote"
        )
    detail = message.replace("Error tokenizing data. C error: ", "").strip().rstrip(".")
    return f"{label} cannot be parsed as a table ({detail}); check that it is valid CSV"


def _locate_bad_byte(file: _FileSource, encoding: str) -> tuple[int, int]:
    """The 1-based line and value of the first byte that ``encoding`` cannot decode."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    with _open_binary(file) as handle:
        for raw_line in handle:
            try:
                decoder.decode(raw_line)
            except UnicodeDecodeError as error:
                return line, raw_line[error.start]
            line += 1
    return line, 0


def _encoding_error(file: _FileSource, encoding: str, data: bytes, offset: int) -> DataError:
    line = data.count(b"\n", 0, offset) + 1
    return DataError(_encoding_message(file.given, encoding, line, data[offset]))


def _encoding_message(given: str, encoding: str, line: int, byte: int) -> str:
    return (
        f"data file '{given}' line {line}: byte 0x{byte:02x} is not valid {encoding}; set "
        f"'encoding: latin-1' (or the file's real encoding) in {SPEC_HINT}"
    )


# ------------------------------------------------------------------ other file formats


def _read_parquet(file: _FileSource, encoding: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    _expect_signature(file, "Parquet", (b"PAR1",))
    try:
        table = pq.read_table(file.path)
    except (pa.ArrowException, OSError) as error:
        raise _invalid_file(file, "Parquet", error) from None
    _check_duplicate_names(table.column_names, f"data file '{file.given}'")
    return table.to_pandas()


def _parquet_chunks(file: _FileSource, chunk_rows: int) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    _expect_signature(file, "Parquet", (b"PAR1",))
    try:
        parquet = pq.ParquetFile(file.path)
        _check_duplicate_names(parquet.schema_arrow.names, f"data file '{file.given}'")
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()
    except (pa.ArrowException, OSError) as error:
        raise _invalid_file(file, "Parquet", error) from None


def _read_feather(file: _FileSource, encoding: str) -> pd.DataFrame:
    import pyarrow as pa

    try:
        return pd.read_feather(file.path)
    except (pa.ArrowException, OSError) as error:
        raise _invalid_file(file, "Feather", error) from None


def _invalid_file(file: _FileSource, kind: str, error: Exception) -> DataError:
    if file.path.stat().st_size == 0:
        return _empty_error(f"data file '{file.given}'")
    lines = str(error).strip().splitlines()
    detail = lines[0].split(". ")[0].rstrip(".") if lines else type(error).__name__
    detail = detail.replace(str(file.path), file.given)
    return DataError(
        f"data file '{file.given}' is not a valid {kind} file ({detail}); re-export it"
    )


def _expect_signature(file: _FileSource, kind: str, signatures: tuple[bytes, ...]) -> None:
    """Name what a binary file really is when its first bytes are not ``kind``'s."""
    if file.path.stat().st_size == 0:
        raise _empty_error(f"data file '{file.given}'")
    with open(file.path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(signatures):
        return
    looks = next((name for magic, name in _MAGIC_NAMES.items() if head.startswith(magic)), None)
    what = f"it looks like {looks}" if looks else f"its first bytes are not those of {kind}"
    raise DataError(
        f"data file '{file.given}' is not a valid {kind} file ({what}); check the file or "
        "its extension"
    )


def _json_is_lines(file: _FileSource, head: bytes, encoding: str) -> bool:
    if file.kind == "jsonl":
        return True
    first_line = head.split(b"\n", 1)[0].decode(encoding, errors="replace").strip()
    if not first_line.startswith("{") or head.strip().count(b"\n") == 0:
        return False
    try:
        json.loads(first_line)
    except json.JSONDecodeError:
        return False
    return True


def _json_setup(file: _FileSource, encoding: str) -> bool:
    """Check the JSON file for emptiness, binary junk and bad bytes; True for JSON lines."""
    label = f"data file '{file.given}'"
    if file.path.stat().st_size == 0:
        raise _empty_error(label)
    head = _head_bytes(file)
    _reject_binary(file, head)
    if not head.strip():
        raise _empty_error(label)
    return _json_is_lines(file, head, encoding)


def _read_json(file: _FileSource, encoding: str) -> pd.DataFrame:
    lines = _json_setup(file, encoding)
    with _json_errors(file, encoding, lines):
        return pd.read_json(
            file.path, lines=lines, encoding=encoding, compression=file.compression or None
        )


def _json_chunks(file: _FileSource, encoding: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    lines = _json_setup(file, encoding)
    with _json_errors(file, encoding, lines):
        if not lines:
            yield from _slices(_read_json(file, encoding), chunk_rows)
            return
        options = {"encoding": encoding, "compression": file.compression or None}
        with pd.read_json(file.path, lines=True, chunksize=chunk_rows, **options) as reader:
            yield from reader


@contextmanager
def _json_errors(file: _FileSource, encoding: str, lines: bool) -> Iterator[None]:
    label = f"data file '{file.given}'"
    try:
        yield
    except UnicodeDecodeError:
        line, byte = _locate_bad_byte(file, encoding)
        raise DataError(_encoding_message(file.given, encoding, line, byte)) from None
    except (ValueError, TypeError) as error:
        if lines:
            line, detail = _first_bad_json_line(file, encoding)
            if line:
                raise DataError(
                    f"{label} line {line}: not a valid JSON record ({detail}); fix that line"
                ) from None
        detail = str(error).splitlines()[0].rstrip(".")
        raise DataError(
            f"{label} is not a JSON table ({detail}); write a list of records or one JSON "
            "object per line"
        ) from None


def _first_bad_json_line(file: _FileSource, encoding: str) -> tuple[int, str]:
    with _open_binary(file) as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw.decode(encoding, errors="replace").strip()
            if not text:
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as error:
                return number, error.msg
            if not isinstance(record, dict):
                return number, "expected an object {...}"
    return 0, ""


def _read_excel(file: _FileSource, sheet: str | int | None) -> pd.DataFrame:
    label = f"data file '{file.given}'"
    sheet_name = 0 if sheet is None else sheet
    _expect_signature(file, "Excel", (b"PK\x03\x04", b"\xd0\xcf\x11\xe0"))
    try:
        header = pd.read_excel(file.path, sheet_name=sheet_name, header=None, nrows=1)
        frame = pd.read_excel(file.path, sheet_name=sheet_name)
    except ImportError as error:
        raise DataError(
            f"reading {label} needs an extra package ({error}); save it as .xlsx or install it"
        ) from None
    except (ValueError, IndexError) as error:
        sheets = _excel_sheets(file)
        if sheets and sheet_name not in sheets and not isinstance(sheet_name, int):
            raise DataError(
                f"{label} has no sheet '{sheet}'; its sheets are {', '.join(sheets)}"
            ) from None
        if isinstance(sheet_name, int) and sheets and sheet_name >= len(sheets):
            raise DataError(
                f"{label} has {len(sheets)} sheet(s), so sheet index {sheet} does not exist; "
                f"its sheets are {', '.join(sheets)}"
            ) from None
        raise _invalid_file(file, "Excel", error) from None
    except (zipfile.BadZipFile, OSError, KeyError) as error:
        raise _invalid_file(file, "Excel", error) from None
    if not header.empty:
        names = [str(v) for v in header.iloc[0].tolist() if not pd.isna(v)]
        _check_duplicate_names(names, label)
    return frame


def _excel_sheets(file: _FileSource) -> list[str]:
    try:
        import openpyxl

        workbook = openpyxl.load_workbook(file.path, read_only=True)
        try:
            return list(workbook.sheetnames)
        finally:
            workbook.close()
    except Exception:  # noqa: BLE001 - only a hint for the message; the real error follows
        return []


def _file_chunks(file: _FileSource, encoding: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    if file.kind == "csv":
        return _csv_chunks(file, encoding, chunk_rows)
    if file.kind == "parquet":
        return _parquet_chunks(file, chunk_rows)
    if file.kind in ("jsonl", "json"):
        return _json_chunks(file, encoding, chunk_rows)
    whole = _read_excel(file, None) if file.kind == "excel" else _read_feather(file, encoding)
    return _slices(whole, chunk_rows)


def _slices(frame: pd.DataFrame, chunk_rows: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), chunk_rows):
        yield frame.iloc[start : start + chunk_rows]


# ------------------------------------------------------------------------------- SQL


@dataclass(frozen=True)
class _SqlSource:
    """A database to read: the label for messages and how to build a read-only engine."""

    label: str
    url: str
    database_file: Path | None = None
    dialect: str = ""

    @classmethod
    def from_url(cls, url: str, base_dir: Path | None) -> _SqlSource:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        label = _hide_password(url)
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise DataError(
                f"'{label}' is not a valid database URL; write it like "
                "sqlite:///data.db or postgresql+psycopg://user@host/db"
            ) from None
        dialect = parsed.get_backend_name()
        database = parsed.database or ""
        if dialect not in ("sqlite", "duckdb") or database in ("", ":memory:"):
            return cls(label, url, None, dialect)
        path = Path(database).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        path = path.absolute()
        if not path.is_file():
            raise DataError(
                f"database file '{database}' of {label} not found (looked in {path}); check "
                f"the URL in {SPEC_HINT}"
            )
        return cls(label, url, path, dialect)

    @classmethod
    def from_file(cls, file: _FileSource) -> _SqlSource:
        head = file.path.read_bytes()[:16] if file.path.stat().st_size else b""
        if file.kind == "sqlite" and head and not head.startswith(b"SQLite format 3"):
            raise DataError(
                f"data file '{file.given}' is not a SQLite database; check the file or its "
                "extension"
            )
        return cls(file.given, f"{file.kind}:///{file.path}", file.path, file.kind)

    def engine(self):
        import sqlalchemy as sa

        if self.database_file is not None and self.dialect == "sqlite":
            uri = self.database_file.as_uri() + "?mode=ro"
            return sa.create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))
        if self.database_file is not None and self.dialect == "duckdb":
            return sa.create_engine(
                f"duckdb:///{self.database_file}", connect_args={"read_only": True}
            )
        return sa.create_engine(self.url)


def _sql_statement(sql: _SqlSource, connection, table: str | None, query: str | None) -> str:
    import sqlalchemy as sa

    if table and query:
        raise DataError(
            f"database '{sql.label}': set either 'table' or 'query' in {SPEC_HINT}, not both"
        )
    inspector = sa.inspect(connection)
    if query:
        return query
    available = sorted(inspector.get_table_names() + inspector.get_view_names())
    if not table:
        raise DataError(
            f"'{sql.label}' is a database: set 'table' (one of {_listing(available)}) or "
            f"'query' in {SPEC_HINT}"
        )
    schema, _, name = table.rpartition(".")
    if table not in available and not (schema and name in _schema_tables(inspector, schema)):
        raise DataError(
            f"database '{sql.label}' has no table '{table}'; available tables: "
            f"{_listing(available)}"
        )
    quote = connection.dialect.identifier_preparer.quote
    if table in available:
        return f"SELECT * FROM {quote(table)}"
    return f"SELECT * FROM {quote(schema)}.{quote(name)}"


def _schema_tables(inspector, schema: str) -> list[str]:
    try:
        return inspector.get_table_names(schema=schema) + inspector.get_view_names(schema=schema)
    except Exception:  # noqa: BLE001 - an unknown schema simply has no tables
        return []


def _listing(names: list[str]) -> str:
    if not names:
        return "(none: the database is empty)"
    return ", ".join(names[:30]) + (", ..." if len(names) > 30 else "")


@contextmanager
def _sql_connection(sql: _SqlSource, label: str) -> Iterator:
    from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError

    try:
        engine = sql.engine()
    except (NoSuchModuleError, ModuleNotFoundError) as error:
        raise DataError(
            f"the database driver for '{sql.label}' is not installed ({error}); install that "
            "driver package into this environment"
        ) from None
    try:
        try:
            connection = engine.connect()
        except (SQLAlchemyError, OSError) as error:
            raise DataError(
                f"cannot connect to '{sql.label}' ({_database_message(error)}); check the URL "
                "and that the database is reachable"
            ) from None
        with connection:
            yield connection
    except pd.errors.DatabaseError as error:
        raise DataError(
            f"{label} failed: {_database_message(error)}; fix the table or query in {SPEC_HINT}"
        ) from None
    except SQLAlchemyError as error:
        raise DataError(
            f"{label} failed: {_database_message(error)}; fix the table or query in {SPEC_HINT}"
        ) from None
    finally:
        engine.dispose()


def _sql_label(sql: _SqlSource, table: str | None, query: str | None) -> str:
    if table and not query:
        return f"table '{table}' of database '{sql.label}'"
    return f"the query on database '{sql.label}'"


def _database_message(error: BaseException) -> str:
    cause = error.__cause__ or error
    original = getattr(cause, "orig", None) or cause
    text = str(original).strip().splitlines()
    return text[0].rstrip(".") if text else type(original).__name__


def _read_sql(sql: _SqlSource, table: str | None, query: str | None) -> pd.DataFrame:
    label = _sql_label(sql, table, query)
    with _sql_connection(sql, label) as connection:
        statement = _sql_statement(sql, connection, table, query)
        return pd.read_sql_query(statement, connection)


def _sql_chunks(
    sql: _SqlSource, table: str | None, query: str | None, chunk_rows: int
) -> Iterator[pd.DataFrame]:
    label = _sql_label(sql, table, query)
    with _sql_connection(sql, label) as connection:
        statement = _sql_statement(sql, connection, table, query)
        yield from pd.read_sql_query(statement, connection, chunksize=chunk_rows)


# ----------------------------------------------------------------------------- shared


def _finish(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    if len(frame) == 0:
        raise _empty_error(label)
    return _clean_columns(frame, label)


def _clean_columns(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """Column names as stripped strings; two columns with one name is an error."""
    names = [str(name).strip() for name in frame.columns]
    _check_duplicate_names(names, label)
    if names != list(frame.columns):
        frame = frame.set_axis(names, axis=1)
    return frame


def _check_duplicate_names(names: list[str], label: str) -> None:
    stripped = [str(name).strip() for name in names]
    seen: dict[str, int] = {}
    for position, name in enumerate(stripped, start=1):
        if not name:
            continue
        if name in seen:
            raise DataError(
                f"{label} has two columns named '{name}' (columns {seen[name]} and "
                f"{position}); rename one so every column name is unique"
            )
        seen[name] = position


def _hide_password(text: str) -> str:
    if not is_database_url(text):
        return text
    try:
        from sqlalchemy.engine import make_url

        return make_url(text).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a label must never fail; fall back to a crude mask
        return re.sub(r"(://[^:/@]+:)[^@]+@", r"\1***@", text)
