"""Reasons read from the feature spec say word for word what the old reason table said.

`data/reasons_before_spec.json` was written by `capture` below with the code of commit
72c74f5, where `serving/reasons.py` still kept its own template and "unknown" tables:
the inputs (feature values of the api_template store's customers and open invoices as
the API sees them, their model contributions, and a grid of edge values per feature)
and the sentences and reasons that code produced for them. The tests feed the same
inputs to today's code, so they hold whatever the generator or the models do later.
Regenerate only for an intended wording change:
`python -c "from tests.serving.test_reasons_from_spec import main; main()"`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from features.build import customer_state_and_open_rows
from features.online import new_invoice_features, state_records
from features.spec import FEATURE_COLUMNS, FEATURE_SPEC
from serving.reasons import explain, feature_values, sentence
from tests.utils.api_support import AS_OF, ApiTemplate
from training.bundle import load_bundle

GOLDEN = Path(__file__).parent / "data" / "reasons_before_spec.json"
# Open invoices captured besides every customer's typical invoice (keeps the file small).
_OPEN_ROWS = 20
# Numbers around every branch of the wording: signs, 0/1 plurals, half-way rounding,
# the tenure steps (60 days, 730 days), large amounts, unknown.
_GRID: list[object] = [
    -400.0, -31.0, -2.0, -1.0, -0.5, -0.4, 0.0, 0.3, 0.5, 1.0, 1.5, 2.0, 2.5, 7.0,
    29.6, 59.4, 60.0, 400.0, 729.0, 730.0, 1234.5, 98765.4, 2.5e6, None, math.nan,
]  # fmt: skip
_GRID_BY_FEATURE: dict[str, list[object]] = {
    "invoice_issue_month": [float(m) for m in range(1, 13)] + [None],
    "invoice_issue_weekday": [float(d) for d in range(10)] + [None],
    "customer_industry": ["retail", "Construction & Trade", None],
    "customer_country": ["DE", "FR", None],
}
# Values the wording of `_READS_OTHERS` reads: with them, without them, and unknown; every
# other feature is also tried beside them, to show it ignores them.
_READS_OTHERS = ("history_days_late_mean", "invoice_log_amount")
_CONTEXTS: list[dict[str, object]] = [
    {},
    {"history_settled_count": 0.0, "invoice_amount": 1500.0},
    {"history_settled_count": 1.0, "invoice_amount": 0.4},
    {"history_settled_count": 5.0},
    {"history_settled_count": None, "invoice_amount": 98765.4},
]


def _say(feature: str, values: dict[str, object]) -> str:
    """The sentence, or the error it raises (an error is behaviour too)."""
    try:
        return sentence(feature, values)
    except Exception as exc:  # recorded and compared, never hidden
        return f"raises {type(exc).__name__}"


def _grid_cases() -> list[tuple[str, dict[str, object]]]:
    """(feature, row values): every feature at every grid value, in a fixed order."""
    cases = []
    for feature in FEATURE_COLUMNS:
        for value in _GRID_BY_FEATURE.get(feature, _GRID):
            for context in _CONTEXTS if feature in _READS_OTHERS else _CONTEXTS[:2]:
                cases.append((feature, {**context, feature: value}))
    return cases


def _served_rows(template: ApiTemplate) -> list[dict[str, object]]:
    """Values and contributions of the rows the API explains: typical and open invoices."""
    bundle = load_bundle(template.models_dir / "champion")
    assert bundle.feature_columns == FEATURE_COLUMNS  # rows are stored in this order
    state, open_rows = customer_state_and_open_rows(template.ledger, as_of=AS_OF)
    records = state_records(state)
    typical = []
    for record in records.values():
        usual = record.get("customer_median_invoice_amount")
        amount = usual if isinstance(usual, float) and usual > 0 else 1000.0
        typical.append(bundle.row(new_invoice_features(record, amount=amount, as_of=AS_OF)))
    X = np.vstack([*typical, bundle.matrix(open_rows.head(_OPEN_ROWS))])
    contributions = bundle.contributions(X)
    return [
        {
            "values": list(feature_values(bundle, X[k]).values()),
            "contributions": contributions[k].tolist(),
        }
        for k in range(len(X))
    ]


def _values(row: dict) -> dict[str, object]:
    """A stored row's feature values by name (stored as a list in FEATURE_COLUMNS order)."""
    return dict(zip(FEATURE_COLUMNS, row["values"], strict=True))


def _reason_dicts(row: dict, top: int) -> list[dict[str, object]]:
    reasons = explain(
        np.asarray(row["contributions"]),
        _values(row),
        feature_columns=FEATURE_COLUMNS,
        top=top,
    )
    return [
        {"feature": r.feature, "text": r.text, "effect": r.effect, "contribution": r.contribution}
        for r in reasons
    ]


def capture(template: ApiTemplate) -> dict[str, object]:
    """Inputs and the sentences and reasons the code of today gives for them."""
    served = _served_rows(template)
    for row in served:
        row["sentences"] = [sentence(f, _values(row)) for f in FEATURE_COLUMNS]
        row["reasons"] = _reason_dicts(row, 3)
    # The grid's inputs are made by `_grid_cases` (no store, no model): only its sentences
    # are stored, in the order of the cases.
    grid = [_say(feature, values) for feature, values in _grid_cases()]
    return {"served": served, "grid": grid}


def main() -> None:
    """Write the golden file from a freshly made api_template (a few seconds)."""
    import tempfile

    from tests.utils.api_support import make_api_template

    with tempfile.TemporaryDirectory() as tmp:
        golden = capture(make_api_template(Path(tmp)))
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(golden, sort_keys=True, separators=(",", ":")) + "\n")


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(GOLDEN.read_text())


def test_the_golden_file_covers_every_feature_and_the_served_rows(golden: dict) -> None:
    assert len(golden["served"]) > 40  # 40 customers' typical invoices, then open invoices
    assert len(golden["grid"]) == len(_grid_cases())
    assert {r["feature"] for row in golden["served"] for r in row["reasons"]}


def test_sentences_of_served_rows_are_unchanged(golden: dict) -> None:
    for row in golden["served"]:
        assert [sentence(f, _values(row)) for f in FEATURE_COLUMNS] == row["sentences"]


def test_reasons_of_served_rows_are_unchanged(golden: dict) -> None:
    for row in golden["served"]:
        assert _reason_dicts(row, 3) == row["reasons"]


def test_sentences_of_edge_values_are_unchanged(golden: dict) -> None:
    changed = [
        (feature, values, before, now)
        for (feature, values), before in zip(_grid_cases(), golden["grid"], strict=True)
        if (now := _say(feature, values)) != before
    ]
    assert not changed, changed[:5]


def test_features_outside_the_spec_keep_their_fallback_wording() -> None:
    assert sentence("some_new_feature", {"some_new_feature": 3.0}) == "some new feature: 3.0"
    assert sentence("some_new_feature", {}) == "some_new_feature"


def test_every_feature_of_the_spec_carries_its_wording() -> None:
    for spec in FEATURE_SPEC:
        assert spec.description and spec.reason is not None, spec.name
