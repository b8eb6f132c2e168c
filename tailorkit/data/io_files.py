"""Data files: resolve the path, detect format and compression, sniff the first bytes, and
the errors every file reader shares (empty, binary, undecodable, invalid, duplicate columns).

Files are only ever opened for reading.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import lzma
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tailorkit.errors import DataError
from tailorkit.optional import missing

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
SNIFF_BYTES = 64 * 1024
SPEC_HINT = "the spec's data section"


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
class FileSource:
    """A resolved data file: what the user wrote, where it is, and how to read it."""

    given: str
    path: Path
    kind: str
    compression: str | None


def absolute_path(given: str | Path, base_dir: Path | None) -> Path:
    """``given`` with ``~`` expanded, relative to ``base_dir`` (the spec's folder) when set."""
    path = Path(given).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return path.absolute()


def resolve_file(source: str | Path, base_dir: Path | None) -> FileSource:
    """The data file ``source`` names: it must exist, be a file and have a known extension."""
    given = str(source)
    path = absolute_path(source, base_dir)
    if not path.exists():
        raise DataError(
            f"data file '{given}' not found (looked in {path}); check the path in {SPEC_HINT}"
        )
    if path.is_dir():
        raise DataError(f"data path '{given}' is a folder, not a file; name one file inside it")
    kind, compression = _detect_format(path, given)
    if compression == "zstd" and missing("zstandard"):
        raise DataError(
            f"data file '{given}' is zstd-compressed, which needs the zstandard package: pip "
            "install zstandard (or compress it with .gz, .bz2, .xz or .zip)"
        )
    return FileSource(given, path, kind, compression)


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


def reject_database_options(file: FileSource, table: str | None, query: str | None) -> None:
    """A table or query given for a plain data file is a DataError."""
    if table or query:
        option = "table" if table else "query"
        raise DataError(
            f"'{option}' applies only to databases, but data file '{file.given}' is a "
            f"{file.kind} file; remove '{option}' from {SPEC_HINT}"
        )


def check_encoding(encoding: str) -> None:
    """An encoding Python does not know is a DataError."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DataError(
            f"unknown encoding '{encoding}' in {SPEC_HINT}; use e.g. utf-8 or latin-1"
        ) from None


def open_binary(file: FileSource):
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


def head_bytes(file: FileSource) -> bytes:
    """The first SNIFF_BYTES (decompressed) bytes; empty for zstd, which is not sniffed."""
    if file.compression == "zstd":
        return b""
    try:
        with open_binary(file) as handle:
            return handle.read(SNIFF_BYTES)
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile) as error:
        raise DataError(
            f"data file '{file.given}' cannot be decompressed ({error}); check that it is a "
            f"valid {file.compression} archive"
        ) from None


def empty_error(label: str) -> DataError:
    """The error for a file or table without data rows."""
    if label.startswith("data file"):
        return DataError(
            f"{label} has no data rows; add rows below the header or pick another file"
        )
    return DataError(f"{label} has no data rows; check the table or query in {SPEC_HINT}")


def reject_binary(file: FileSource, head: bytes, encoding: str = "utf-8") -> None:
    """A DataError naming what a binary file looks like (image, PDF, archive...). NUL bytes
    mean binary data, except in UTF-16 and UTF-32 text, where every ASCII letter has them."""
    name = next((name for magic, name in _MAGIC_NAMES.items() if head.startswith(magic)), None)
    if name is None:
        wide = codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
        if wide or b"\x00" not in head[:8192]:
            return
        name = "binary data"
    raise DataError(
        f"data file '{file.given}' is not a text table (it looks like {name}); export the "
        f"data as CSV, Parquet, JSON lines or Excel"
    )


def expect_signature(file: FileSource, kind: str, signatures: tuple[bytes, ...]) -> None:
    """Name what a binary file really is when its first bytes are not ``kind``'s."""
    if file.path.stat().st_size == 0:
        raise empty_error(f"data file '{file.given}'")
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


def invalid_file(file: FileSource, kind: str, error: Exception) -> DataError:
    if file.path.stat().st_size == 0:
        return empty_error(f"data file '{file.given}'")
    lines = str(error).strip().splitlines()
    detail = lines[0].split(". ")[0].rstrip(".") if lines else type(error).__name__
    detail = detail.replace(str(file.path), file.given)
    return DataError(
        f"data file '{file.given}' is not a valid {kind} file ({detail}); re-export it"
    )


def check_duplicate_names(names: list[str], label: str) -> None:
    """Two columns with one (stripped) name are a DataError naming both positions."""
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


def _locate_bad_byte(file: FileSource, encoding: str) -> tuple[int, int | None]:
    """The 1-based line and value of the first byte that ``encoding`` cannot decode (no value
    when the text is cut short or a UTF-16/32 byte-order mark is missing)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    with open_binary(file) as handle:
        for raw_line in handle:
            try:
                decoder.decode(raw_line)
            except UnicodeDecodeError as error:
                inside = 0 <= error.start < len(raw_line)
                return line, raw_line[error.start] if inside else None
            except UnicodeError:  # "UTF-16 stream does not start with BOM"
                return line, None
            line += 1
    return line, None


def bad_byte_error(file: FileSource, encoding: str) -> DataError:
    """The error naming the line and value of the first byte ``encoding`` cannot decode."""
    line, byte = _locate_bad_byte(file, encoding)
    return DataError(encoding_message(file.given, encoding, line, byte))


def encoding_message(given: str, encoding: str, line: int, byte: int | None) -> str:
    """The sentence for a byte (or the end of a text) that the encoding cannot decode."""
    what = (
        f"byte 0x{byte:02x} is not valid {encoding}"
        if byte is not None
        else (
            f"the text is not valid {encoding} (cut short, or without the byte-order mark it needs)"
        )
    )
    return (
        f"data file '{given}' line {line}: {what}; set 'encoding: latin-1' (or the file's real "
        f"encoding) in {SPEC_HINT}"
    )
