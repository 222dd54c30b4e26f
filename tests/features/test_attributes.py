"""Issue-time invoice attributes: declared in the mapping, stored by the import, features."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from features.attribute_store import read_attributes
from features.build import (
    build_open_invoice_rows,
    build_training_table,
    customer_state,
    new_invoice_rows_from_state,
)
from features.importing import import_directory
from features.ledger import load_ledger
from features.mapping import load_mapping
from features.online import new_invoice_features, state_records
from features.spec_attributes import attribute_spec, is_categorical, model_spec_records
from features.store import get_engine
from kernel.errors import DataImportError, MappingError
from tests.utils.attribute_support import attribute_ledger

AS_OF = dt.date(2026, 1, 1)


def _mapping(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "map.toml"
    path.write_text(text)
    return path


def test_attributes_are_declared_by_name_kind_and_column(tmp_path: Path) -> None:
    mapping = load_mapping(
        _mapping(
            tmp_path,
            '[invoices.attributes]\nchannel = { column = " Billing Channel ", kind = "category" }\n'
            'region = "category"\norder_score = { kind = "number" }\n',
        )
    )
    declared = {
        a.name: (a.kind, a.column, a.feature) for a in mapping.for_table("invoices").attributes
    }
    assert declared == {
        "channel": ("category", "Billing Channel", "attr_cat_channel"),
        "region": ("category", "region", "attr_cat_region"),
        "order_score": ("number", "order_score", "attr_num_order_score"),
    }
    assert load_mapping(None).for_table("invoices").attributes == ()


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[invoices.attributes]\nChannel = 'category'", "must be a lowercase identifier"),
        ("[invoices.attributes]\n'9x' = 'category'", "must be a lowercase identifier"),
        ("[invoices.attributes]\namount = 'number'", "is taken by a canonical column"),
        ("[invoices.attributes]\ninvoice_amount = 'number'", "is taken by a canonical column"),
        ("[invoices.attributes]\nattr_x = 'number'", "nor attr_"),
        ("[invoices.attributes]\nchannel = 'text'", 'kind must be "category" or "number"'),
        ("[invoices.attributes]\nchannel = { column = 'C' }", "kind must be"),
        ("[invoices.attributes]\nchannel = { kind = 'category', col = 'C' }", "must be"),
        ("[invoices.attributes]\nchannel = { kind = 'category', column = '' }", "non-empty"),
        ("[invoices.attributes]\nchannel = 3", "[invoices].attributes.channel must be"),
        ("[invoices]\nattributes = 'channel'", "attributes must be a table"),
        ("[customers.attributes]\nchannel = 'category'", "only read from [invoices]"),
        (
            "[invoices.attributes]\na = { column = 'C', kind = 'category' }\n"
            "b = { column = 'C', kind = 'number' }",
            "column(s) ['C'] are declared twice",
        ),
    ],
)
def test_bad_attribute_declarations_are_explained(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(MappingError, match=re.escape(message)):
        load_mapping(_mapping(tmp_path, toml))


def _import(url: str, folder: Path) -> None:
    import_directory(get_engine(url), folder, mapping=folder / "mapping.toml")


def _stored(url: str) -> pd.DataFrame:
    with get_engine(url).connect() as conn:
        return pd.read_sql("SELECT * FROM invoice_attributes ORDER BY invoice_id, name", conn)


def test_import_stores_attributes_once_and_updates_changed_values(
    db_url: str, tmp_path: Path
) -> None:
    frames = attribute_ledger(tmp_path / "in", customers=12)
    _import(db_url, tmp_path / "in")
    stored = _stored(db_url)
    invoices = frames["invoices"].set_index("invoice_id")
    channel = stored[stored["name"] == "channel"].set_index("invoice_id")["value_text"]
    assert channel.to_dict() == invoices["Billing Channel"].to_dict()
    score = stored[stored["name"] == "score"].set_index("invoice_id")["value_number"]
    given = invoices["score"].dropna().astype(float)
    assert len(score) == len(given) < len(invoices)  # empty values are unknown, not stored
    assert np.allclose(score.reindex(given.index), given)

    # Importing the same files again changes nothing, not even the change log.
    with get_engine(db_url).connect() as conn:
        log = conn.execute(sa.text("SELECT count(*) FROM change_log")).scalar_one()
    _import(db_url, tmp_path / "in")
    pd.testing.assert_frame_equal(_stored(db_url), stored)
    with get_engine(db_url).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM change_log")).scalar_one() == log

    # A changed value is updated; an emptied one keeps the stored value (never deleted).
    path = tmp_path / "in" / "invoices.csv"
    text = pd.read_csv(path, dtype=str, keep_default_na=False)
    first, second = text["invoice_id"].iloc[0], text["invoice_id"].iloc[1]
    text.loc[0, "Billing Channel"] = "fax"
    text.loc[1, "Billing Channel"] = ""
    text.to_csv(path, index=False)
    _import(db_url, tmp_path / "in")
    after = _stored(db_url).set_index(["invoice_id", "name"])["value_text"]
    assert after[(first, "channel")] == "fax"
    assert after[(second, "channel")] == channel[second]
    assert len(after) == len(stored)


def test_bad_attribute_values_are_reported_and_nothing_is_written(
    sqlite_url: str, tmp_path: Path
) -> None:
    attribute_ledger(tmp_path / "in", customers=6)
    path = tmp_path / "in" / "invoices.csv"
    text = pd.read_csv(path, dtype=str, keep_default_na=False)
    text.loc[2, "score"] = "high"
    text.loc[3, "score"] = "inf"
    text.loc[4, "Billing Channel"] = "pa\x01per"
    text.to_csv(path, index=False)
    with pytest.raises(DataImportError) as caught:
        _import(sqlite_url, tmp_path / "in")
    rows = {(r.line, r.column): r.reason for r in caught.value.bad_rows}
    assert "cannot read 'high' as a finite number" in rows[(4, "score")]
    assert "finite number" in rows[(5, "score")]
    assert "control character" in rows[(6, "Billing Channel")]
    assert not sa.inspect(get_engine(sqlite_url)).has_table("invoices") or not len(
        _stored(sqlite_url)
    )


def test_declared_column_missing_from_the_file(sqlite_url: str, tmp_path: Path) -> None:
    attribute_ledger(tmp_path / "in", customers=6)
    (tmp_path / "in" / "mapping.toml").write_text("[invoices.attributes]\nregion = 'category'\n")
    with pytest.raises(DataImportError, match=r"column 'region' \(attribute region\) is missing"):
        _import(sqlite_url, tmp_path / "in")


def test_an_attribute_keeps_its_kind(sqlite_url: str, tmp_path: Path) -> None:
    attribute_ledger(tmp_path / "in", customers=6)
    _import(sqlite_url, tmp_path / "in")
    (tmp_path / "in" / "mapping.toml").write_text(
        "[invoices.attributes]\nchannel = { column = 'score', kind = 'number' }\n"
    )
    with pytest.raises(DataImportError, match="'channel' \\(stored as category, now number\\)"):
        _import(sqlite_url, tmp_path / "in")


def test_feature_rows_carry_the_attributes_known_at_issue(sqlite_url: str, tmp_path: Path) -> None:
    frames = attribute_ledger(tmp_path / "in", customers=15, paper_delay_days=20)
    _import(sqlite_url, tmp_path / "in")
    ledger = load_ledger(get_engine(sqlite_url))
    table = build_training_table(ledger, as_of=AS_OF, snapshot_every_days=30)
    assert table.columns[-6:-4].tolist() == ["attr_cat_channel", "attr_num_score"]
    assert isinstance(table["attr_cat_channel"].dtype, pd.CategoricalDtype)
    assert table["attr_num_score"].dtype == "float64"
    invoices = frames["invoices"].set_index("invoice_id")
    # Every snapshot of an invoice (at issue and later) sees its issue-time values.
    expected = invoices["Billing Channel"].reindex(table["invoice_id"]).to_numpy()
    assert (table["attr_cat_channel"].astype(str).to_numpy() == expected).all()
    assert (table["snapshot_date"] > table["issue_date"]).any()
    late = table.groupby("attr_cat_channel", observed=True)["days_late"].mean()
    assert late["paper"] > late["email"] + 10

    # Point in time: the attributes of invoices issued on or after the cut change nothing.
    cut = dt.date(2025, 9, 1)
    later = ledger.invoices.loc[ledger.invoices["issue_date"] >= pd.Timestamp(cut), "invoice_id"]
    changed = ledger.attributes.copy()
    changed.loc[changed["invoice_id"].isin(later), "attr_num_score"] = 99.0
    changed.loc[changed["invoice_id"].isin(later), "attr_cat_channel"] = "carrier pigeon"
    other = dataclasses.replace(ledger, attributes=changed)
    pd.testing.assert_frame_equal(
        build_training_table(ledger, as_of=cut), build_training_table(other, as_of=cut)
    )
    assert set(ledger.before(cut).attributes["invoice_id"]).isdisjoint(set(later))

    # Open invoices carry theirs too; a ledger without attributes has no such columns.
    open_rows = build_open_invoice_rows(ledger, as_of=AS_OF)
    assert open_rows["attr_cat_channel"].notna().all()
    bare = dataclasses.replace(ledger, attributes=ledger.attributes[["invoice_id"]])
    assert not [c for c in build_open_invoice_rows(bare, as_of=AS_OF) if c.startswith("attr_")]


def test_partial_read_of_attributes(sqlite_url: str, tmp_path: Path) -> None:
    attribute_ledger(tmp_path / "in", customers=6)
    _import(sqlite_url, tmp_path / "in")
    with get_engine(sqlite_url).connect() as conn:
        some = read_attributes(conn, pd.Index(["INV-000001", "nope"]))
        every = read_attributes(conn)
    assert some["invoice_id"].tolist() == ["INV-000001"]
    assert some.columns.tolist() == ["invoice_id", "attr_cat_channel", "attr_num_score"]
    assert len(every) > 100


def test_online_features_take_the_order_attributes(sqlite_url: str, tmp_path: Path) -> None:
    attribute_ledger(tmp_path / "in", customers=6)
    _import(sqlite_url, tmp_path / "in")
    ledger = load_ledger(get_engine(sqlite_url))
    state = customer_state(ledger, as_of=AS_OF)
    record = state_records(state)[str(state.index[0])]
    values = new_invoice_features(
        record, amount=100.0, as_of=AS_OF, attributes={"attr_cat_channel": "paper"}
    )
    assert values["attr_cat_channel"] == "paper"
    assert "attr_num_score" not in values  # unknown: the model row gets NaN
    # The frame path of the same order gives the same value (one feature path).
    orders = pd.DataFrame(
        {"customer_id": [str(state.index[0])], "amount": [100.0], "attr_cat_channel": ["paper"]}
    )
    framed = new_invoice_rows_from_state(state, orders=orders, as_of=AS_OF)
    assert framed["attr_cat_channel"].tolist() == ["paper"]
    with pytest.raises(ValueError, match="not an attribute feature"):
        new_invoice_features(record, amount=100.0, as_of=AS_OF, attributes={"amount": 1})


def test_attribute_specs_follow_from_the_feature_name() -> None:
    channel = attribute_spec("attr_cat_billing_channel")
    score = attribute_spec("attr_num_order_score")
    assert channel is not None and score is not None
    assert channel.sentence({"attr_cat_billing_channel": "paper"}) == (
        "its billing channel is 'paper'"
    )
    assert score.sentence({"attr_num_order_score": 3.2}) == "its order score is 3.2"
    assert score.sentence({"attr_num_order_score": None}) == "its order score is not known"
    assert (channel.dtype, channel.level, channel.nullable) == ("category", "invoice", True)
    assert attribute_spec("invoice_amount") is None
    assert is_categorical("attr_cat_x") and not is_categorical("attr_num_x")
    assert is_categorical("customer_country")
    records = model_spec_records(["invoice_amount", "attr_num_order_score"])
    assert records[-1]["name"] == "attr_num_order_score"
    assert records[-1]["dtype"] == "float"
