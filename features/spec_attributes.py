"""The specs of attribute features, and the spec of a model: the static one plus its attributes.

`features.spec.FEATURE_SPEC` lists the features every ledger has. A ledger whose mapping
declares issue-time attributes (`features.attributes`) adds one feature per attribute;
its `FeatureSpec` follows from the feature name alone (`attr_cat_channel` is a category,
`attr_num_score` a number), so training, the bundle and serving's reasons all build the
same spec without storing the wording: "its channel is 'paper'", "its score is 3.2".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from features.attributes import attribute_of_feature
from features.feature import FeatureDtype, FeatureSpec
from features.spec import CATEGORICAL_COLUMNS, FEATURE_SET_VERSION, FEATURE_SPEC, spec_as_records

__all__ = [
    "attribute_spec",
    "categorical_indices",
    "is_categorical",
    "model_spec",
    "model_spec_records",
]

_STATIC = {f.name: f for f in FEATURE_SPEC}
_STATIC_CATEGORICAL = frozenset(CATEGORICAL_COLUMNS)


def _number_text(value: float) -> str:
    """A number as a person writes it: 3.2, 1,250, 0.05."""
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.1f}"


@lru_cache(maxsize=256)
def attribute_spec(feature: str) -> FeatureSpec | None:
    """The spec of an attribute feature, or None for a name that is no attribute's."""
    attribute = attribute_of_feature(feature)
    if attribute is None:
        return None
    words = attribute.name.replace("_", " ")
    if attribute.kind == "category":

        def reason(value: object, _values: Mapping[str, object]) -> str:
            return f"its {words} is {str(value)!r}"

        dtype: FeatureDtype = "category"
    else:

        def reason(value: object, _values: Mapping[str, object]) -> str:
            return f"its {words} is {_number_text(float(value))}"  # type: ignore[arg-type]

        dtype = "float"
    return FeatureSpec(
        feature,
        dtype,
        f"{words} of the invoice (an issue-time attribute, {attribute.kind})",
        nullable=True,
        level="invoice",
        reason=reason,
        unknown=f"its {words} is not known",
    )


def is_categorical(feature: str) -> bool:
    """Whether a model feature is categorical (a static category or a category attribute)."""
    if feature in _STATIC_CATEGORICAL:
        return True
    spec = attribute_spec(feature)
    return spec is not None and spec.dtype == "category"


def categorical_indices(feature_names: Sequence[str]) -> list[int]:
    """Positions of the categorical features among `feature_names` (LightGBM's list)."""
    return [j for j, name in enumerate(feature_names) if is_categorical(name)]


def model_spec(feature_columns: Sequence[str]) -> tuple[FeatureSpec, ...]:
    """The spec of a model's features: the static spec, then its attribute features."""
    extra = [attribute_spec(c) for c in feature_columns if c not in _STATIC]
    return (*FEATURE_SPEC, *(s for s in extra if s is not None))


def model_spec_records(feature_columns: Sequence[str]) -> list[dict]:
    """`features.spec.spec_as_records` plus the records of the model's attribute features."""
    records = spec_as_records()
    fields = [k for k in records[0] if k != "feature_set_version"]
    for spec in model_spec(feature_columns)[len(FEATURE_SPEC) :]:
        records.append(
            {
                **{k: getattr(spec, k) for k in fields},
                "feature_set_version": FEATURE_SET_VERSION,
            }
        )
    return records
