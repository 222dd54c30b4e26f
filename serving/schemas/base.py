"""The base of the API models: the request base `_Request` (limits on every date and text),
field helpers, and `ReasonOut` (shared by the decisions).
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any, ClassVar, Literal, TypedDict, Unpack

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from kernel import limits
from serving.decisions.target import RiskTargetName

__all__ = ["MAX_SCORE_BATCH", "Id", "ReasonOut"]

Id = Field(min_length=1, max_length=64)
# Largest batch of invoices scored in one request.
MAX_SCORE_BATCH = 1000


class _AmountOptions(TypedDict, total=False):
    """What an amount field may set besides its bounds (absent = `Field`'s own default)."""

    default: float | None
    description: str


class _TermsOptions(TypedDict, total=False):
    description: str


def _amount(**options: Unpack[_AmountOptions]) -> Any:
    """An amount field: one cent to `limits.AMOUNT_MAX`, never NaN or infinite."""
    return Field(ge=limits.AMOUNT_MIN, le=limits.AMOUNT_MAX, allow_inf_nan=False, **options)


def _terms(**options: Unpack[_TermsOptions]) -> Any:
    return Field(default=None, ge=0, le=limits.TERMS_DAYS_MAX, **options)


def _risk_target() -> Any:
    """The field naming what `p_default` is the probability of (the bundle's target)."""
    return Field(
        description="What p_default is the probability of: default (not paid within the "
        "horizon after due, or written off) or very_late (paid more than very_late_days "
        "after due, or not at all; the target of ledgers with too few defaults)."
    )


def _very_late_days() -> Any:
    return Field(
        default=None, description="Days after due beyond which a payment is very late (very_late)."
    )


# The values of `risk_target` in answers, re-exported for the use-case modules.
RiskTargetOut = RiskTargetName


def _example(example: dict) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]}, extra="forbid")


class _Request(BaseModel):
    """Base of request bodies: every date, datetime and text within `kernel.limits`."""

    # What the model's own validators demand beyond its fields, in JSON-schema words.
    _schema_rules: ClassVar[dict[str, Any]] = {}

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The model's JSON schema, with the bounds `_within_limits` enforces as patterns."""
        json_schema = handler(core_schema)
        model_schema = handler.resolve_ref_schema(json_schema)
        for name, field_schema in model_schema.get("properties", {}).items():
            _add_patterns(field_schema, _text_pattern(name))
        model_schema.update(copy.deepcopy(cls._schema_rules))
        return json_schema

    @field_validator("*", mode="after")
    @classmethod
    def _within_limits(cls, value: Any, info: ValidationInfo) -> Any:
        field = info.field_name or "value"
        for item in value if isinstance(value, list) else (value,):
            problem = None
            if isinstance(item, dt.date):  # a datetime is a date too
                problem = limits.date_problem(item, field)
            elif isinstance(item, str):
                problem = limits.text_problem(item, field)
            if problem is not None:
                raise ValueError(problem)
        return value


def _text_pattern(field: str) -> str:
    return limits.FREE_TEXT_PATTERN if field in limits.FREE_TEXT_FIELDS else limits.TEXT_PATTERN


def _add_patterns(node: Any, text_pattern: str) -> None:
    """Give every string in a property's schema (optional, list item) its pattern.

    Dates and datetimes get the range of the settings read now, when the OpenAPI is
    built, as `_within_limits` reads them when a body is validated; other models (a
    `$ref`) get their own; enumerated strings need none.
    """
    if isinstance(node, list):
        for item in node:
            _add_patterns(item, text_pattern)
        return
    if not isinstance(node, dict) or "$ref" in node:
        return
    if node.get("type") == "string" and not {"enum", "const", "pattern"} & node.keys():
        kind = node.get("format")
        if kind == "date":
            node["pattern"] = limits.date_pattern()
        elif kind == "date-time":
            node["pattern"] = limits.datetime_pattern()
        elif kind is None:
            node["pattern"] = text_pattern
    for key in ("anyOf", "oneOf", "allOf", "items", "prefixItems"):
        if key in node:
            _add_patterns(node[key], text_pattern)
    if "patternProperties" in node:
        # A map whose names must match a pattern (`attributes`): pydantic refuses other
        # names, so the schema says so too.
        node.setdefault("additionalProperties", False)
        for value in node["patternProperties"].values():
            _add_patterns(value, text_pattern)


class ReasonOut(BaseModel):
    """One reason: a sentence, where it comes from, and which way it pushes."""

    model_config = _example(
        {
            "text": "paid 12 invoices 23 days late on average",
            "source": "model",
            "feature": "history_days_late_mean",
            "effect": "raises risk",
        }
    )
    text: str
    source: Literal["model", "policy"]
    feature: str | None = None
    effect: str | None = None
