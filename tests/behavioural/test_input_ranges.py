"""One date range and one set of value bounds at every door: the import and the API.

The fields are enumerated from `kernel.schema.TABLES` and from the request models of
`serving.schemas` (found through the app's routes), so a date, text or amount field
added later is tested without anyone remembering to add it here.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features.build import build_open_invoice_rows, build_training_table
from features.importing import import_directory
from features.ledger import load_ledger
from features.mapping import parse_mapping
from features.store import TABLE_OBJECTS, get_engine
from kernel import limits
from kernel.config import Settings, get_settings
from kernel.errors import DataImportError, MappingError
from kernel.schema import TABLES
from serving import schemas
from serving.app import create_app
from tests.utils.api_support import ApiTemplate, settings_for
from tests.utils.input_support import base_rows, fingerprint, write_export

DATE_MIN = dt.date(1900, 1, 1)
DATE_MAX = dt.date(2199, 12, 31)
OUTSIDE = (
    DATE_MIN - dt.timedelta(days=1),
    DATE_MAX + dt.timedelta(days=1),
    dt.date(1500, 1, 1),
    dt.date(3000, 1, 1),
)
DATE_COLUMNS = [
    (table, column.name, column.kind)
    for table, spec in TABLES.items()
    for column in spec.columns
    if column.kind in ("date", "datetime")
]


def _text(day: dt.date, kind: str, *, end_of_day: bool = False) -> str:
    if kind == "date":
        return day.isoformat()
    return f"{day.isoformat()}T{'23:59:59' if end_of_day else '00:00:00'}Z"


def test_the_defaults_are_the_range_these_tests_use(settings: Settings) -> None:
    assert (settings.date_min, settings.date_max) == (DATE_MIN, DATE_MAX)


# ---------------------------------------------------------------- import


@pytest.fixture
def imported(tmp_path: Path, sqlite_url: str) -> sa.Engine:
    """A store holding the one-row export, imported once."""
    engine = get_engine(sqlite_url)
    write_export(tmp_path / "base", {t: [r] for t, r in base_rows().items()})
    import_directory(engine, tmp_path / "base")
    return engine


def test_every_canonical_table_has_a_date_column_under_test() -> None:
    # Guards the enumeration itself: if it came back empty, nothing would be tested.
    assert {t for t, *_ in DATE_COLUMNS} == set(TABLES)
    assert ("actions", "at", "datetime") in DATE_COLUMNS


@pytest.mark.parametrize("day", OUTSIDE, ids=str)
@pytest.mark.parametrize(("table", "column", "kind"), DATE_COLUMNS, ids=lambda v: str(v))
def test_import_rejects_every_date_column_outside_the_range(
    imported: sa.Engine, tmp_path: Path, table: str, column: str, kind: str, day: dt.date
) -> None:
    before = fingerprint(imported)
    rows = base_rows()
    if table == "invoices" and column == "dispute_date":
        rows["invoices"]["disputed"] = "true"
    rows[table][column] = _text(day, kind)
    write_export(tmp_path / "bad", {t: [r] for t, r in rows.items()})
    with pytest.raises(DataImportError) as exc:
        import_directory(imported, tmp_path / "bad")
    hits = [
        r
        for r in exc.value.bad_rows
        if (r.file, r.line, r.column) == (f"{table}.csv", 2, column)
        and "outside the accepted range 1900-01-01 .. 2199-12-31" in r.reason
        and column in r.reason
    ]
    assert hits, exc.value.bad_rows
    assert fingerprint(imported) == before


@pytest.mark.parametrize(("table", "column", "kind"), DATE_COLUMNS, ids=lambda v: str(v))
def test_import_accepts_the_edges_of_the_range(
    imported: sa.Engine, tmp_path: Path, table: str, column: str, kind: str
) -> None:
    for day, late in ((DATE_MIN, False), (DATE_MAX, True)):
        rows = base_rows()
        rows[table][column] = _text(day, kind, end_of_day=late)
        write_export(tmp_path / str(day), {t: [r] for t, r in rows.items()})
        try:
            import_directory(imported, tmp_path / str(day))
        except DataImportError as exc:  # other rules (e.g. due before issue) may object
            assert not [r for r in exc.bad_rows if "accepted range" in r.reason], exc.bad_rows


def test_a_ledger_at_the_edges_imports_and_the_feature_code_reads_it(
    tmp_path: Path, sqlite_url: str
) -> None:
    rows = base_rows()
    rows["customers"]["created_at"] = DATE_MIN.isoformat()
    rows["invoices"].update(
        issue_date=DATE_MIN.isoformat(),
        due_date=DATE_MAX.isoformat(),
        disputed="true",
        dispute_date=DATE_MAX.isoformat(),
    )
    rows["payments"]["payment_date"] = DATE_MAX.isoformat()
    rows["adjustments"]["date"] = DATE_MAX.isoformat()
    rows["actions"].update(at=f"{DATE_MAX}T23:59:59Z", promised_date=DATE_MAX.isoformat())
    note = {**rows["actions"], "action_id": "ACT-2", "kind": "note", "at": f"{DATE_MIN}T00:00:00Z"}
    note.update(promised_date="", promised_amount="")
    export = {t: [r] for t, r in rows.items()}
    export["actions"].append(note)
    write_export(tmp_path / "edges", export)
    engine = get_engine(sqlite_url)
    summary = import_directory(engine, tmp_path / "edges")
    assert summary.tables["actions"].inserted == 2
    ledger = load_ledger(engine)
    for as_of in (DATE_MIN + dt.timedelta(days=1), DATE_MAX):
        build_open_invoice_rows(ledger, as_of=as_of)
        build_training_table(ledger, as_of=as_of, horizon_days=90)


def test_the_mapping_settled_date_is_held_to_the_range(imported: sa.Engine, tmp_path: Path) -> None:
    before = fingerprint(imported)
    rows = base_rows()
    rows["invoices"]["paid on"] = "3000-01-01"
    export = {t: [r] for t, r in rows.items() if t != "payments"}
    write_export(tmp_path / "mapped", export)
    (tmp_path / "map.toml").write_text('[invoices]\nsettled_date = "paid on"\n')
    with pytest.raises(DataImportError) as exc:
        import_directory(imported, tmp_path / "mapped", mapping=tmp_path / "map.toml")
    assert any(
        r.line == 2 and r.column == "paid on" and "accepted range" in r.reason
        for r in exc.value.bad_rows
    ), exc.value.bad_rows
    assert fingerprint(imported) == before


def test_a_mapping_default_date_outside_the_range_is_refused_at_once() -> None:
    with pytest.raises(MappingError, match=r"created_at 1500-01-01 is outside the accepted"):
        parse_mapping({"customers": {"defaults": {"created_at": dt.date(1500, 1, 1)}}})
    parse_mapping({"customers": {"defaults": {"created_at": DATE_MIN}}})


def test_parquet_dates_are_held_to_the_range(imported: sa.Engine, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    before = fingerprint(imported)
    rows = base_rows()
    write_export(tmp_path / "pq", {t: [r] for t, r in rows.items() if t != "payments"})
    payment = {k: [v] for k, v in rows["payments"].items()}
    payment["payment_date"] = [dt.date(3000, 1, 1)]
    payment["amount"] = [99.0]
    pq.write_table(pa.table(payment), tmp_path / "pq" / "payments.parquet")
    with pytest.raises(DataImportError) as exc:
        import_directory(imported, tmp_path / "pq")
    assert [(r.line, r.column) for r in exc.value.bad_rows] == [(2, "payment_date")]
    assert fingerprint(imported) == before


BAD_VALUES = [
    ("invoices", "amount", "5e-324", "below one cent"),
    ("invoices", "amount", "0.004", "below one cent"),
    ("payments", "amount", "1e13", "above the largest amount"),
    ("adjustments", "amount", "-0.001", "below one cent"),
    ("actions", "promised_amount", "2e12", "above the largest amount"),
    ("actions", "promised_amount", "-5", "not positive"),
    ("customers", "credit_limit", "1e300", "above the largest amount"),
    ("customers", "payment_terms_days", "100000", "longer than the longest accepted"),
    ("invoices", "amount", "nan", "cannot read"),
    ("invoices", "amount", "inf", "cannot read"),
    ("customers", "name", "Alder\x00Print", "'\\x00'"),
    ("customers", "customer_id", "C\x001", "'\\x00'"),
    ("invoices", "currency", "E\x1bR", "'\\x1b'"),
    ("actions", "author", "chloe\tb", "'\\t'"),
    ("actions", "text", "bell \x07 here", "'\\x07'"),
    ("actions", "text", "line\x00", "'\\x00'"),
    # Control characters that are also white space are rejected, not stripped away.
    ("customers", "currency", "\x85", "'\\x85'"),
    ("customers", "country", "DE\x0b", "'\\x0b'"),
    ("invoices", "issue_date", "2024-01-01\x1f", "cannot read"),
]


@pytest.mark.parametrize(("table", "column", "value", "reason"), BAD_VALUES, ids=repr)
def test_import_rejects_bad_values_with_their_line(
    imported: sa.Engine, tmp_path: Path, table: str, column: str, value: str, reason: str
) -> None:
    before = fingerprint(imported)
    rows = base_rows()
    rows[table][column] = value
    write_export(tmp_path / "bad", {t: [r] for t, r in rows.items()})
    with pytest.raises(DataImportError) as exc:
        import_directory(imported, tmp_path / "bad")
    assert any(
        (r.file, r.line, r.column) == (f"{table}.csv", 2, column) and reason in r.reason
        for r in exc.value.bad_rows
    ), exc.value.bad_rows
    assert fingerprint(imported) == before


def test_free_text_keeps_tabs_and_line_breaks(imported: sa.Engine, tmp_path: Path) -> None:
    rows = base_rows()
    rows["actions"]["text"] = "called AP\tno answer\r\nwill try again"
    write_export(tmp_path / "ok", {t: [r] for t, r in rows.items()})
    assert import_directory(imported, tmp_path / "ok").tables["actions"].updated == 1


def test_the_range_comes_from_the_settings(
    monkeypatch: pytest.MonkeyPatch, imported: sa.Engine, tmp_path: Path
) -> None:
    monkeypatch.setenv("DUECAST_DATE_MIN", "2000-01-01")
    get_settings.cache_clear()
    rows = base_rows()
    rows["customers"]["created_at"] = "1999-12-31"
    write_export(tmp_path / "bad", {t: [r] for t, r in rows.items()})
    with pytest.raises(DataImportError, match=r"2000-01-01 \.\. 2199-12-31"):
        import_directory(imported, tmp_path / "bad")
    with pytest.raises(pydantic.ValidationError, match="2000-01-01"):
        schemas.PaymentEventRequest(
            payment_id="P", invoice_id="I", payment_date=dt.date(1999, 12, 31), amount=1
        )


# ---------------------------------------------------------------- API models


def _request_models() -> list[type[pydantic.BaseModel]]:
    """Every model the app reads from a request body, and every model nested in one.

    Found through the app's OpenAPI document: every schema a request body refers to,
    directly or through another schema, is a model of `serving.schemas` by name.
    """
    document = create_app(Settings()).openapi()
    components = document["components"]["schemas"]
    names: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                name = ref.rsplit("/", 1)[-1]
                if name not in names:
                    names.append(name)
                    visit(components[name])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    for operations in document["paths"].values():
        for operation in operations.values():
            visit(operation.get("requestBody", {}))
    return [getattr(schemas, name) for name in names]


REQUEST_MODELS = _request_models()


def _holds(annotation: Any, kind: type) -> bool:
    if annotation is kind:
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        return any(_holds(arg, kind) for arg in typing.get_args(annotation))
    return False


def _fields(kind: type) -> list[tuple[type[pydantic.BaseModel], str]]:
    # `attributes` maps names to a text or a number that are neither amounts nor ids:
    # their bounds are tested on their own (`test_attribute_values_obey_the_text_rules`).
    return [
        (model, name)
        for model in REQUEST_MODELS
        for name, field in model.model_fields.items()
        if _holds(field.annotation, kind) and name != "attributes"
    ]


DATE_FIELDS = _fields(dt.date) + _fields(dt.datetime)
TEXT_FIELDS = _fields(str)
AMOUNT_FIELDS = _fields(float)


def _example(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    extra = model.model_config.get("json_schema_extra") or {}
    return dict(extra["examples"][0])  # type: ignore[index]


def _is_datetime(model: type[pydantic.BaseModel], name: str) -> bool:
    return _holds(model.model_fields[name].annotation, dt.datetime)


def test_the_request_models_are_found_and_all_share_the_bounds() -> None:
    names = {m.__name__ for m in REQUEST_MODELS}
    assert {"OrderDecisionRequest", "NewInvoice", "ActionRequest", "PaymentEventRequest"} <= names
    assert {"InvoiceEventRequest", "InvoiceScoreRequest"} <= names
    # A new body model that does not derive from the checked base fails here.
    assert all(issubclass(m, schemas._Request) for m in REQUEST_MODELS)
    assert len(DATE_FIELDS) >= 8 and AMOUNT_FIELDS and TEXT_FIELDS


@pytest.mark.parametrize(("model", "name"), DATE_FIELDS, ids=lambda v: getattr(v, "__name__", v))
def test_every_api_date_field_rejects_dates_outside_the_range(
    model: type[pydantic.BaseModel], name: str
) -> None:
    values: list[Any] = list(OUTSIDE)
    if _is_datetime(model, name):
        values = [f"{d}T12:00:00Z" for d in OUTSIDE] + [
            f"{DATE_MIN - dt.timedelta(days=1)}T23:59:59Z",
            "1900-01-01T00:30:00+01:00",  # 1899-12-31 in UTC
            "2199-12-31T23:00:00-05:00",  # 2200-01-01 in UTC
            "0001-01-01T00:00:00+01:00",  # no UTC day at all
        ]
    for value in values:
        body = {**_example(model), name: value}
        with pytest.raises(pydantic.ValidationError) as exc:
            model.model_validate(body)
        errors = exc.value.errors()
        assert any(e["loc"] == (name,) and "outside the accepted range" in e["msg"] for e in errors)


@pytest.mark.parametrize(("model", "name"), DATE_FIELDS, ids=lambda v: getattr(v, "__name__", v))
def test_every_api_date_field_accepts_the_edges(model: type[pydantic.BaseModel], name: str) -> None:
    dates = [n for m, n in DATE_FIELDS if m is model]
    for day, late in ((DATE_MIN, False), (DATE_MAX, True)):
        body = _example(model)
        for other in dates:  # every date of the model on the edge: issue <= due still holds
            body[other] = (
                _text(day, "datetime", end_of_day=late) if _is_datetime(model, other) else day
            )
        if "promised_date" in dates:
            body["kind"] = "promise"
        model.model_validate(body)
    if _is_datetime(model, name):
        model.model_validate({**_example(model), name: "2199-12-31T20:00:00-03:00"})


@pytest.mark.parametrize(("model", "name"), TEXT_FIELDS, ids=lambda v: getattr(v, "__name__", v))
def test_every_api_text_field_rejects_control_characters(
    model: type[pydantic.BaseModel], name: str
) -> None:
    field = model.model_fields[name]
    is_list = _holds(field.annotation, list) or typing.get_origin(field.annotation) is list
    for char in ("\x00", "\x1b", "\x7f", "\x85"):
        value = f"A{char}B"
        body = {**_example(model), name: [value] if is_list else value}
        with pytest.raises(pydantic.ValidationError) as exc:
            model.model_validate(body)
        assert any(e["loc"][0] == name for e in exc.value.errors()), exc.value.errors()


ATTRIBUTE_MODELS = [m for m in REQUEST_MODELS if "attributes" in m.model_fields]


@pytest.mark.parametrize("model", ATTRIBUTE_MODELS, ids=lambda m: m.__name__)
def test_attribute_values_obey_the_text_rules(model: type[pydantic.BaseModel]) -> None:
    for value in ("A\x00B", "A\x1bB", "A\x85B", float("nan"), float("inf"), True, ["x"]):
        with pytest.raises(pydantic.ValidationError) as exc:
            model.model_validate({**_example(model), "attributes": {"channel": value}})
        assert all(e["loc"][:2] == ("attributes", "channel") for e in exc.value.errors())
    for value in ("paper", "Zürich office", -3.5, 0.0, None):
        model.model_validate({**_example(model), "attributes": {"channel": value}})


def test_free_text_in_the_api_keeps_tabs_and_line_breaks() -> None:
    body = {**_example(schemas.ActionRequest), "text": "line one\r\nline\ttwo"}
    assert schemas.ActionRequest.model_validate(body).text == "line one\r\nline\ttwo"
    with pytest.raises(pydantic.ValidationError):
        schemas.ActionRequest.model_validate({**body, "author": "chloe\nx"})


@pytest.mark.parametrize(("model", "name"), AMOUNT_FIELDS, ids=lambda v: getattr(v, "__name__", v))
def test_every_api_amount_rejects_tiny_huge_and_non_numbers(
    model: type[pydantic.BaseModel], name: str
) -> None:
    # An approved credit limit of 0 means "no credit": the one amount where 0 is valid.
    zero_ok = (model.__name__, name) == ("CreditLimitRequest", "limit")
    for value in (5e-324, 0.009, 0.0, -1.0, 1e12 * 1.01, float("nan"), float("inf")):
        if zero_ok and 0 <= value < limits.AMOUNT_MIN:
            continue
        with pytest.raises(pydantic.ValidationError):
            model.model_validate({**_example(model), name: value})
    for value in (limits.AMOUNT_MIN, limits.AMOUNT_MAX, *((0.0,) if zero_ok else ())):
        model.model_validate({**_example(model), name: value})


# ---------------------------------------------------------------- the OpenAPI says the same


def _body_patterns(document: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    """Each request-body property's string patterns, by (schema name, property)."""
    found: dict[tuple[str, str], list[str]] = {}

    def strings(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if node.get("type") == "string":
                yield node
            for key in ("anyOf", "items"):
                yield from strings(node.get(key))
        elif isinstance(node, list):
            for item in node:
                yield from strings(item)

    for model in REQUEST_MODELS:
        properties = document["components"]["schemas"][model.__name__]["properties"]
        for name, prop in properties.items():
            found[(model.__name__, name)] = [
                f"{s.get('format', 'text')} {s['pattern']}" for s in strings(prop) if "pattern" in s
            ]
    return found


def _pattern_of(document: dict[str, Any], model: type, name: str, kind: str) -> re.Pattern[str]:
    (pattern,) = [p for p in _body_patterns(document)[(model.__name__, name)] if p.startswith(kind)]
    return re.compile(pattern.split(" ", 1)[1])


def test_every_request_date_and_text_has_its_pattern_in_the_openapi() -> None:
    document = create_app(Settings()).openapi()
    patterns = _body_patterns(document)
    for model, name in DATE_FIELDS:
        kind = "date-time" if _is_datetime(model, name) else "date"
        assert [p.split(" ")[0] for p in patterns[(model.__name__, name)]] == [kind]
    enumerated = {("ActionRequest", "kind")}  # a Literal: its enum is its pattern
    for model, name in TEXT_FIELDS:
        if (model.__name__, name) not in enumerated:
            assert [p.split(" ")[0] for p in patterns[(model.__name__, name)]] == ["text"], name


def test_the_openapi_date_patterns_follow_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUECAST_DATE_MIN", "1950-03-15")
    monkeypatch.setenv("DUECAST_DATE_MAX", "2080-11-30")
    get_settings.cache_clear()
    document = create_app(get_settings()).openapi()
    low, high = dt.date(1950, 3, 15), dt.date(2080, 11, 30)
    day = _pattern_of(document, schemas.PaymentEventRequest, "payment_date", "date")
    inside = [low, high, dt.date(1950, 4, 1), dt.date(2000, 2, 29), dt.date(2080, 10, 31)]
    outside = [low - dt.timedelta(days=1), high + dt.timedelta(days=1)]
    outside += [low.replace(year=1949), high.replace(year=2081), DATE_MIN, DATE_MAX]
    assert all(day.search(d.isoformat()) for d in inside)
    assert not any(day.search(d.isoformat()) for d in outside)
    # The validator agrees on every one of them.
    for d in inside + outside:
        problem = limits.date_problem(d, "payment_date")
        assert (problem is None) == (d in inside), (d, problem)

    at = _pattern_of(document, schemas.ActionRequest, "at", "date-time")
    assert at.search("1950-03-15T00:00:00Z") and at.search("2080-11-30T23:59:59.999999+05:00")
    assert at.search("1950-03-15T20:00:00-05:00") and at.search("2000-06-01t12:00:00z")
    for value in (
        "1950-03-14T23:59:59Z",
        "2080-12-01T00:00:00Z",
        "1950-03-15T00:30:00+01:00",  # 1950-03-14 in UTC
        "2080-11-30T23:00:00-05:00",  # 2080-12-01 in UTC
        "1949-06-01T12:00:00Z",
        "2081-06-01T12:00:00Z",
        "2000-06-01T23:59:60Z",  # no leap second in Python's datetime
    ):
        assert not at.search(value), value


def test_the_openapi_text_patterns_reject_control_characters() -> None:
    document = create_app(Settings()).openapi()
    name = _pattern_of(document, schemas.OrderDecisionRequest, "customer_id", "text")
    ids = _pattern_of(document, schemas.InvoiceScoreRequest, "invoice_ids", "text")
    note = _pattern_of(document, schemas.ActionRequest, "text", "text")
    for pattern in (name, ids, note):
        assert pattern.search("Alder Print AG ÄÖ 中")
        for char in ("\x00", "\x1b", "\x7f", "\x85"):
            assert not pattern.search(f"A{char}B"), (pattern.pattern, char)
    assert note.search("line one\r\nline\ttwo") and not name.search("line\tone")


def test_the_openapi_documents_a_non_empty_score_request() -> None:
    import jsonschema

    document = create_app(Settings()).openapi()
    schema = {**document["components"]["schemas"]["InvoiceScoreRequest"]}
    schema["$defs"] = document["components"]["schemas"]
    schema = json.loads(json.dumps(schema).replace("#/components/schemas/", "#/$defs/"))
    validator = jsonschema.Draft202012Validator(schema)
    for body in ({}, {"invoice_ids": []}, {"invoices": []}, {"invoice_ids": [], "invoices": []}):
        assert not validator.is_valid(body)
        with pytest.raises(pydantic.ValidationError):
            schemas.InvoiceScoreRequest.model_validate(body)
    new = _example(schemas.NewInvoice)
    for body in ({"invoice_ids": ["I"]}, {"invoice_ids": [], "invoices": [new]}):
        assert validator.is_valid(body)
        schemas.InvoiceScoreRequest.model_validate(body)


@pytest.mark.parametrize(
    ("low", "high"), [(0, 9999), (1900, 2199), (1677, 2262), (7, 7), (5, 1234), (1999, 2000)]
)
def test_digits_between_matches_exactly_the_range(low: int, high: int) -> None:
    pattern = re.compile(limits.digits_between(low, high, 4))
    assert [n for n in range(10_000) if pattern.fullmatch(f"{n:04d}")] == list(range(low, high + 1))


# ---------------------------------------------------------------- API end to end


@pytest.fixture
def client(api_template: ApiTemplate, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(api_template, tmp_path))) as c:
        yield c


def _keys(api_template: ApiTemplate, role: str) -> dict[str, str]:
    return {"X-API-Key": api_template.keys[role]}


def _store_rows(client: TestClient) -> dict[str, int]:
    engine = client.app.state.runtime.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return {
            name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for name, t in TABLE_OBJECTS.items()
        }


def _bad_requests(api_template: ApiTemplate) -> list[tuple[str, str, dict[str, Any]]]:
    invoice = api_template.ledger.invoices.iloc[0]
    customer = str(invoice["customer_id"])
    invoice_event = {
        "invoice_id": "INV-RANGE-1",
        "customer_id": customer,
        "issue_date": "2026-03-01",
        "due_date": "2026-03-31",
        "amount": 100.0,
    }
    payment = {
        "payment_id": "PAY-RANGE-1",
        "invoice_id": str(invoice["invoice_id"]),
        "payment_date": "2026-03-01",
        "amount": 10.0,
    }
    action = {"customer_id": customer}
    order = {"customer_id": customer, "amount": 100.0}
    promise = {**action, "kind": "promise", "promised_date": "2026-03-09"}
    new_invoice = {"customer_id": customer, "amount": 10.0, "issue_date": "1500-01-01"}
    return [
        ("collector", "/v1/actions", {**action, "kind": "call", "at": "3000-01-01T00:00:00Z"}),
        ("collector", "/v1/actions", {**promise, "promised_date": "1500-01-01"}),
        ("collector", "/v1/actions", {**action, "kind": "note", "text": "a\x00b"}),
        ("collector", "/v1/actions", {**promise, "promised_amount": 5e-324}),
        ("admin", "/v1/events/invoices", {**invoice_event, "issue_date": "1500-01-01"}),
        ("admin", "/v1/events/invoices", {**invoice_event, "due_date": "3000-01-01"}),
        ("admin", "/v1/events/invoices", {**invoice_event, "dispute_date": "3000-01-01"}),
        ("admin", "/v1/events/invoices", {**invoice_event, "amount": 5e-324}),
        ("admin", "/v1/events/invoices", {**invoice_event, "invoice_id": "INV\x00"}),
        ("admin", "/v1/events/payments", {**payment, "payment_date": "3000-01-01"}),
        ("admin", "/v1/events/payments", {**payment, "payment_date": "1500-01-01"}),
        ("admin", "/v1/events/payments", {**payment, "amount": 5e-324}),
        ("scorer", "/v1/orders/decision", {**order, "order_date": "3000-01-01"}),
        ("scorer", "/v1/orders/decision", {**order, "order_date": "1500-01-01"}),
        ("scorer", "/v1/orders/decision", {**order, "amount": 5e-324}),
        ("scorer", "/v1/invoices/score", {"invoices": [new_invoice]}),
        ("scorer", "/v1/invoices/score", {"invoice_ids": ["INV\x00"]}),
    ]


def test_the_api_answers_422_to_every_bad_value_and_keeps_serving(
    api_template: ApiTemplate, client: TestClient
) -> None:
    before = _store_rows(client)
    requests = _bad_requests(api_template)
    for role, path, body in requests:
        response = client.post(path, json=body, headers=_keys(api_template, role))
        assert response.status_code == 422, (path, body, response.text)
        assert isinstance(response.json(), dict) and "detail" in response.json()
    assert _store_rows(client) == before
    worklist = client.get("/v1/worklist", headers=_keys(api_template, "collector"))
    assert worklist.status_code == 200 and worklist.json()["data"]
    customer = worklist.json()["data"][0]["customer_id"]
    read = client.get(f"/v1/customers/{customer}", headers=_keys(api_template, "scorer"))
    assert read.status_code == 200


def test_the_api_accepts_the_edges_and_keeps_serving(
    api_template: ApiTemplate, client: TestClient
) -> None:
    customer = str(api_template.ledger.invoices.iloc[0]["customer_id"])
    headers = _keys(api_template, "collector")
    for at in (f"{DATE_MIN}T00:00:00Z", f"{DATE_MAX}T23:59:59Z"):
        body = {"customer_id": customer, "kind": "note", "text": "edge", "at": at}
        assert client.post("/v1/actions", json=body, headers=headers).status_code == 201
    event = {
        "invoice_id": "INV-EDGE-1",
        "customer_id": customer,
        "issue_date": str(DATE_MIN),
        "due_date": str(DATE_MAX),
        "amount": 100.0,
    }
    admin = _keys(api_template, "admin")
    assert client.post("/v1/events/invoices", json=event, headers=admin).status_code == 201
    payment = {"payment_id": "PAY-EDGE-1", "invoice_id": "INV-EDGE-1", "amount": 1.0}
    payment["payment_date"] = str(DATE_MAX)
    assert client.post("/v1/events/payments", json=payment, headers=admin).status_code == 201
    assert client.get("/v1/worklist", headers=headers).status_code == 200
    read = client.get(f"/v1/customers/{customer}", headers=_keys(api_template, "scorer"))
    assert read.status_code == 200
