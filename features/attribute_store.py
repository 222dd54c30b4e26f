"""Invoice attributes in the store: read them from an import's file, write them, read them back.

Stored long (`invoice_attributes`: one row per invoice and attribute with a value) beside
the declared kinds (`attribute_kinds`), and read back wide: one column per declared
attribute, named by its feature (`features.attributes.feature_name`), text for a category
and float64 for a number, missing = unknown. Like the rest of the import, re-importing the
same values changes nothing and a value absent from a file never deletes a stored one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import sqlalchemy as sa

from features.attributes import ATTRIBUTE_TEXT_MAX, Attribute, feature_name
from features.conversion import TypedFrame, is_in
from features.import_write import copy_rows
from features.mapping_model import TableMapping
from features.problems import Problems
from features.readers import RawFile
from kernel import limits
from kernel.errors import BadRow, DataImportError

__all__ = [
    "VALUE_COLUMNS",
    "attribute_values",
    "no_attributes",
    "read_attributes",
    "wide_attributes",
    "write_attributes",
]

logger = logging.getLogger(__name__)

# The long form: what the import writes and `wide_attributes` reads.
VALUE_COLUMNS = ["invoice_id", "name", "value_text", "value_number"]
_IN_BATCH = 900


def attribute_values(
    raw: RawFile, mapping: TableMapping, typed: TypedFrame, problems: Problems
) -> pd.DataFrame:
    """The declared attributes' values of one invoices file, long, checked; problems recorded.

    Blanks are stripped and empty values left out (unknown). A category is text without
    control characters, at most `ATTRIBUTE_TEXT_MAX` long; a number is finite and read
    with the mapping's decimal and thousands separators.
    """
    parts = []
    for attribute in mapping.attributes:
        column = attribute.column or attribute.name
        if column not in raw.frame.columns:
            problems.extend(
                [
                    BadRow(
                        raw.name,
                        None,
                        column,
                        f"column {column!r} (attribute {attribute.name}) is missing; the file "
                        f"has: {', '.join(map(str, raw.frame.columns))}",
                    )
                ]
            )
            continue
        values = raw.frame[column].reindex(typed.frame.index)
        text, number = _checked(values, attribute, column, raw.name, mapping, problems)
        present = text.notna() if attribute.kind == "category" else number.notna()
        parts.append(
            pd.DataFrame(
                {
                    "invoice_id": typed.frame["invoice_id"][present].astype("str"),
                    "name": attribute.name,
                    "value_text": text[present].astype("str"),
                    "value_number": number[present].astype("float64"),
                }
            )
        )
    if not parts:
        return _empty_values()
    out = pd.concat(parts)
    return out[out["invoice_id"].notna()].reset_index(drop=True)


def _checked(
    values: pd.Series,
    attribute: Attribute,
    column: str,
    file: str,
    mapping: TableMapping,
    problems: Problems,
) -> tuple[pd.Series, pd.Series]:
    """(text, number) of one attribute's column; bad values recorded and left missing."""
    nothing = pd.Series(np.nan, index=values.index, dtype="float64")
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if attribute.kind == "number" and numeric:
        number = values.astype("float64")
        text = None
    else:
        text = values.astype("str").where(values.notna(), pd.NA).astype("str")
        text = text.str.strip(limits.BLANKS).replace("", pd.NA).astype("str")
    if attribute.kind == "category":
        assert text is not None
        bad = text.str.contains(limits.CONTROL_PATTERN, regex=True).fillna(False)
        problems.add(file, values.index[bad.to_numpy(bool)], column, "holds a control character")
        long = (text.str.len() > ATTRIBUTE_TEXT_MAX).fillna(False)
        problems.add(
            file,
            values.index[long.to_numpy(bool)],
            column,
            f"is longer than {ATTRIBUTE_TEXT_MAX} characters",
        )
        return text.mask(bad | long), nothing
    if text is not None:
        if mapping.thousands:
            text = text.str.replace(mapping.thousands, "", regex=False)
        if mapping.decimal != ".":
            text = text.str.replace(mapping.decimal, ".", regex=False)
        number = pd.to_numeric(text, errors="coerce").astype("float64")
    given = values.notna() if text is None else text.notna()
    bad = (given & ~np.isfinite(number.fillna(0.0)) | given & number.isna()).to_numpy(bool)
    shown = values.reset_index(drop=True)[bad]
    problems.add(
        file,
        values.index[bad],
        column,
        lambda i: (
            f"cannot read {str(shown.iloc[i])[:60]!r} as a finite number "
            f"(attribute {attribute.name})"
        ),
    )
    return pd.Series(pd.NA, index=values.index, dtype="str"), number.mask(bad)


def _empty_values() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "invoice_id": pd.Series(dtype="str"),
            "name": pd.Series(dtype="str"),
            "value_text": pd.Series(dtype="str"),
            "value_number": pd.Series(dtype="float64"),
        }
    )


def write_attributes(
    conn: sa.Connection,
    declared: Sequence[Attribute],
    values: pd.DataFrame,
    *,
    chunk_rows: int = 50_000,
) -> pd.Index:
    """Declare the attributes and upsert their values (long form); the invoices changed.

    Raises:
        DataImportError: an attribute was stored with another kind before.
    """
    from features.store import attribute_kinds, invoice_attributes

    stored = dict(conn.execute(sa.select(attribute_kinds.c.name, attribute_kinds.c.kind)).all())
    changed = [a for a in declared if stored.get(a.name, a.kind) != a.kind]
    if changed:
        raise DataImportError(
            "attribute(s) "
            + ", ".join(f"{a.name!r} (stored as {stored[a.name]}, now {a.kind})" for a in changed)
            + " cannot change kind: give the attribute another name in the mapping"
        )
    new = [{"name": a.name, "kind": a.kind} for a in declared if a.name not in stored]
    if new:
        conn.execute(attribute_kinds.insert(), new)
    values = values.drop_duplicates(["invoice_id", "name"], keep="last")
    if not len(values):
        return pd.Index([], dtype="str")
    before = _stored_values(conn, pd.Index(values["invoice_id"].unique()))
    merged = values.merge(before, on=["invoice_id", "name"], how="left", suffixes=("", "_old"))
    is_new = merged["found"].isna().to_numpy()
    same_text = (merged["value_text"] == merged["value_text_old"]).fillna(False) | (
        merged["value_text"].isna() & merged["value_text_old"].isna()
    )
    same_number = (merged["value_number"] == merged["value_number_old"]) | (
        merged["value_number"].isna() & merged["value_number_old"].isna()
    )
    update = ~is_new & ~(same_text & same_number).to_numpy(bool)
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    table = invoice_attributes.name
    inserts = _tuples(merged[is_new], VALUE_COLUMNS)
    updates = _tuples(merged[update], ["value_text", "value_number", "invoice_id", "name"])
    columns = "(invoice_id, name, value_text, value_number)"
    copy = conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"
    for start in range(0, len(inserts), chunk_rows):
        chunk = inserts[start : start + chunk_rows]
        if copy:  # about 10x executemany, as the import's other tables
            copy_rows(conn, f"COPY {table} {columns} FROM STDIN", chunk)
        else:
            conn.exec_driver_sql(
                f"INSERT INTO {table} {columns} VALUES ({mark}, {mark}, {mark}, {mark})", chunk
            )
    for start in range(0, len(updates), chunk_rows):
        conn.exec_driver_sql(
            f"UPDATE {table} SET value_text = {mark}, value_number = {mark} "
            f"WHERE invoice_id = {mark} AND name = {mark}",
            updates[start : start + chunk_rows],
        )
    logger.info("invoice attributes: %d inserted, %d updated", len(inserts), len(updates))
    touched = pd.concat([merged["invoice_id"][is_new], merged["invoice_id"][update]])
    return pd.Index(touched.unique(), dtype="str")


def _tuples(frame: pd.DataFrame, columns: list[str]) -> list[tuple[object, ...]]:
    arrays = [frame[c].to_numpy(dtype=object, na_value=None) for c in columns]
    return list(zip(*arrays, strict=True))


def _stored_values(conn: sa.Connection, invoice_ids: pd.Index | None) -> pd.DataFrame:
    """Stored values (long) of these invoices (all when None), with a `found` marker."""
    from features.store import invoice_attributes as t

    select = sa.select(t.c.invoice_id, t.c.name, t.c.value_text, t.c.value_number)
    if invoice_ids is None or len(invoice_ids) > 20_000:
        # One scan beats thousands of IN (...) round trips; raw rows skip per-row processing.
        cursor = conn.connection.cursor()
        try:
            cursor.execute(str(select.compile(dialect=conn.dialect)))
            rows = pd.DataFrame.from_records(cursor.fetchall(), columns=VALUE_COLUMNS)
        finally:
            cursor.close()
        if invoice_ids is not None:  # Arrow's is_in: pandas' isin loops in Python on text
            rows = rows[is_in(rows["invoice_id"], invoice_ids)]
    else:
        ids = invoice_ids.tolist()
        rows = pd.DataFrame(
            [
                r
                for i in range(0, len(ids), _IN_BATCH)
                for r in conn.execute(select.where(t.c.invoice_id.in_(ids[i : i + _IN_BATCH])))
            ],
            columns=VALUE_COLUMNS,
        )
    out = _empty_values() if not len(rows) else rows
    out = out.astype({"invoice_id": "str", "name": "str", "value_text": "str"})
    out["value_number"] = pd.to_numeric(out["value_number"]).astype("float64")
    out["found"] = True
    return out.reset_index(drop=True)


def no_attributes() -> pd.DataFrame:
    """The wide frame of a ledger without attributes (only invoice_id)."""
    return pd.DataFrame({"invoice_id": pd.Series(dtype="str")})


def wide_attributes(values: pd.DataFrame, declared: Sequence[Attribute]) -> pd.DataFrame:
    """One row per invoice with a value, one column per declared attribute (its feature name).

    Args:
        values: long form (VALUE_COLUMNS).
        declared: every declared attribute (each gets a column, even without values).
    """
    ids = pd.Index(values["invoice_id"].astype("str").unique())
    out = pd.DataFrame({"invoice_id": pd.Series(ids, dtype="str")})
    for attribute in sorted(declared, key=lambda a: a.name):
        mine = values[values["name"] == attribute.name]
        at = ids.get_indexer(mine["invoice_id"].astype("str"))
        if attribute.kind == "category":
            column = np.full(len(ids), None, dtype=object)
            column[at] = mine["value_text"].to_numpy(dtype=object, na_value=None)
            out[feature_name(attribute.name, "category")] = pd.Series(column, dtype="str")
        else:
            number = np.full(len(ids), np.nan)
            number[at] = mine["value_number"].to_numpy(dtype="float64", na_value=np.nan)
            out[feature_name(attribute.name, "number")] = number
    return out


def read_attributes(conn: sa.Connection, invoice_ids: pd.Index | None = None) -> pd.DataFrame:
    """The stored attributes, wide (`wide_attributes`), of these invoices (all when None)."""
    from features.store import attribute_kinds

    kinds = conn.execute(sa.select(attribute_kinds.c.name, attribute_kinds.c.kind)).all()
    if not kinds:
        return no_attributes()
    declared = [Attribute(name, kind) for name, kind in kinds]
    return wide_attributes(_stored_values(conn, invoice_ids), declared)
