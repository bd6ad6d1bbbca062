"""Database helpers the ORM lacks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.db import connections, models, router, transaction
from django.db.models.options import Options


def _field(meta: Options[Any], name: str) -> models.Field[Any, Any]:
    """The model's field ``name``; the reverse side of a relation has no column."""
    field = meta.get_field(name)
    if not isinstance(field, models.Field):
        raise TypeError(f"{meta.label}.{name} is not a column of the table")
    return field


def _column(field: models.Field[Any, Any]) -> str:
    if field.column is None:  # a composite foreign key: none of ours
        raise TypeError(f"{field} has no single column")
    return field.column


def update_rows(
    model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str]
) -> int:
    """Write each object's own values of ``fields`` in ONE statement.

    ``UPDATE t SET f = v.columnN FROM (VALUES (pk, ...), ...) AS v WHERE t.pk =
    v.column1`` (PostgreSQL, and SQLite since 3.33). Django's ``bulk_update``
    builds a CASE per field and row, which costs more CPU than the database
    spends on the rows. Returns the number of rows updated.
    """
    if not objs:
        return 0
    connection = connections[router.db_for_write(model)]
    meta = model._meta
    columns = [meta.pk, *(_field(meta, name) for name in fields)]
    if connection.vendor == "postgresql":
        # VALUES rows take their types from the data; a NULL needs a cast.
        row = (
            "("
            + ", ".join(f"CAST(%s AS {field.db_type(connection)})" for field in columns)
            + ")"
        )
    else:
        row = "(" + ", ".join("%s" for _ in columns) + ")"
    params: list[Any] = []
    for obj in objs:
        for field in columns:
            params.append(
                field.get_db_prep_save(getattr(obj, field.attname), connection)
            )
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    assignments = ", ".join(
        f"{quote(_column(field))} = v.column{index}"
        for index, field in enumerate(columns[1:], start=2)
    )
    # Only quoted identifiers and placeholders are interpolated; values are params.
    values = ", ".join([row] * len(objs))
    key = f"{table}.{quote(_column(meta.pk))}"
    sql = f"UPDATE {table} SET {assignments} FROM (VALUES {values}) AS v WHERE {key} = v.column1"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def insert_rows(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    ignore_conflicts: bool = False,
) -> int:
    """Insert ``rows`` (plain values in ``fields`` order) without reading ids back.

    PostgreSQL: one ``COPY ... FROM STDIN`` (psycopg encodes the rows in C and
    streams them in one round trip), several times cheaper in CPU than a
    multi-row INSERT, for which Django builds a model instance per row and
    psycopg quotes every value in Python. Other databases: ``bulk_create``.
    Values are given as the database takes them: foreign keys by id (the field
    name is accepted for the ``_id`` column), aware datetimes, JSON as Python
    data (encoded with the field's encoder).

    ``ignore_conflicts``: rows a unique constraint already holds are skipped
    (PostgreSQL: COPY into a temporary table, then one ``INSERT ... SELECT ... ON
    CONFLICT DO NOTHING``). Returns the number of rows given, or with
    ``ignore_conflicts`` on PostgreSQL the number inserted.
    """
    if not rows:
        return 0
    connection = connections[router.db_for_write(model)]
    meta = model._meta
    columns = [_field(meta, name) for name in fields]
    if connection.vendor != "postgresql":
        model.objects.bulk_create(  # type: ignore[attr-defined]  # any model: type[Model] has no manager
            [
                model(
                    **{
                        field.attname: value
                        for field, value in zip(columns, row, strict=True)
                    }
                )
                for row in rows
            ],
            batch_size=1000,
            ignore_conflicts=ignore_conflicts,
        )
        return len(rows)
    quote = connection.ops.quote_name
    column_list = ", ".join(quote(_column(field)) for field in columns)
    if not ignore_conflicts:
        _copy_rows(connection, quote(meta.db_table), column_list, columns, rows)
        return len(rows)
    staging = quote(f"_staging_{meta.db_table}")
    # No savepoint inside the caller's transaction (a batch): the temporary
    # rows only have to live from the COPY to the INSERT below.
    with (
        transaction.atomic(using=connection.alias, savepoint=False),
        connection.cursor() as cursor,
    ):
        # Lives for the session, emptied at every commit; the same columns, no
        # constraints or defaults (no sequence numbers spent on staged rows).
        # IF NOT EXISTS each time: cheap once it exists, and never wrong after a
        # rollback took the table with it (DDL is transactional).
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS "  # noqa: S608  (quoted identifiers)
            f"AS SELECT {column_list} FROM {quote(meta.db_table)} WITH NO DATA"
        )
        _copy_rows(connection, staging, column_list, columns, rows)
        # One statement empties the staging table into the real one, so a second
        # insert in the same transaction starts from nothing.
        cursor.execute(
            f"WITH staged AS (DELETE FROM {staging} RETURNING {column_list}) "  # noqa: S608  (quoted identifiers)
            f"INSERT INTO {quote(meta.db_table)} ({column_list}) "
            f"SELECT {column_list} FROM staged ON CONFLICT DO NOTHING"
        )
        inserted = cursor.rowcount
    return int(inserted)


def _copy_rows(
    connection: Any,
    table: str,
    column_list: str,
    columns: Sequence[Any],
    rows: Sequence[Sequence[object]],
) -> None:
    encoders = [
        (index, field.encoder)
        for index, field in enumerate(columns)
        if isinstance(field, models.JSONField)
    ]
    sql = f"COPY {table} ({column_list}) FROM STDIN"
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(sql) as copy,
    ):
        if encoders:
            for row in rows:
                values = list(row)
                for index, encoder in encoders:
                    if values[index] is not None:
                        values[index] = json.dumps(values[index], cls=encoder)
                copy.write_row(values)
        else:
            for row in rows:
                copy.write_row(row)
