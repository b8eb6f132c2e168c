"""Optional extras: a missing one is a one-line error naming ``pip install 'tailorkit[x]'``
and exit code 2, checked in subprocesses that hide the package (``sys.modules[name] = None``
makes its import fail as if it were not installed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tailorkit.errors import TailorkitError
from tailorkit.optional import missing, require, require_sql_driver

ROOT = Path(__file__).resolve().parents[2]
HIDE_AND_RUN = """
import sys
for name in {hidden!r}:
    sys.modules[name] = None
sys.argv = ["tailorkit", *{args!r}]
from tailorkit.cli.main import main
main()
"""


def tailorkit_without(hidden: tuple[str, ...], *args: str, cwd: Path = ROOT):
    """``tailorkit *args`` in a subprocess where the ``hidden`` packages cannot be imported."""
    code = HIDE_AND_RUN.format(hidden=hidden, args=args)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def assert_needs_extra(done: subprocess.CompletedProcess, feature: str, extra: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    message = f"{feature} needs the {extra} extra: pip install 'tailorkit[{extra}]'"
    assert message in " ".join(done.stderr.split()), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_require_names_the_extra_and_the_missing_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "fastapi", None)
    assert missing("json", "fastapi.responses") == ["fastapi"]
    require("json", extra="serve", feature="anything")  # present: no error
    with pytest.raises(TailorkitError) as caught:
        require("json", "fastapi", extra="serve", feature="tailorkit serve")
    assert str(caught.value) == (
        "tailorkit serve needs the serve extra: pip install 'tailorkit[serve]' "
        "(fastapi is not installed)"
    )
    assert caught.value.exit_code == 2


def test_sql_urls_need_their_driver_but_sqlite_does_not(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.setitem(sys.modules, "duckdb_engine", None)
    require_sql_driver("sqlite:///x.db")
    require_sql_driver("mysql+pymysql://u@h/db")  # not the sql extra's: left to SQLAlchemy
    for url in ("postgresql+psycopg://bob:secret@db/bank", "duckdb:///x.duckdb"):
        with pytest.raises(TailorkitError, match=r"needs the sql extra") as caught:
            require_sql_driver(url)
        assert "secret" not in str(caught.value)


def test_serve_without_the_serve_extra():
    done = tailorkit_without(("fastapi",), "serve")
    assert_needs_extra(done, "tailorkit serve", "serve")


def test_postgresql_registry_without_the_sql_extra(tmp_path):
    url = "postgresql+psycopg://tk:secret@localhost/tailorkit"
    done = tailorkit_without(("psycopg",), "tenants", "list", "--db-url", url, cwd=tmp_path)
    assert_needs_extra(done, "a postgresql+psycopg:// database", "sql")
    assert "secret" not in done.stderr


def test_excel_data_without_the_excel_extra(tmp_path):
    (tmp_path / "applications.xlsx").write_bytes(b"PK\x03\x04" + bytes(60))
    (tmp_path / "tailorkit.yaml").write_text(
        "name: acme\nsolution: credit_risk\ntarget: default\ndata: {train: applications.xlsx}\n"
    )
    done = tailorkit_without(("openpyxl",), "validate", cwd=tmp_path)
    assert_needs_extra(done, "reading data file 'applications.xlsx'", "excel")


def test_text_encoder_and_onnx_without_their_extras():
    code = """
import sys
sys.modules["transformers"] = None
sys.modules["onnxruntime"] = None
from tailorkit.errors import TailorkitError
from tailorkit.models.compressed import onnx_session
from tailorkit.models.text_encoder import load_encoder
for call in (load_encoder, lambda: onnx_session(b"", 1)):
    try:
        call()
    except TailorkitError as error:
        print(error)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("a pretrained text encoder needs the text extra: ")
    assert "pip install 'tailorkit[text]' (transformers is not installed)" in lines[0]
    assert "needs the onnx extra: pip install 'tailorkit[onnx]'" in lines[1]
