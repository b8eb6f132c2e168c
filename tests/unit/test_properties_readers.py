"""Property tests of the data readers: any bytes under any data file name (random CSV text,
wrong encodings, binary junk, empty files, broken archives) read as a table or fail with one
``TailorkitError`` naming the file, never another exception; tidy tables read back whole."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from tailorkit.data.io import FORMAT_BY_SUFFIX, iter_table_chunks, read_table
from tailorkit.errors import TailorkitError
from tests.property_strategies import bounded, json_values, texts

COMPRESSED = (".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip", ".tsv.gz", ".jsonl.gz", ".json.xz")
EXTENSIONS = (*FORMAT_BY_SUFFIX, *COMPRESSED, ".csv.zst", ".bin", "")
ENCODINGS = ("utf-8", "latin-1", "utf-16", "ascii", "cp1252")
MAGIC = (b"\x89PNG", b"%PDF", b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"PAR1", b"ARROW1\x00\x00")
MAGIC += (
    b"SQLite format 3\x00",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ\x00",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("readers")


def csv_texts() -> st.SearchStrategy[str]:
    """Delimited text: ragged rows of odd cells, quotes, blank lines, any delimiter."""
    odd = texts(long=False) | st.sampled_from(['"', '""', '"a,b"', "1e400", "", " ", "\r"])
    plain = st.from_regex(r"[a-z0-9 .-]{0,6}", fullmatch=True)
    row = st.lists(plain | plain | odd, max_size=5)
    delimiter = st.sampled_from([",", "\t", ";", "|", ",,"])
    newline = st.sampled_from(["\n", "\r\n", "\r", "\n\n"])
    return st.tuples(st.lists(row, max_size=6), delimiter, newline).map(
        lambda parts: parts[2].join(parts[1].join(cells) for cells in parts[0])
    )


def json_texts() -> st.SearchStrategy[str]:
    """JSON lines or a JSON list of records, with odd values (NaN, surrogates, nesting)."""
    records = st.lists(
        st.dictionaries(texts(long=False), json_values(long=False), max_size=3), max_size=4
    )
    lines = records.map(lambda rows: "\n".join(json.dumps(row) for row in rows))
    return lines | records.map(json.dumps) | json_values(long=False).map(json.dumps)


def encoded(text: str, encoding: str) -> bytes:
    """``text`` in ``encoding`` the way a careless export writes it (lossy, surrogates raw)."""
    if encoding == "utf-8":
        return text.encode("utf-8", "surrogatepass")
    return text.encode(encoding, "replace")


def packed(data: bytes, how: str) -> bytes:
    """``data`` compressed as a file of that extension would be, or a broken archive."""
    if how == "gz":
        return gzip.compress(data)
    if how == "bz2":
        return bz2.compress(data)
    if how == "xz":
        return lzma.compress(data)
    if how == "truncated-gz":
        return gzip.compress(data)[: max(1, len(data) // 2)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range({"zip": 1, "zip-empty": 0, "zip-two": 2}[how]):
            archive.writestr(f"part{index}.csv", data)
    return buffer.getvalue()


def contents() -> st.SearchStrategy[bytes]:
    text = st.tuples(csv_texts() | json_texts(), st.sampled_from(ENCODINGS)).map(
        lambda t: encoded(*t)
    )
    magic = st.tuples(st.sampled_from(MAGIC), st.binary(max_size=80)).map(b"".join)
    hows = st.sampled_from(["gz", "bz2", "xz", "truncated-gz", "zip", "zip-empty", "zip-two"])
    archives = st.tuples(text | st.binary(max_size=80), hows).map(lambda t: packed(*t))
    blank = st.sampled_from([b"", b" ", b"\n\n", b"\xef\xbb\xbf", b"\x00" * 10])
    return st.one_of(text, st.binary(max_size=300), magic, archives, blank, text)


def assert_table_or_names_file(name: str, read) -> None:
    """``read()`` gives non-empty frames with unique text column names, or a one-line
    TailorkitError naming the file."""
    try:
        frames = read()
    except TailorkitError as error:
        message = str(error)
        assert name in message and "\n" not in message and len(message) < 2000, message[:2000]
        message.encode("utf-8")
        event("an error naming the file")
        return
    event("a table")
    for frame in frames:
        assert isinstance(frame, pd.DataFrame) and len(frame) > 0
        names = list(frame.columns)
        assert all(isinstance(c, str) for c in names) and len(set(names)) == len(names), names


def read_frames(folder: Path, name: str, encoding: str, chunked: bool) -> list[pd.DataFrame]:
    """The file read whole, or streamed two rows at a time."""
    if chunked:
        return list(iter_table_chunks(name, chunk_rows=2, encoding=encoding, base_dir=folder))
    return [read_table(name, encoding=encoding, base_dir=folder)]


@bounded(250)
@given(
    st.sampled_from([".csv", ".txt", ".tsv", ".jsonl", ".json"]) | st.sampled_from(EXTENSIONS),
    contents(),
    st.sampled_from(ENCODINGS),
    st.booleans(),
)
@example(".csv.zst", b"a,b\n1,2\n", "utf-8", False)  # zstandard not installed: ImportError
@example(".csv", b"a\rb,c\n1,2\n", "utf-8", False)  # csv.Error: new-line in unquoted field
@example(".json", b'[{"a": 1}]\x80', "utf-16", False)  # UnicodeError: no UTF-16 BOM
def test_any_bytes_read_as_a_table_or_an_error_naming_the_file(
    folder, extension, content, encoding, chunked
):
    name = f"data{extension}"
    (folder / name).write_bytes(content)
    assert_table_or_names_file(name, lambda: read_frames(folder, name, encoding, chunked))


def tidy_frames() -> st.SearchStrategy[pd.DataFrame]:
    """Small tables with unique, plain column names and non-empty cells."""
    names = st.lists(
        st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True), min_size=1, max_size=4, unique=True
    )
    cells = st.integers(-(10**6), 10**6) | st.from_regex(
        r"[A-Za-z][A-Za-z0-9 ]{0,8}[A-Za-z0-9]", fullmatch=True
    )
    return st.tuples(names, st.integers(1, 5)).flatmap(
        lambda shape: st.lists(
            st.lists(cells, min_size=len(shape[0]), max_size=len(shape[0])),
            min_size=shape[1],
            max_size=shape[1],
        ).map(lambda rows: pd.DataFrame(rows, columns=shape[0]))
    )


WRITERS = {
    ".csv": lambda frame, path, encoding: frame.to_csv(path, index=False, encoding=encoding),
    ".tsv": lambda frame, path, encoding: frame.to_csv(path, index=False, sep="\t"),
    ".csv.gz": lambda frame, path, encoding: frame.to_csv(path, index=False, encoding=encoding),
    ".jsonl": lambda frame, path, encoding: frame.to_json(path, orient="records", lines=True),
    ".json": lambda frame, path, encoding: frame.to_json(path, orient="records"),
    ".parquet": lambda frame, path, encoding: frame.astype(str).to_parquet(path),
    ".feather": lambda frame, path, encoding: frame.astype(str).to_feather(path),
}
TEXT_ENCODED = (".csv", ".csv.gz")  # written in the drawn encoding; the others in UTF-8


@bounded(60)
@given(st.sampled_from(sorted(WRITERS)), tidy_frames(), st.sampled_from(ENCODINGS))
@example(".csv", pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), "utf-16")  # NUL bytes: "binary"
def test_a_tidy_table_reads_back_whole(folder, extension, frame, encoding):
    encoding = encoding if extension in TEXT_ENCODED else "utf-8"
    path = folder / f"tidy{extension}"
    WRITERS[extension](frame, path, encoding)
    read = read_table(path, encoding=encoding)
    assert list(read.columns) == list(frame.columns) and len(read) == len(frame)
