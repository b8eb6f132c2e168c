"""Additive upgrades of existing tables: the columns and indexes a newer model declares are
added to a database created by an older tailorkit (``ALTER TABLE ... ADD COLUMN``, then each
missing index). Only nullable columns can be added this way: old rows get NULL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import Connection


def add_missing_columns(metadata: Any, connection: Connection) -> list[str]:
    """Add the columns and indexes of ``metadata``'s tables that existing tables lack; returns
    them as ``table.column`` / ``table:index``. Run in the transaction that holds the schema
    lock (``create_tables``), so two processes never add the same column."""
    inspector = inspect(connection)
    preparer = connection.dialect.identifier_preparer
    added: list[str] = []
    for table in metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue  # create_all makes it whole
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable:
                raise ValueError(f"cannot add NOT NULL column {table.name}.{column.name}")
            kind = column.type.compile(dialect=connection.dialect)
            connection.exec_driver_sql(
                f"ALTER TABLE {preparer.format_table(table)} "
                f"ADD COLUMN {preparer.format_column(column)} {kind}"
            )
            added.append(f"{table.name}.{column.name}")
        indexes = {index["name"] for index in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexes:
                index.create(connection)
                added.append(f"{table.name}:{index.name}")
    return added
