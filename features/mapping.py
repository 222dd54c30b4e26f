"""Column-mapping files: how a foreign export maps onto the canonical tables.

Real ERP exports never use our column names, date formats or value spellings. A
mapping file (TOML) says, per canonical table, which file to read, how to read it,
which of its columns is which canonical column, and how to convert values. Every
key is optional; a table the mapping does not name is read in the canonical format
(`<table>.csv` or `<table>.parquet`, canonical column names, ISO dates).

A complete example::

    # Options at the top level are defaults for every table.
    encoding = "utf-8"

    [customers]
    file = "debtors.csv"
    [customers.columns]              # canonical name = "their column"
    customer_id = "Debtor"
    name = "Debtor Name"
    created_at = "Created"
    [customers.defaults]             # value when the column is absent or a value empty
    currency = "EUR"

    [invoices]
    file = "open_items.csv"          # relative to the import folder (.csv/.txt/.tsv/.parquet)
    delimiter = ";"                  # CSV field separator (default "," or tab for .tsv)
    encoding = "latin-1"             # CSV text encoding (default "utf-8")
    date_format = "%d.%m.%Y"         # strptime format of every date column of this table
    decimal = ","                    # decimal separator of money columns (default ".")
    thousands = "."                  # thousands separator to drop (default none)
    settled_date = "Clearing Date"   # invoices carry a paid date: derive the payments
    [invoices.columns]
    invoice_id = "Doc No"
    customer_id = "Customer"
    issue_date = "Doc Date"
    due_date = "Net Due"
    amount = "Amount"
    disputed = "In Dispute"
    [invoices.date_formats]          # per-column format, overrides date_format
    due_date = "%d/%m/%Y"
    settled_date = "%Y%m%d"
    [invoices.values.disputed]       # their value = canonical value
    "Yes" = true
    "No" = false
    [invoices.values.currency]
    "Euro" = "EUR"
    [invoices.attributes]            # issue-time attributes: model features by name
    channel = { column = "Billing Channel", kind = "category" }
    region = "category"              # their column has the attribute's name
    order_score = { column = "Score", kind = "number" }

`settled_date` derives one full payment per invoice whose settled-date value is not
empty: payment_id "SETTLED-<invoice_id>", the invoice's customer, amount = the invoice
amount, payment_date = the settled date. Re-importing derives the same ids, so the
import stays idempotent. The payments file is then optional (if present, its rows
are imported too).

`[invoices.attributes]` declares extra invoice columns known when the invoice is issued
(billing channel, region, sales rep, order type). Each key is the attribute's name (a
lowercase identifier, not a canonical column or feature name, not starting with attr_);
its value is its kind, "category" (text) or "number" (finite, read with the table's
decimal and thousands separators), or a table giving the file's `column` and the `kind`.
The import stores the values per invoice (an empty value is unknown and never replaces a
stored one); training adds one feature per attribute (`attr_cat_<name>` or
`attr_num_<name>`), the API's invoice scoring and order decision accept the same names
in an `attributes` object, and reasons word them ("its channel is 'paper'"). An
attribute keeps its kind once imported; only a mapping declares attributes (a
canonical-format import ignores extra columns).

Value maps replace the values they list (after trimming spaces) and leave other
values to the normal conversion; booleans also accept true/false, yes/no, y/n, 1/0
without a map. Files not named by the mapping keep their canonical defaults.

This module holds this reference and `apply_mapping`; the mapping objects live in
`features.mapping_model` and the parser in `features.mapping_parse`, both re-exported here.
"""

from __future__ import annotations

import logging

import pandas as pd

from features.mapping_model import (
    NUMBER_KINDS,
    SETTLED_COLUMN,
    SETTLED_PAYMENT_PREFIX,
    ImportMapping,
    MappedFrame,
    TableMapping,
)
from features.mapping_parse import load_mapping, parse_mapping
from features.readers import RawFile
from kernel import limits
from kernel.errors import BadRow
from kernel.schema import TABLES

__all__ = [
    "SETTLED_COLUMN",
    "SETTLED_PAYMENT_PREFIX",
    "ImportMapping",
    "MappedFrame",
    "TableMapping",
    "apply_mapping",
    "load_mapping",
    "parse_mapping",
]

logger = logging.getLogger(__name__)


def apply_mapping(raw: RawFile, mapping: TableMapping) -> MappedFrame:
    """Rename a raw file's columns to canonical ones and apply the value conversions.

    Required columns that are missing, and explicitly mapped columns the file lacks,
    become `BadRow`s with line None; unknown extra columns are ignored (logged once).
    Surrounding blanks are stripped (`kernel.limits.BLANKS`: never a control
    character), numbers rewritten with "." as decimal separator, value maps and defaults
    applied; parsing into types is left to `features.conversion`.
    """
    spec = TABLES[mapping.table]
    source = raw.frame
    found = list(source.columns)
    wanted = list(spec.column_names)
    if mapping.settled_date:
        wanted.append(SETTLED_COLUMN)

    frame = pd.DataFrame(index=source.index)
    labels: dict[str, str] = {}
    problems: list[BadRow] = []
    for name in wanted:
        their = mapping.source_column(name)
        labels[name] = their
        if their in source.columns:
            frame[name] = source[their]
            continue
        mapped = their != name
        required = name == SETTLED_COLUMN or TABLES[mapping.table].column(name).required
        if name in mapping.defaults and not mapped:
            continue
        if required or mapped:
            what = f"column {their!r} (mapped to {name})" if mapped else f"column {name!r}"
            problems.append(
                BadRow(
                    raw.name,
                    None,
                    their,
                    f"required {what} is missing; the file has: {', '.join(found)}",
                )
            )

    used = {mapping.source_column(n) for n in wanted}
    extra = [c for c in found if c not in used]
    if extra:
        logger.info(
            "%s: ignoring column(s) not in the %s table: %s",
            raw.name,
            mapping.table,
            ", ".join(extra),
        )

    _convert_values(frame, mapping)
    _fill_defaults(frame, mapping)
    return MappedFrame(
        table=mapping.table,
        file=raw.name,
        frame=frame,
        labels=labels,
        mapping=mapping,
        problems=problems,
    )


def _convert_values(frame: pd.DataFrame, mapping: TableMapping) -> None:
    """Strip blanks, make numbers read with a "." decimal and apply value maps, in place."""
    kinds = {c.name: c.kind for c in TABLES[mapping.table].columns}
    kinds[SETTLED_COLUMN] = "date"
    for name in list(frame.columns):
        column = frame[name]
        if _is_text(column):
            # Control characters are not stripped: validation rejects them.
            column = column.str.strip(limits.BLANKS)
            if kinds[name] in NUMBER_KINDS:
                column = _plain_number_text(column, mapping)
        if name in mapping.values:
            if not _is_text(column):
                column = column.astype("str")
            column = column.replace(mapping.values[name])
        frame[name] = column


def _fill_defaults(frame: pd.DataFrame, mapping: TableMapping) -> None:
    """Fill absent columns and empty values with the mapping's defaults, in place."""
    for name, text in mapping.defaults.items():
        if name not in frame.columns:
            frame[name] = pd.Series(text, index=frame.index, dtype="str")
        elif _is_text(frame[name]):
            frame[name] = frame[name].mask(frame[name] == "", text)
        else:
            frame[name] = frame[name].where(frame[name].notna(), text)


def _is_text(column: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(column)


def _plain_number_text(column: pd.Series, mapping: TableMapping) -> pd.Series:
    """Drop thousands separators and turn a decimal comma into a point."""
    if mapping.thousands:
        column = column.str.replace(mapping.thousands, "", regex=False)
    if mapping.decimal != ".":
        column = column.str.replace(mapping.decimal, ".", regex=False)
    return column
