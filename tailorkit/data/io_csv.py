"""CSV and other delimited text files: delimiter sniffing, header checks, whole or chunked
reads, and parser failures turned into one sentence naming the file and line."""

from __future__ import annotations

import codecs
import csv
import io
import lzma
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd

from tailorkit.data.io_files import (
    CSV_SUFFIXES,
    SNIFF_BYTES,
    FileSource,
    bad_byte_error,
    check_duplicate_names,
    empty_error,
    encoding_message,
    head_bytes,
    reject_binary,
)
from tailorkit.errors import DataError

DELIMITERS = (",", "\t", ";", "|")


@dataclass(frozen=True)
class _CsvLayout:
    delimiter: str
    header: list[str]


def _csv_layout(file: FileSource, encoding: str) -> _CsvLayout:
    if file.path.stat().st_size == 0:
        raise empty_error(f"data file '{file.given}'")
    head = head_bytes(file)
    reject_binary(file, head, encoding)
    whole = len(head) < SNIFF_BYTES
    try:  # a head cut inside a character (UTF-16, UTF-8) keeps the partial bytes back
        text = codecs.getincrementaldecoder(encoding)().decode(head, final=whole)
    except UnicodeDecodeError as error:
        raise _encoding_error(file, encoding, head, error.start) from None
    except UnicodeError:  # "UTF-16 stream does not start with BOM"
        raise bad_byte_error(file, encoding) from None
    if not whole and "\n" in text:
        text = text[: text.rindex("\n") + 1]
    if head and not text.strip():
        raise empty_error(f"data file '{file.given}'")
    suffix = file.path.suffixes[-2 if file.compression else -1].lower()
    delimiter = CSV_SUFFIXES.get(suffix) or _sniff_delimiter(text)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as error:
        raise DataError(
            f"data file '{file.given}' cannot be parsed as a table ({error}); check that it "
            "is valid CSV"
        ) from None
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


def _csv_options(file: FileSource, layout: _CsvLayout, encoding: str) -> dict:
    return {
        "sep": layout.delimiter,
        "encoding": encoding,
        "compression": file.compression or None,
        "skip_blank_lines": True,
    }


def read_csv(file: FileSource, encoding: str) -> pd.DataFrame:
    """The whole delimited file as a frame."""
    layout = _csv_layout(file, encoding)
    check_duplicate_names(layout.header, f"data file '{file.given}'")
    with _csv_errors(file, encoding, layout):
        return pd.read_csv(file.path, **_csv_options(file, layout, encoding))


def csv_chunks(file: FileSource, encoding: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The delimited file, chunk_rows rows at a time."""
    layout = _csv_layout(file, encoding)
    check_duplicate_names(layout.header, f"data file '{file.given}'")
    with _csv_errors(file, encoding, layout):
        options = _csv_options(file, layout, encoding)
        with pd.read_csv(file.path, chunksize=chunk_rows, **options) as reader:
            yield from reader


@contextmanager
def _csv_errors(file: FileSource, encoding: str, layout: _CsvLayout) -> Iterator[None]:
    """Turn pandas' parser failures into one sentence naming the file and line."""
    label = f"data file '{file.given}'"
    try:
        yield
    except pd.errors.EmptyDataError:
        raise empty_error(label) from None
    except pd.errors.ParserError as error:
        raise DataError(_parser_message(label, str(error), layout.delimiter)) from None
    except UnicodeError:  # a byte the encoding cannot decode, or a missing UTF-16 BOM
        raise bad_byte_error(file, encoding) from None
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


def _encoding_error(file: FileSource, encoding: str, data: bytes, offset: int) -> DataError:
    line = data.count(b"\n", 0, offset) + 1
    return DataError(encoding_message(file.given, encoding, line, data[offset]))
