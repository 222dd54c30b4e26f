"""Issue-time invoice attributes: extra columns a mapping declares, used as model features.

A company's invoices often carry what it knows when it issues them: the billing channel,
the region, the sales rep, the order type. A mapping declares them under
`[invoices.attributes]` (see `features.mapping`); each has a name (a lowercase
identifier) and a kind, "category" (text) or "number". The import stores their values
per invoice (`features.attribute_store`), and each declared attribute becomes one model
feature whose name carries its kind: `attr_cat_<name>` or `attr_num_<name>`. So the
feature's spec follows from its name alone (`features.spec_attributes`), and a model
trained on `channel` as a category is never fed `channel` as a number.

An attribute is known at issue: a row of an invoice sees its value at every snapshot.
An invoice without a value has NaN (unknown), like any nullable feature.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from kernel import limits
from kernel.schema import TABLES

__all__ = [
    "ATTRIBUTE_KINDS",
    "ATTRIBUTE_NAME_MAX",
    "ATTRIBUTE_NAME_PATTERN",
    "ATTRIBUTE_TEXT_MAX",
    "CATEGORY_PREFIX",
    "NUMBER_PREFIX",
    "Attribute",
    "AttributeKind",
    "attribute_of_feature",
    "feature_name",
    "is_attribute_feature",
    "name_problem",
    "value_problem",
]

AttributeKind = Literal["category", "number"]
ATTRIBUTE_KINDS: tuple[AttributeKind, ...] = ("category", "number")
# Feature-name prefixes, one per kind.
CATEGORY_PREFIX = "attr_cat_"
NUMBER_PREFIX = "attr_num_"
_PREFIXES: dict[str, AttributeKind] = {CATEGORY_PREFIX: "category", NUMBER_PREFIX: "number"}
# Short enough that the feature name fits the store's 64-character name columns.
ATTRIBUTE_NAME_MAX = 40
ATTRIBUTE_NAME_PATTERN = rf"^[a-z][a-z0-9_]{{0,{ATTRIBUTE_NAME_MAX - 1}}}$"
# Longest category value (the store's value_text column).
ATTRIBUTE_TEXT_MAX = 255
_NAME = re.compile(ATTRIBUTE_NAME_PATTERN)


@dataclass(frozen=True)
class Attribute:
    """One declared attribute: its name, kind and (at import) the file's column."""

    name: str
    kind: AttributeKind
    column: str | None = None

    @property
    def feature(self) -> str:
        """The model feature holding this attribute."""
        return feature_name(self.name, self.kind)


def feature_name(name: str, kind: AttributeKind) -> str:
    """The feature name of attribute `name` of `kind` (`attr_cat_channel`)."""
    return (CATEGORY_PREFIX if kind == "category" else NUMBER_PREFIX) + name


def is_attribute_feature(feature: str) -> bool:
    """Whether a feature name is an attribute's."""
    return attribute_of_feature(feature) is not None


def attribute_of_feature(feature: str) -> Attribute | None:
    """The attribute a feature name holds, or None for any other feature."""
    for prefix, kind in _PREFIXES.items():
        if feature.startswith(prefix) and _NAME.match(feature[len(prefix) :]):
            return Attribute(feature[len(prefix) :], kind)
    return None


def name_problem(name: str) -> str | None:
    """Why `name` cannot name an attribute, or None when it can."""
    if not _NAME.match(name):
        return (
            f"attribute name {name!r} must be a lowercase identifier: a letter, then letters, "
            f"digits or _ (at most {ATTRIBUTE_NAME_MAX} characters), e.g. billing_channel"
        )
    from features.spec import FEATURE_COLUMNS  # the spec's modules never import this one

    columns = sorted({c for spec in TABLES.values() for c in spec.column_names})
    if name in columns or name in FEATURE_COLUMNS or name.startswith("attr_"):
        return (
            f"attribute name {name!r} is taken by a canonical column or a feature; choose "
            f"another (not one of {', '.join(columns)}, nor a feature name, nor attr_...)"
        )
    return None


def value_problem(value: object, kind: AttributeKind, where: str) -> str | None:
    """Why `value` is not a valid value of an attribute of `kind`, or None (None is valid)."""
    if value is None:
        return None
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{where} must be a number, got {value!r}"
        if not math.isfinite(value):
            return f"{where} must be a finite number, got {value!r}"
        return None
    if not isinstance(value, str):
        return f"{where} must be a text (a category), got {value!r}"
    if len(value) > ATTRIBUTE_TEXT_MAX:
        return f"{where} is longer than {ATTRIBUTE_TEXT_MAX} characters"
    return limits.text_problem(value, where, free_text=False)
