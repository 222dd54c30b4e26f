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
import stays idempotent. A payments file is always optional (a ledger with no payments
yet is valid; if present, its rows are imported too). A payment dated before its
invoice's issue date is a prepayment, imported as it is.

Each capability below has one complete example (a mapping of its own, valid as it is).

Example: an Excel workbook, title lines, rows routed by type::

    [invoices]
    file = "ledger.xlsx"             # .xlsx read directly; sheet by name or 0-based number
    sheet = "Transactions"
    skip_rows = 2                    # title lines above the header (line numbers stay physical)
    [invoices.where]                 # keep rows whose trimmed value is one of these
    "Type" = ["Invoice"]
    [invoices.where_not]             # drop rows whose trimmed value is one of these
    "Status" = ["Draft"]
    [invoices.columns]
    invoice_id = "Number"
    customer_id = "Customer"
    issue_date = "Date"
    due_date = "Due"
    amount = "Total"

    [payments]
    file = "ledger.xlsx"             # several tables may read one file (read once)
    sheet = "Transactions"
    skip_rows = 2
    [payments.where]
    "Type" = ["Payment"]
    [payments.columns]
    payment_id = "Number"
    invoice_id = "Applies To"
    payment_date = "Date"
    amount = "Total"

Example: ids made from several columns (no id column in the export)::

    [invoices]
    file = "fees.csv"
    key = ["School Year", "Student", "Fee"]   # invoice_id "2024|S17|Tuition"
    [invoices.columns]
    customer_id = "Student"
    issue_date = "Billed"
    due_date = "Due"
    amount = "Fee Amount"

    [payments]
    file = "receipts.csv"
    key = "row"                      # "R" + 16 hex of the row's sha1: same row, same id

Example: line items, credit notes, paid amounts, terms, voids and customers from invoices::

    [customers]
    from_invoices = true             # no customers file: one per invoice customer_id
    [customers.defaults]
    country = "US"

    [invoices]
    file = "invoice_lines.csv"
    lines = true                     # rows are line items: one invoice per invoice_id
    negative = "credit_note"         # a negative invoice is a credit note ...
    credit_for = "Applied To"        # ... on the invoice this column names
    paid_amount = "Amount Paid"      # derive one payment per invoice ("PAID-<invoice_id>")
    balance = "Balance Due"          # (or amount - balance when paid_amount is not mapped)
    last_payment_date = "Last Payment"
    terms = "Terms"                  # empty due date = issue date + these terms' days
    terms_days = 30                  # when the terms say nothing
    customer_name = "Client Name"    # the derived customers' names
    void = { column = "Status", values = ["Void", "Cancelled"] }
    [invoices.terms_codes]           # their terms = days
    "Due on receipt" = 0
    NAA8 = 30
    [invoices.columns]
    invoice_id = "Invoice #"
    customer_id = "Client"
    issue_date = "Invoice Date"
    due_date = "Due Date"
    amount = "Line Total"
    [invoices.date_formats]
    last_payment_date = "%m/%d/%Y"

Example: money as people write it::

    [invoices]
    decimal = ","                    # "1.234,50 €", "(400,00)", "400,00-" and "-400" read
    thousands = "."                  # optional: "." or a space is assumed with decimal ","

How these keys behave:

- `file` may end in .xlsx; `sheet` picks the sheet (default the first). `skip_rows` skips
  title lines (CSV) or rows (xlsx) above the header. A header may name a column twice
  unless the mapping reads that column.
- `[T.where]` keeps rows whose trimmed value is one of the listed ones (all listed
  columns must match); `[T.where_not]` drops them. Filters read the raw values, before
  value maps. Two tables naming the same file with different filters route its rows.
- `key` generates the table's id (it cannot be combined with a mapped id column): the
  listed columns' trimmed values joined by "|", or, with "row", "R" + the first 16 hex
  characters of the sha1 of the row's values joined by "\x1f" (identical rows get the
  same id and are reported as duplicates).
- `lines = true`: rows with the same invoice_id become one invoice: the line amounts
  summed (map amount to the line total), every other column the first non-empty value
  in file order (paid_amount and balance too: exports repeat the invoice's on every
  line), voided if any line is, each attribute its first non-empty value; its line is
  its first row's (a problem in a line item names that item's line). Without it a
  repeated invoice_id is a duplicate. `line_totals = "repeated"` (default "sum") reads
  the amount from the first line instead, for exports that write the invoice's total on
  every line and no line total.
- A voided invoice may have amount 0 (some systems zero what they void).
- `negative = "credit_note"` (default "reject": an amount <= 0 is a problem): an invoice
  with a negative amount becomes an adjustment of kind credit_note, id "CN-<invoice_id>",
  amount |amount|, dated its issue date, on the invoice `credit_for` names (required).
- `paid_amount` / `balance`: one payment "PAID-<invoice_id>" of the paid amount, dated
  `last_payment_date`, else the settled date; none when 0. Negative, more than the
  amount, or undated is a problem. A row that derives it derives no "SETTLED-" payment.
- `terms` / `[invoices.terms_codes]` / `terms_days`: an empty (or absent) due date is the
  issue date + days: the code table first, then the largest number in the terms value
  ("2/10 Net 30" -> 30), then `terms_days`, then the customer's payment_terms_days from
  the customers file of the same import; no days is a problem.
- `void`: rows whose column holds one of the values are kept, marked voided (stored,
  left out of features).
- `[customers] from_invoices = true`: one customer per distinct invoice customer_id:
  name = `customer_name` (else the id), created_at and currency from its earliest
  invoice, other columns from `[customers.defaults]`; only customers the store does not
  have are inserted, never updated.
- Money columns read currency symbols and codes ($ € £ ¥ USD EUR ...), spaces,
  thousands separators, "(400.00)", "400.00-" and "-400"; unreadable stays a problem.

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
`features.mapping_model` and the parser in `features.mapping_parse` (the reshaping keys'
checks in `features.reshape_options`), both re-exported here. The reshaping itself is
done by `features.import_sources` with `features.reshape_rows`, `reshape_invoices` and
`reshape_derive`.
"""

from __future__ import annotations

import logging

import pandas as pd

from features.mapping_model import (
    CREDIT_NOTE_PREFIX,
    EXTRA_KINDS,
    NUMBER_KINDS,
    PAID_PAYMENT_PREFIX,
    SETTLED_COLUMN,
    SETTLED_PAYMENT_PREFIX,
    ImportMapping,
    MappedFrame,
    TableMapping,
)
from features.mapping_parse import load_mapping, parse_mapping
from features.money import normalize_money
from features.readers import RawFile
from features.reshape_rows import generated_key, key_label
from kernel import limits
from kernel.errors import BadRow
from kernel.schema import TABLES

__all__ = [
    "CREDIT_NOTE_PREFIX",
    "PAID_PAYMENT_PREFIX",
    "SETTLED_COLUMN",
    "SETTLED_PAYMENT_PREFIX",
    "ImportMapping",
    "MappedFrame",
    "TableMapping",
    "apply_mapping",
    "fill_defaults",
    "load_mapping",
    "parse_mapping",
]

logger = logging.getLogger(__name__)


def apply_mapping(raw: RawFile, mapping: TableMapping) -> MappedFrame:
    """Rename a raw file's columns to canonical ones and apply the value conversions.

    Required columns that are missing, and explicitly mapped columns the file lacks,
    become `BadRow`s with line None; unknown extra columns are ignored (logged once).
    A generated `key` becomes the table's id column. Surrounding blanks are stripped
    (`kernel.limits.BLANKS`: never a control character), money read as people write it
    (`features.money`), value maps and defaults applied; parsing into types is left to
    `features.conversion`.
    """
    spec = TABLES[mapping.table]
    source = raw.frame
    found = list(source.columns)
    wanted = [*spec.column_names, *mapping.extra_columns()]

    frame = pd.DataFrame(index=source.index)
    labels: dict[str, str] = {}
    problems: list[BadRow] = []
    if mapping.generates_key:
        absent = [c for c in mapping.key if c not in source.columns]
        problems += [_missing(raw, c, f"column {c!r} (in key)") for c in absent]
        wanted.remove(spec.key)
        labels[spec.key] = key_label(mapping)
        if not absent:
            frame[spec.key] = generated_key(source, mapping)
    for name in wanted:
        their = mapping.source_column(name)
        labels[name] = their
        if their in source.columns:
            frame[name] = source[their]
            continue
        mapped = their != name or name in EXTRA_KINDS
        if name in mapping.defaults and not mapped:
            continue
        if mapping.required(name) or mapped:
            what = f"column {their!r} (mapped to {name})" if mapped else f"column {name!r}"
            problems.append(_missing(raw, their, what))

    used = mapping.their_columns()
    extra = [c for c in found if c not in used]
    if extra and not mapping.row_key:
        logger.info(
            "%s: ignoring column(s) not in the %s table: %s",
            raw.name,
            mapping.table,
            ", ".join(map(str, extra)),
        )

    _convert_values(frame, mapping)
    fill_defaults(frame, mapping)
    return MappedFrame(
        table=mapping.table,
        file=raw.name,
        frame=frame,
        labels=labels,
        mapping=mapping,
        problems=problems,
    )


def _missing(raw: RawFile, their: str, what: str) -> BadRow:
    found = ", ".join(map(str, raw.frame.columns))
    return BadRow(raw.name, None, their, f"required {what} is missing; the file has: {found}")


def _convert_values(frame: pd.DataFrame, mapping: TableMapping) -> None:
    """Strip blanks, make money plain "-1234.56" text and apply value maps, in place."""
    kinds = {c.name: c.kind for c in TABLES[mapping.table].columns}
    kinds.update(EXTRA_KINDS)
    for name in list(frame.columns):
        column = frame[name]
        if _is_text(column):
            # Control characters are not stripped: validation rejects them.
            column = column.str.strip(limits.BLANKS)
            if kinds.get(name) in NUMBER_KINDS and len(column):
                column = normalize_money(
                    column, decimal=mapping.decimal, thousands=mapping.thousands
                )
        if name in mapping.values:
            if not _is_text(column):
                column = column.astype("str")
            column = column.replace(mapping.values[name])
        frame[name] = column


def fill_defaults(frame: pd.DataFrame, mapping: TableMapping) -> None:
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
