"""Property: through a mapping (v2), a dry run reports exactly what the import then does.

Small line-item exports are drawn the way invoicing tools write them: money in one of
several styles, day-first or ISO dates, customers only in the invoice rows, paid amounts
and last payment dates, drafts to leave out, void rows, and some bad values (unreadable
money or dates, a paid amount above the total). The mapping reads them with `lines`,
`from_invoices`, `paid_amount`, `where_not` and `void`; sometimes an earlier export of
part of the rows is in the store already, and the new export may no longer show its
payments. Whatever the dry run reports with a reject file (counts per table, customers
to log, problems), the import does, and the dry run writes nothing.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.features.test_import import dump, run

_COUNTER = itertools.count()
# How amounts are written, with the mapping options that read them.
_STYLES = {
    "plain": (lambda v: f"{v:.2f}", ""),
    "dollar": (lambda v: f"${v:,.2f}", ""),
    "comma": (lambda v: f"{v:,.2f}".replace(",", " ").replace(".", ","), 'decimal = ","\n'),
    "code": (lambda v: f"EUR {v:.2f}", ""),
}
_DATES = {"iso": "%Y-%m-%d", "day-first": "%d/%m/%Y"}
_HEADER = ["No", "Client", "Client Name", "Date", "Due", "Line", "Paid", "Paid On", "Status"]
_BAD = {"Line": "twelve", "Date": "31/31/2024", "Paid": "9999999.00"}


def _mapping(style: str, dates: str) -> str:
    return (
        f'{_STYLES[style][1]}date_format = "{_DATES[dates]}"\n'
        "[customers]\nfrom_invoices = true\n"
        '[invoices]\nfile = "lines.csv"\nlines = true\ncustomer_name = "Client Name"\n'
        'paid_amount = "Paid"\nlast_payment_date = "Paid On"\n'
        'void = { column = "Status", values = ["Void"] }\n'
        '[invoices.where_not]\n"Status" = ["Draft"]\n'
        '[invoices.columns]\ninvoice_id = "No"\ncustomer_id = "Client"\n'
        'issue_date = "Date"\ndue_date = "Due"\namount = "Line"\n'
    )


@st.composite
def _export(draw: st.DrawFn) -> tuple[str, str, list[list[str]], list[list[str]]]:
    """(money style, date style, the rows, the rows of an earlier export of some of them)."""
    style = draw(st.sampled_from(sorted(_STYLES)), label="money")
    dates = draw(st.sampled_from(sorted(_DATES)), label="dates")
    money, fmt = _STYLES[style][0], _DATES[dates]
    invoices = draw(st.integers(2, 6), label="invoices")
    rows: list[list[str]] = []
    for k in range(invoices):
        issued = pd.Timestamp("2024-01-01") + pd.Timedelta(days=7 * k)
        lines = draw(st.lists(st.integers(1, 5000), min_size=1, max_size=3), label=f"lines {k}")
        paid = draw(st.sampled_from([0, 1, 2]), label=f"paid {k}")  # none, half, all
        total = sum(lines)
        status = draw(st.sampled_from(["Sent", "Sent", "Draft", "Void"]), label=f"status {k}")
        for amount in lines:
            rows.append(
                [
                    f"INV-{k}",
                    f"C{k % 3}",
                    f"Client {k % 3}",
                    issued.strftime(fmt),
                    (issued + pd.Timedelta(days=30)).strftime(fmt),
                    money(float(amount)),
                    money(total * paid / 2) if paid else "",
                    (issued + pd.Timedelta(days=20)).strftime(fmt) if paid else "",
                    status,
                ]
            )
    for column, value in draw(
        st.lists(st.sampled_from(sorted(_BAD.items())), max_size=2), label="breaks"
    ):
        row = draw(st.integers(0, len(rows) - 1), label=f"bad {column}")
        rows[row][_HEADER.index(column)] = value
    stored = draw(st.integers(0, invoices), label="invoices stored before")
    earlier = [r for r in rows if int(r[0][4:]) < stored]
    if draw(st.booleans(), label="payments taken back"):
        # The new export no longer shows what was paid on the invoices stored before.
        rows = [[*r[:6], "", "", r[8]] if int(r[0][4:]) < stored else r for r in rows]
    return style, dates, rows, earlier


def _write(folder: Path, style: str, dates: str, rows: list[list[str]]) -> Path:
    folder.mkdir(parents=True)
    pd.DataFrame(rows, columns=_HEADER).to_csv(folder / "lines.csv", index=False)
    (folder / "mapping.toml").write_text(_mapping(style, dates), encoding="utf-8")
    return folder


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=_export())
def test_a_dry_run_through_a_mapping_reports_what_the_import_does(
    tmp_path: Path, case: tuple[str, str, list[list[str]], list[list[str]]]
) -> None:
    style, dates, rows, earlier = case
    root = tmp_path / f"case{next(_COUNTER)}"
    url = f"sqlite:///{root / 'store.db'}"
    if earlier:
        first = _write(root / "earlier", style, dates, earlier)
        run(url, first, mapping=first / "mapping.toml", reject_file=root / "earlier.csv")
    folder = _write(root / "export", style, dates, rows)
    before = dump(url) if earlier else None

    dry = run(url, folder, mapping=folder / "mapping.toml", dry_run=True, reject_file=root / "d")

    if before is None:  # a new store: not even its file is made
        assert not (root / "store.db").exists()
    else:
        for name, table in dump(url).items():
            pd.testing.assert_frame_equal(before[name], table)
    real = run(url, folder, mapping=folder / "mapping.toml", reject_file=root / "r")
    assert real.tables == dry.tables
    assert (real.customers_changed, real.rejected_rows, real.problems) == (
        dry.customers_changed,
        dry.rejected_rows,
        dry.problems,
    )
    assert (root / "d").read_text() == (root / "r").read_text()
    final = dump(url)
    for name, counts in real.tables.items():
        held = 0 if before is None else len(before[name])
        assert len(final[name]) == held + counts.inserted - counts.deleted, name
