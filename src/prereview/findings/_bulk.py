"""Bulk inserts at driver speed on SQLite and PostgreSQL.

SQLAlchemy's executemany processes every parameter of every row in Python, which dominated a
100,000-result import. Here each column's bind processor is applied only where the type has one
(timestamps, memoised since a batch shares them), and the rows go to the driver in one go: on
PostgreSQL through `COPY … FROM STDIN` (psycopg's copy protocol, far faster than row-by-row
INSERTs), elsewhere through the driver's own `executemany` on an INSERT compiled once (sqlite3
loops in C). Both run on the caller's connection, inside its transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert


def bulk_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (dicts with the same keys) into `table` in one executemany."""
    if not rows:
        return
    keys = list(rows[0])
    dialect = conn.dialect
    compiled = insert(table).compile(dialect=dialect, column_keys=keys)
    procs: dict[str, Callable[[Any], Any]] = {}
    for key in keys:
        proc = table.c[key].type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None:
            procs[key] = proc
    if procs:
        # the processed columns are timestamps that repeat across a batch: convert each once
        memo: dict[tuple[str, Any], Any] = {}

        def convert(key: str, value: Any) -> Any:
            try:
                return memo[(key, value)]
            except KeyError:
                memo[(key, value)] = done = procs[key](value)
                return done

        rows = [{**row, **{k: convert(k, row[k]) for k in procs}} for row in rows]
    if dialect.name == "postgresql":
        _copy(conn, table, keys, rows)
        return
    if dialect.positional:
        order = list(compiled.positiontup or ())
        params: list[Any] = [tuple(row[name] for name in order) for row in rows]
    else:
        params = list(rows)
    conn.exec_driver_sql(compiled.string, params)


def _copy(conn: Connection, table: Table, keys: list[str], rows: Sequence[dict[str, Any]]) -> None:
    raw: Any = conn.connection.dbapi_connection  # psycopg's Connection, in our transaction
    columns = ", ".join(conn.dialect.identifier_preparer.quote(k) for k in keys)
    name = conn.dialect.identifier_preparer.format_table(table)
    with raw.cursor() as cursor, cursor.copy(f"COPY {name} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[k] for k in keys])
