"""Binary and structured data files: Parquet (streamed by record batches), Feather, JSON
and JSON lines (streamed), and Excel workbooks."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd

from tailorkit.data.io_files import (
    FileSource,
    bad_byte_error,
    check_duplicate_names,
    empty_error,
    expect_signature,
    head_bytes,
    invalid_file,
    open_binary,
    reject_binary,
)
from tailorkit.errors import DataError
from tailorkit.optional import require


def read_parquet(file: FileSource, encoding: str) -> pd.DataFrame:
    """The whole Parquet file as a frame."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    expect_signature(file, "Parquet", (b"PAR1",))
    try:
        table = pq.read_table(file.path)
    except (pa.ArrowException, OSError) as error:
        raise invalid_file(file, "Parquet", error) from None
    check_duplicate_names(table.column_names, f"data file '{file.given}'")
    return table.to_pandas()


def parquet_chunks(file: FileSource, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The Parquet file by record batches of chunk_rows rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    expect_signature(file, "Parquet", (b"PAR1",))
    try:
        parquet = pq.ParquetFile(file.path)
        check_duplicate_names(parquet.schema_arrow.names, f"data file '{file.given}'")
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()
    except (pa.ArrowException, OSError) as error:
        raise invalid_file(file, "Parquet", error) from None


def read_feather(file: FileSource, encoding: str) -> pd.DataFrame:
    """The whole Feather file as a frame."""
    import pyarrow as pa

    try:
        return pd.read_feather(file.path)
    except (pa.ArrowException, OSError) as error:
        raise invalid_file(file, "Feather", error) from None


def _json_is_lines(file: FileSource, head: bytes, encoding: str) -> bool:
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


def _json_setup(file: FileSource, encoding: str) -> bool:
    """Check the JSON file for emptiness, binary junk and bad bytes; True for JSON lines."""
    label = f"data file '{file.given}'"
    if file.path.stat().st_size == 0:
        raise empty_error(label)
    head = head_bytes(file)
    reject_binary(file, head, encoding)
    if not head.strip():
        raise empty_error(label)
    return _json_is_lines(file, head, encoding)


def read_json(file: FileSource, encoding: str) -> pd.DataFrame:
    """A JSON table (list of records) or JSON lines file as a frame."""
    lines = _json_setup(file, encoding)
    with _json_errors(file, encoding, lines):
        return pd.read_json(
            file.path, lines=lines, encoding=encoding, compression=file.compression or None
        )


def json_chunks(file: FileSource, encoding: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """JSON lines streamed chunk_rows rows at a time; a JSON table read whole, then cut."""
    lines = _json_setup(file, encoding)
    with _json_errors(file, encoding, lines):
        if not lines:
            yield from slices(read_json(file, encoding), chunk_rows)
            return
        options = {"encoding": encoding, "compression": file.compression or None}
        with pd.read_json(file.path, lines=True, chunksize=chunk_rows, **options) as reader:
            yield from reader


@contextmanager
def _json_errors(file: FileSource, encoding: str, lines: bool) -> Iterator[None]:
    label = f"data file '{file.given}'"
    try:
        yield
    except UnicodeError:  # a byte the encoding cannot decode, or a missing UTF-16 BOM
        raise bad_byte_error(file, encoding) from None
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


def _first_bad_json_line(file: FileSource, encoding: str) -> tuple[int, str]:
    with open_binary(file) as handle:
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


def read_excel(file: FileSource, sheet: str | int | None) -> pd.DataFrame:
    """One sheet of an Excel workbook (the first by default)."""
    label = f"data file '{file.given}'"
    sheet_name = 0 if sheet is None else sheet
    expect_signature(file, "Excel", (b"PK\x03\x04", b"\xd0\xcf\x11\xe0"))
    if file.path.suffix.lower() != ".xls":  # .xlsx/.xlsm: openpyxl (.xls: the user's xlrd)
        require("openpyxl", extra="excel", feature=f"reading {label}")
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
        raise invalid_file(file, "Excel", error) from None
    except (zipfile.BadZipFile, OSError, KeyError) as error:
        raise invalid_file(file, "Excel", error) from None
    if not header.empty:
        names = [str(v) for v in header.iloc[0].tolist() if not pd.isna(v)]
        check_duplicate_names(names, label)
    return frame


def _excel_sheets(file: FileSource) -> list[str]:
    try:
        import openpyxl

        workbook = openpyxl.load_workbook(file.path, read_only=True)
        try:
            return list(workbook.sheetnames)
        finally:
            workbook.close()
    except Exception:  # noqa: BLE001 - only a hint for the message; the real error follows
        return []


def slices(frame: pd.DataFrame, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """A frame cut into consecutive chunks of chunk_rows rows."""
    for start in range(0, len(frame), chunk_rows):
        yield frame.iloc[start : start + chunk_rows]
