"""Which rows of a file a table reads, and the ids a mapping generates for them.

Applied to the raw file, before any column is mapped: `where` / `where_not` filters on
trimmed values, a header that names a column twice (refused only when the mapping reads
that column), and `key`, the id made of several columns or of the whole row.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.conversion import is_in
from features.mapping_model import TableMapping
from features.problems import Problems
from features.readers import RawFile
from kernel import limits
from kernel.errors import BadRow

__all__ = ["KEY_SEPARATOR", "ROW_KEY_PREFIX", "generated_key", "key_label", "select_rows"]

# How a generated key joins its columns ("2024|S17|Tuition"), and prefixes a row hash.
KEY_SEPARATOR = "|"
ROW_KEY_PREFIX = "R"
_ROW_HASH_CHARS = 16


def _trimmed(column: pd.Series) -> pd.Series:
    """Values as trimmed text (missing = empty), whatever the file's types."""
    text = column.astype("str").where(column.notna(), "")
    return text.str.strip(limits.BLANKS)


def select_rows(raw: RawFile, mapping: TableMapping, problems: Problems) -> RawFile | None:
    """The rows of `raw` this table reads (`where`, `where_not`); None if it cannot read any.

    A filter column the file lacks, or a column the mapping reads that the header names
    twice, is recorded as a problem (the header's line) and the file is not read for
    this table.
    """
    header_line = mapping.skip_rows + 1
    ambiguous = sorted(mapping.their_columns() & set(raw.duplicated))
    for column in ambiguous:
        problems.extend(
            [
                BadRow(
                    raw.name,
                    header_line,
                    column,
                    f"the header names column {column!r} more than once and the {mapping.table} "
                    "mapping reads it: rename one of them in the file",
                )
            ]
        )
    filters = [*((c, v, True) for c, v in mapping.where.items())]
    filters += [(c, v, False) for c, v in mapping.where_not.items()]
    missing = [(c, wanted) for c, _, wanted in filters if c not in raw.frame.columns]
    for column, wanted in missing:
        section = f"[{mapping.table}.{'where' if wanted else 'where_not'}]"
        problems.extend(
            [
                BadRow(
                    raw.name,
                    None,
                    column,
                    f"column {column!r} (in {section}) is missing; the file has: "
                    f"{', '.join(map(str, raw.frame.columns))}",
                )
            ]
        )
    if ambiguous or missing:
        return None
    if not filters:
        return raw
    keep = np.ones(len(raw.frame), dtype=bool)
    for column, values, wanted in filters:
        hit = is_in(_trimmed(raw.frame[column]), values)
        keep &= hit if wanted else ~hit
    return replace(raw, frame=raw.frame[keep])


def key_label(mapping: TableMapping) -> str:
    """How problems name a generated key: the columns it is made of."""
    return "key (row)" if mapping.row_key else f"key ({', '.join(mapping.key)})"


def generated_key(frame: pd.DataFrame, mapping: TableMapping) -> pd.Series:
    """The id of every row: its key columns joined by "|", or "R" + a hash of the row.

    A row whose key columns are all empty gets no id (reported as an empty id). The key
    columns must be in `frame`.
    """
    if mapping.row_key:
        # Joined by Arrow (pandas' str.cat is ~20x slower); only the hash is per row.
        text = pa.large_string()
        columns = [pa.array(_trimmed(frame[c]), type=text) for c in frame.columns]
        joined = pc.binary_join_element_wise(*columns, pa.scalar("\x1f", text))
        sha1 = hashlib.sha1
        ids = [
            ROW_KEY_PREFIX + sha1(value.encode("utf-8")).hexdigest()[:_ROW_HASH_CHARS]
            for value in joined.to_pylist()
        ]
        return pd.Series(ids, index=frame.index, dtype="str")
    parts = [_trimmed(frame[c]) for c in mapping.key]
    joined = parts[0]
    empty = (parts[0] == "").to_numpy(dtype=bool, copy=True)
    for part in parts[1:]:
        joined = joined + KEY_SEPARATOR + part
        empty &= (part == "").to_numpy(dtype=bool)
    return joined.mask(empty, "").astype("str")
