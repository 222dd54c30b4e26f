"""An API request's issue-time attributes, checked against the served bundle's features.

A bundle trained on a ledger whose mapping declares attributes (`features.attributes`)
has one feature per attribute (`attr_cat_channel`, `attr_num_score`). A request names
them by attribute name (`{"channel": "paper"}`); this module turns that into feature
values for `features.online.new_invoice_features`, refusing an attribute the model does
not know or a value of the wrong kind (422 with the one error body). An attribute left
out, or given as null, is unknown (NaN), as for an invoice without a value.
"""

from __future__ import annotations

from collections.abc import Mapping

from features.attributes import attribute_of_feature, value_problem
from kernel.errors import InvalidRequestError
from training.bundle import Bundle

__all__ = ["attribute_features", "known_attributes"]


def known_attributes(bundle: Bundle) -> dict[str, str]:
    """The bundle's attributes: name -> feature name."""
    out = {}
    for feature in bundle.feature_columns:
        attribute = attribute_of_feature(feature)
        if attribute is not None:
            out[attribute.name] = feature
    return out


def attribute_features(
    bundle: Bundle, attributes: Mapping[str, object] | None, *, where: str = "attributes"
) -> dict[str, object]:
    """Feature values (by feature name) of a request's attributes.

    Raises:
        InvalidRequestError: an attribute the bundle's model was not trained with, or a
            value of the wrong kind (a number for a category, a text for a number).
    """
    if not attributes:
        return {}
    known = known_attributes(bundle)
    unknown = sorted(set(attributes) - set(known))
    if unknown:
        listed = ", ".join(sorted(known)) or "none: it was trained without attributes"
        raise InvalidRequestError(
            f"{where}: unknown attribute(s) {', '.join(map(repr, unknown))}; "
            f"the served model knows: {listed}"
        )
    out: dict[str, object] = {}
    for name, value in attributes.items():
        feature = known[name]
        attribute = attribute_of_feature(feature)
        assert attribute is not None
        problem = value_problem(value, attribute.kind, f"{where}.{name} ({attribute.kind})")
        if problem is not None:
            raise InvalidRequestError(problem)
        out[feature] = None if value is None else value
    return out
