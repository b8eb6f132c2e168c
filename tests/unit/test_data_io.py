"""Reading tables: round trips for every format and one clear DataError per bad input."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from tailorkit.data.io import iter_table_chunks, read_table, table_label
from tailorkit.errors import DataError

PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02"


@pytest.fixture
def sample() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "amount": [10.5, 2.25, np.nan, 7.0, 1.5],
            "city": ["Oslo", "Lima", "Pune", "Oslo", "Kyiv"],
            "default": [0, 1, 0, 0, 1],
        }
    )


def assert_same(frame: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(frame.columns) == list(expected.columns)
    assert len(frame) == len(expected)
    for column in expected.columns:
        assert [str(v) for v in frame[column]] == [str(v) for v in expected[column]], column


def fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def expect_data_error(path: Path, *patterns: str, **options) -> str:
    """Read ``path``, expect a one-sentence DataError naming the file, and the file untouched."""
    before = fingerprint(path) if path.is_file() else None
    with pytest.raises(DataError) as caught:
        read_table(path.name, base_dir=path.parent, **options)
    message = str(caught.value)
    assert path.name in message
    assert "\n" not in message
    for pattern in patterns:
        assert pattern in message, message
    if before is not None:
        assert fingerprint(path) == before
    return message


# ------------------------------------------------------------------------ round trips


@pytest.mark.parametrize(
    "name, separator",
    [("data.csv", ","), ("data.tsv", "\t"), ("semi.csv", ";"), ("pipe.txt", "|")],
)
def test_delimited_round_trip(tmp_path, sample, name, separator):
    sample.to_csv(tmp_path / name, sep=separator, index=False)
    assert_same(read_table(tmp_path / name), sample)


def test_semicolon_with_decimal_commas_is_sniffed(tmp_path):
    (tmp_path / "eu.csv").write_text("name;price\nA;1,5\nB;2,25\n")
    frame = read_table(tmp_path / "eu.csv")
    assert list(frame.columns) == ["name", "price"]
    assert frame["price"].tolist() == ["1,5", "2,25"]


def test_compressed_csv_round_trip(tmp_path, sample):
    sample.to_csv(tmp_path / "data.csv.gz", index=False)
    assert_same(read_table(tmp_path / "data.csv.gz"), sample)


def test_relative_path_resolves_against_base_dir(tmp_path, sample):
    (tmp_path / "sub").mkdir()
    sample.to_csv(tmp_path / "sub" / "data.csv", index=False)
    assert_same(read_table("sub/data.csv", base_dir=tmp_path), sample)


def test_column_names_are_stripped(tmp_path):
    (tmp_path / "spaces.csv").write_text(" a , b\n1,2\n")
    assert list(read_table(tmp_path / "spaces.csv").columns) == ["a", "b"]


def test_parquet_round_trip(tmp_path, sample):
    sample.to_parquet(tmp_path / "data.parquet", index=False)
    assert_same(read_table(tmp_path / "data.parquet"), sample)


def test_jsonl_and_json_round_trip(tmp_path, sample):
    sample.to_json(tmp_path / "data.jsonl", orient="records", lines=True)
    assert_same(read_table(tmp_path / "data.jsonl"), sample)
    sample.to_json(tmp_path / "records.json", orient="records")
    assert_same(read_table(tmp_path / "records.json"), sample)
    sample.to_json(tmp_path / "lines.json", orient="records", lines=True)
    assert_same(read_table(tmp_path / "lines.json"), sample)


def test_excel_round_trip_and_sheet(tmp_path, sample):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        sample.head(2).to_excel(writer, sheet_name="first", index=False)
        sample.to_excel(writer, sheet_name="loans", index=False)
    assert_same(read_table(path, sheet="loans"), sample)
    assert len(read_table(path)) == 2
    expect_data_error(path, "no sheet 'missing'", "first, loans", sheet="missing")


def test_sqlite_table_query_and_url(tmp_path, sample):
    path = tmp_path / "bank.db"
    with sqlite3.connect(path) as connection:
        sample.to_sql("loans", connection, index=False)
    assert_same(read_table(path, table="loans"), sample)
    picked = read_table(path, query='SELECT id, city FROM loans WHERE "default" = 1')
    assert picked["id"].tolist() == [2, 5]
    assert_same(read_table("sqlite:///bank.db", table="loans", base_dir=tmp_path), sample)


def test_duckdb_table_file_and_url(tmp_path, sample):
    path = tmp_path / "bank.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.register("sample_view", sample)
        connection.execute("CREATE TABLE loans AS SELECT * FROM sample_view")
    assert_same(read_table(path, table="loans"), sample)
    assert_same(read_table(f"duckdb:///{path}", table="loans"), sample)


def test_table_label_hides_password():
    label = table_label("postgresql+psycopg://bob:secret@db/bank", table="loans")
    assert "secret" not in label and "loans" in label
    assert table_label("data/x.csv") == "data/x.csv"


# -------------------------------------------------------------------------- chunking


def test_csv_chunks_return_all_rows_in_order(tmp_path):
    frame = pd.DataFrame({"n": range(23), "text": [f"row{i}" for i in range(23)]})
    frame.to_csv(tmp_path / "rows.csv", index=False)
    chunks = list(iter_table_chunks(tmp_path / "rows.csv", chunk_rows=5))
    assert [len(c) for c in chunks] == [5, 5, 5, 5, 3]
    assert pd.concat(chunks)["n"].tolist() == list(range(23))


def test_parquet_chunks_return_all_rows_in_order(tmp_path):
    frame = pd.DataFrame({"n": range(40), "x": np.linspace(0, 1, 40)})
    frame.to_parquet(tmp_path / "rows.parquet", index=False, row_group_size=16)
    chunks = list(iter_table_chunks(tmp_path / "rows.parquet", chunk_rows=7))
    assert max(len(c) for c in chunks) <= 7 and len(chunks) >= 6
    assert pd.concat(chunks)["n"].tolist() == list(range(40))


def test_sql_and_jsonl_chunks(tmp_path, sample):
    with sqlite3.connect(tmp_path / "bank.db") as connection:
        sample.to_sql("loans", connection, index=False)
    chunks = list(iter_table_chunks(tmp_path / "bank.db", table="loans", chunk_rows=2))
    assert [len(c) for c in chunks] == [2, 2, 1]
    sample.to_json(tmp_path / "data.jsonl", orient="records", lines=True)
    chunks = list(iter_table_chunks(tmp_path / "data.jsonl", chunk_rows=3))
    assert pd.concat(chunks)["id"].tolist() == [1, 2, 3, 4, 5]


def test_chunks_report_bad_line_and_empty_file(tmp_path):
    lines = ["a,b"] + [f"{i},{i}" for i in range(12)] + ["1,2,3"]
    (tmp_path / "late.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"late.csv' line 14: expected 2 fields, saw 3"):
        list(iter_table_chunks(tmp_path / "late.csv", chunk_rows=4))
    (tmp_path / "header.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="header.csv' has no data rows"):
        list(iter_table_chunks(tmp_path / "header.csv", chunk_rows=4))


# ------------------------------------------------------------------------ bad inputs


def test_missing_file_names_where_it_looked(tmp_path):
    expect_data_error(tmp_path / "nope.csv", "not found", str(tmp_path))
    assert not (tmp_path / "nope.csv").exists()


def test_missing_database_file_is_not_created(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_table("sqlite:///ghost.db", table="t", base_dir=tmp_path)
    with pytest.raises(DataError, match="not found"):
        read_table(tmp_path / "ghost.duckdb", table="t")
    assert not (tmp_path / "ghost.db").exists() and not (tmp_path / "ghost.duckdb").exists()


def test_directory_instead_of_file(tmp_path):
    (tmp_path / "folder.csv").mkdir()
    expect_data_error(tmp_path / "folder.csv", "is a folder")


@pytest.mark.parametrize("content", ["", "a,b,c\n", "\n\n"])
def test_empty_or_header_only_file(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_text(content)
    expect_data_error(path, "has no data rows")


def test_garbled_csv_names_the_line(tmp_path):
    path = tmp_path / "garbled.csv"
    path.write_text("a,b,c,d,e\n" + "1,2,3,4,5\n" * 5 + "1,2,3,4,5,6,7,8,9\n")
    expect_data_error(path, "line 7: expected 5 fields, saw 9")


def test_unclosed_quote_names_the_line(tmp_path):
    path = tmp_path / "quote.csv"
    path.write_text('a,b\n1,2\n3,4\n5,"abc\n6,7\n')
    expect_data_error(path, "line 4", "quoted value")


def test_non_utf8_bytes_name_line_and_byte(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"name,city\nAna,Oslo\nJos\xe9,Lima\n")
    expect_data_error(path, "line 3", "0xe9", "encoding: latin-1")
    assert read_table(path, encoding="latin-1")["name"].tolist() == ["Ana", "José"]


def test_non_utf8_bytes_beyond_the_sniffed_head(tmp_path):
    path = tmp_path / "late_latin.csv"
    body = "".join(f"row{i},{'x' * 60}\n" for i in range(1500))
    path.write_bytes(b"name,note\n" + body.encode() + b"caf\xe9,ok\n")
    expect_data_error(path, "line 1502", "0xe9")


def test_unknown_extension(tmp_path):
    path = tmp_path / "data.foo"
    path.write_text("a\n1\n")
    expect_data_error(path, "unknown extension '.foo'", ".csv")


def test_unknown_sql_table_lists_available(tmp_path):
    path = tmp_path / "bank.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE loans (a INTEGER)")
        connection.execute("CREATE TABLE people (b TEXT)")
        connection.execute("INSERT INTO loans VALUES (1)")
    expect_data_error(path, "no table 'lones'", "loans, people", table="lones")
    expect_data_error(path, "set 'table'", "loans")


def test_bad_sql_query_reports_database_message(tmp_path):
    path = tmp_path / "bank.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE loans (a INTEGER)")
    expect_data_error(path, 'near "SELEC"', query="SELEC a FROM loans")
    expect_data_error(path, "no such column", query="SELECT zzz FROM loans")


def test_duplicate_column_names(tmp_path):
    path = tmp_path / "dupes.csv"
    path.write_text("a,b,a\n1,2,3\n")
    expect_data_error(path, "two columns named 'a'", "columns 1 and 3")
    (tmp_path / "strip.csv").write_text("a, a\n1,2\n")
    expect_data_error(tmp_path / "strip.csv", "two columns named 'a'")


@pytest.mark.parametrize("name", ["picture.csv", "picture.parquet", "picture.xlsx", "pic.jsonl"])
def test_file_that_is_not_a_table(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(PNG_BYTES)
    expect_data_error(path)


def test_png_renamed_csv_says_what_it_is(tmp_path):
    path = tmp_path / "picture.csv"
    path.write_bytes(PNG_BYTES)
    expect_data_error(path, "PNG image")


def test_bad_jsonl_line_is_named(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": 3,\n')
    expect_data_error(path, "line 3")


def test_table_option_on_a_csv_is_rejected(tmp_path, sample):
    sample.to_csv(tmp_path / "data.csv", index=False)
    expect_data_error(tmp_path / "data.csv", "'table' applies only to databases", table="x")
