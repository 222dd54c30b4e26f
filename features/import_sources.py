"""Read an import folder into typed, checked rows per table, as the mapping reshapes them.

The first half of `duecast import` (`features.importing` writes): find every table's file
(several tables may read one file, read once), keep the rows each table selects, map and
convert them, reshape the invoices (`features.reshape_invoices`), derive payments and
customers from them (`features.reshape_derive`), check the rows and the duplicate keys.
Missing or unreadable files raise `DataImportError` at once; bad rows are recorded in
`Problems`, each naming its file and physical line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.attribute_store import attribute_values
from features.conversion import TypedFrame, convert
from features.import_write import ProgressCallback
from features.mapping import apply_mapping
from features.mapping_model import ImportMapping, TableMapping
from features.problems import Problems
from features.readers import RawFile, read_raw
from features.reshape_derive import derive_customers, derive_payments
from features.reshape_invoices import (
    aggregate_lines,
    fill_due_dates,
    mark_void,
    split_credit_notes,
)
from features.reshape_rows import select_rows
from features.validate import check_duplicates, check_rows
from kernel.errors import DataImportError
from kernel.schema import IMPORT_ORDER

__all__ = ["Sources", "read_sources"]

logger = logging.getLogger(__name__)

_REQUIRED = ("customers", "invoices")


@dataclass
class Sources:
    """What the files hold, typed and checked, per table in import order.

    `attributes` are the invoices' attribute values (long form); `derived_payment_invoices`
    the invoices of a file whose mapping derives payments (their stored "SETTLED-"/"PAID-"
    payments this import does not derive again are stale); `derived_customers` is true
    when the customers come from the invoices (then only new ones are inserted).
    """

    tables: dict[str, list[TypedFrame]]
    attributes: pd.DataFrame
    derived_payment_invoices: pd.Index
    derived_customers: bool = False


def read_sources(
    directory: Path, spec: ImportMapping, problems: Problems, progress: ProgressCallback
) -> Sources:
    """Read, select, map, convert, reshape and check every table's rows.

    Raises:
        DataImportError: the folder or a required file is missing, or a file is unreadable.
    """
    raws = _read_files(directory, spec, progress)
    tables: dict[str, list[TypedFrame]] = {name: [] for name in IMPORT_ORDER}
    attributes = pd.DataFrame()
    derived_ids = pd.Index([], dtype="str")
    progress("check rows", 0, len(raws))
    for i, (table, raw) in enumerate(raws.items()):
        mapping = spec.for_table(table)
        rows = select_rows(raw, mapping, problems)
        if rows is not None:
            typed = convert(apply_mapping(rows, mapping), problems)
            if table == "invoices":
                terms = _customer_terms(tables["customers"])
                attributes = _invoices(rows, typed, mapping, problems, tables, terms)
                if spec.derives_payments:
                    derived_ids = pd.Index(tables["invoices"][0].frame["invoice_id"].dropna())
            else:
                check_rows(typed, problems)
                tables[table].append(typed)
        progress("check rows", i + 1, len(raws))
    if spec.derives_customers and tables["invoices"]:
        customers = spec.for_table("customers")
        tables["customers"].append(derive_customers(tables["invoices"][0], customers, problems))
    for table in IMPORT_ORDER:
        check_duplicates(tables[table], problems)
    return Sources(tables, attributes, derived_ids.unique(), spec.derives_customers)


def _invoices(
    raw: RawFile,
    typed: TypedFrame,
    mapping: TableMapping,
    problems: Problems,
    tables: dict[str, list[TypedFrame]],
    customer_terms: pd.Series,
) -> pd.DataFrame:
    """Reshape the invoices file into `tables` (invoices, payments, credit notes); attributes."""
    values = attribute_values(raw, mapping, typed, problems)  # per line: first value wins
    mark_void(typed, mapping)
    if mapping.lines:
        typed = aggregate_lines(typed, repeated=mapping.line_totals == "repeated")
    if mapping.negative == "credit_note":
        typed, notes = split_credit_notes(typed, mapping, problems)
        if notes is not None:
            tables["adjustments"].append(notes)
    fill_due_dates(typed, mapping, customer_terms, problems)
    check_rows(typed, problems)
    tables["invoices"].append(typed)
    tables["payments"].extend(derive_payments(typed, mapping, problems))
    if not len(values):
        return values
    values = values.drop_duplicates(["invoice_id", "name"], keep="first")
    kept = values["invoice_id"].isin(pd.Index(typed.frame["invoice_id"].dropna()))
    return values[kept.to_numpy(dtype=bool)].reset_index(drop=True)


def _customer_terms(customers: list[TypedFrame]) -> pd.Series:
    """payment_terms_days per customer_id of the customers files read in this import."""
    if not customers:
        return pd.Series(dtype="float64")
    frame = pd.concat([c.frame[["customer_id", "payment_terms_days"]] for c in customers])
    frame = frame.dropna().drop_duplicates("customer_id")
    return frame.set_index("customer_id")["payment_terms_days"].astype("float64")


def _read_files(
    directory: Path, spec: ImportMapping, progress: ProgressCallback
) -> dict[str, RawFile]:
    """Find every table's file (the required ones present) and read each file once."""
    if not directory.is_dir():
        raise DataImportError(
            f"{directory}: no such folder; expected a folder with customers.csv and "
            "invoices.csv (or .parquet), or the files a mapping names"
        )
    found = sorted(p.name for p in directory.iterdir() if p.is_file())
    paths: dict[str, Path] = {}
    missing: list[str] = []
    for table in IMPORT_ORDER:
        mapping = spec.for_table(table)
        if table == "customers" and spec.derives_customers:
            continue
        candidates = mapping.candidate_files()
        hits = [directory / c for c in candidates if (directory / c).is_file()]
        if len(hits) > 1:
            raise DataImportError(
                f"{directory}: both {hits[0].name} and {hits[1].name} are present for the "
                f"{table} table; keep one of them"
            )
        if hits:
            paths[table] = hits[0]
        elif table in _REQUIRED:
            missing.append(" or ".join(candidates))
    if missing:
        raise DataImportError(
            f"{directory}: missing required file(s): {'; '.join(missing)}. "
            f"Found: {', '.join(found) or '(no files)'}. Name the files like the tables, "
            "or give their names in a mapping file (--mapping)."
        )
    raws: dict[str, RawFile] = {}
    read: dict[tuple[object, ...], RawFile] = {}
    # Every file is read before stopping: each unreadable one is reported in one go,
    # rather than one file per run.
    unreadable: dict[tuple[object, ...], DataImportError] = {}
    for i, (table, path) in enumerate(paths.items()):
        progress("read files", i, len(paths))
        mapping = spec.for_table(table)
        options = (path, mapping.csv_delimiter(path), mapping.encoding, mapping.skip_rows)
        key = (*options, mapping.sheet)
        if key not in read and key not in unreadable:
            try:
                read[key] = read_raw(
                    path,
                    delimiter=options[1],
                    encoding=mapping.encoding,
                    skip_rows=mapping.skip_rows,
                    sheet=mapping.sheet,
                )
            except DataImportError as exc:
                unreadable[key] = exc
                continue
            logger.info("read %s: %d rows", read[key].name, len(read[key].frame))
        if key in read:
            raws[table] = read[key]
    progress("read files", len(paths), len(paths))
    if unreadable:
        raise _together(list(unreadable.values()))
    return raws


def _together(errors: list[DataImportError]) -> DataImportError:
    """One error for the files that cannot be read: their messages, then all their rows."""
    if len(errors) == 1:
        return errors[0]
    rows = [row for error in errors for row in error.bad_rows]
    return DataImportError(
        "\n".join(str(error.args[0]) for error in errors),
        rows,
        sum(error.total for error in errors),
    )
