"""A database that cannot be reached or written is one clear DatabaseUnavailable naming it,
without folders, hosts or ports (the service answers it with 503)."""

from __future__ import annotations

import pytest

from tailorkit.errors import DatabaseUnavailable
from tailorkit.registry import Registry
from tailorkit.registry.engine import make_engine, unavailable_as_error


def test_an_unreachable_server_is_named_without_its_address(tmp_path):
    url = f"postgresql+psycopg://tk@/tailorkit?host={tmp_path / 'secret-folder'}&port=1"
    engine = make_engine(url)
    with pytest.raises(DatabaseUnavailable) as raised, unavailable_as_error(engine):
        engine.connect()
    message = str(raised.value)
    assert message.startswith("postgresql database 'tailorkit' is unavailable: "), message
    assert "secret-folder" not in message and "port" not in message and "\n" not in message


def test_a_read_only_registry_file_is_named_and_reads_still_work(tmp_path):
    Registry(tmp_path).ensure_project("acme", "credit_risk")
    read_only = Registry(
        tmp_path, url=f"sqlite:///file:{tmp_path / 'tailorkit.db'}?mode=ro&uri=true"
    )
    assert read_only.solution_of("acme") == "credit_risk"
    with pytest.raises(
        DatabaseUnavailable,
        match="^SQLite database tailorkit.db is unavailable: "
        "attempt to write a readonly database; retry later$",
    ):
        read_only.ensure_project("globex", "credit_risk")
