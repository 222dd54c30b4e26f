"""A generated ledger whose invoices carry issue-time attributes, written with a mapping.

`channel` truly drives lateness: invoices billed on paper are paid `paper_delay_days`
later than the generator made them. `score` is a number with a few values left empty.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from features.synthetic import generate_ledger, write_ledger
from kernel.schema import TABLES

MAPPING = """
[invoices.attributes]
channel = { column = "Billing Channel", kind = "category" }
score = "number"
"""


def attribute_ledger(
    folder: Path,
    *,
    customers: int = 40,
    years: float = 1.0,
    seed: int = 7,
    end_date: dt.date = dt.date(2025, 12, 31),
    paper_delay_days: int = 0,
) -> dict[str, pd.DataFrame]:
    """Write a generated ledger with attributes and `mapping.toml` into `folder`; its frames.

    The returned invoices frame holds the attribute columns as written.
    """
    frames = generate_ledger(customers=customers, seed=seed, years=years, end_date=end_date)
    rng = np.random.default_rng(seed)
    invoices = frames["invoices"].copy()
    n = len(invoices)
    invoices["Billing Channel"] = rng.choice(
        ["email", "portal", "paper"], size=n, p=[0.5, 0.2, 0.3]
    )
    score = np.round(rng.normal(3.0, 1.0, size=n), 1).astype(object)
    score[rng.random(n) < 0.1] = None
    invoices["score"] = score
    if paper_delay_days:
        paper = set(invoices.loc[invoices["Billing Channel"] == "paper", "invoice_id"])
        payments = frames["payments"].copy()
        later = payments["invoice_id"].isin(paper)
        shifted = pd.to_datetime(payments["payment_date"]) + pd.Timedelta(days=paper_delay_days)
        payments["payment_date"] = pd.to_datetime(payments["payment_date"]).where(~later, shifted)
        frames["payments"] = payments
    frames = {**frames, "invoices": invoices.drop(columns=["Billing Channel", "score"])}
    for name, frame in frames.items():  # optional columns the generator may not fill
        missing = [c for c in TABLES[name].column_names if c not in frame.columns]
        frames[name] = frame.assign(**dict.fromkeys(missing))
    write_ledger(frames, folder)
    # The attribute columns go beside the canonical ones, as an ERP export has them.
    written = pd.read_csv(folder / "invoices.csv", dtype=str, keep_default_na=False)
    written["Billing Channel"] = invoices["Billing Channel"].to_numpy()
    written["score"] = [("" if v is None else str(v)) for v in invoices["score"]]
    written.to_csv(folder / "invoices.csv", index=False)
    (folder / "mapping.toml").write_text(MAPPING)
    return {**frames, "invoices": invoices}
