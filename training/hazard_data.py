"""Data side of the discrete-time hazard model: intervals, person-period rows, and the
payment-date distribution implied by per-interval hazards.

Days are relative to the due date ("days late"): day d means settled on due + d.
A default is an invoice not settled by due + H; settled at exactly H is in time, as in
`features/labels.py`.

Intervals. `edges` holds K + 1 increasing values: bin k covers (edges[k], edges[k+1]].
edges[1] is the lower edge L: the 5 % quantile of days late of settled training invoices,
rounded down to a whole week and kept within [-7 * _MAX_EARLY_WEEKS, 0]. Bin 0 is open
below (every payment on or before L falls in it); edges[0] is only where its mass is
spread when a distribution is read off (the 1 % quantile rounded down to a week, at least
a week below L). From L, bins are weekly up to H; the last one is shorter when H - L is
not a multiple of 7. Weekly bins are the collections rhythm, and few enough (about 15
for H = 90) that every invoice costs a handful of rows; a low L for early-paying ledgers
keeps the early payments from collapsing into one wide bin.

Person-period rows. An invoice observed at risk through bin k contributes one row per
bin 0..k; the row of the bin holding its settlement has event 1. A censored (still
open) invoice contributes only the bins it was observed through completely: counting a
partly observed bin as "not paid" would treat the unseen rest of that week as
payment-free and bias that bin's hazard down. A known default is at risk through all K
bins with no event. The expanded matrix is X with the bin index appended as one numeric
column ("hazard_interval"): numeric, so trees cut the timeline into ranges and the
baseline hazard is shared by neighbouring weeks. The training expansion is float32 (it
repeats each invoice about K times); predictions expand in float64 in bounded chunks.
"""

from __future__ import annotations

import logging

import numpy as np

__all__ = [
    "INTERVAL_COLUMN",
    "Distribution",
    "expand",
    "hazard_edges",
    "normalise_observations",
    "observation_counts",
    "observations",
    "payment_distribution",
]

logger = logging.getLogger(__name__)

INTERVAL_COLUMN = "hazard_interval"
_WEEK = 7
# Payments earlier than 8 weeks before due share the first bin however common they are.
_MAX_EARLY_WEEKS = 8
_CHUNK_ROWS = 1 << 20


def hazard_edges(stop: np.ndarray, settled: np.ndarray, horizon_days: int) -> np.ndarray:
    """Bin edges (K + 1 values, days relative to due) chosen from the settled invoices."""
    days = np.asarray(stop, dtype="float64")[np.asarray(settled, dtype=bool)]
    days = days[np.isfinite(days)]
    low_bound = -_WEEK * _MAX_EARLY_WEEKS
    if days.size == 0:
        lower = 0.0
        floor = -float(_WEEK)
    else:
        q01, q05 = np.quantile(days, [0.01, 0.05])
        lower = float(np.clip(np.floor(q05 / _WEEK) * _WEEK, low_bound, 0.0))
        floor = float(min(np.floor(q01 / _WEEK) * _WEEK, lower - _WEEK))
    upper = np.arange(lower, float(horizon_days), _WEEK)
    return np.concatenate([[floor], upper, [float(horizon_days)]])


def normalise_observations(
    stop: np.ndarray, settled: np.ndarray, horizon_days: int
) -> tuple[np.ndarray, np.ndarray]:
    """`stop` capped at H and `settled` only where stop <= H (later settlement = default)."""
    stop = np.asarray(stop, dtype="float64")
    settled = np.asarray(settled, dtype=bool)
    if stop.shape != settled.shape or stop.ndim != 1:
        raise ValueError(f"stop {stop.shape} and settled {settled.shape} must be equal 1-d")
    if not np.isfinite(stop).all():
        raise ValueError("stop holds NaN or infinite days: pass the last day observed")
    settled = settled & (stop <= horizon_days)
    return np.minimum(stop, float(horizon_days)), settled


def observations(
    days_late: np.ndarray,
    observed_days: np.ndarray,
    horizon_days: int,
    known_default: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(stop, settled) per invoice as known at a cut-off.

    Args:
        days_late: settled date - due date where settled before the cut-off, else NaN.
        observed_days: (cut-off - 1 day) - due date, the last day seen (may be negative).
        horizon_days: H.
        known_default: True where the cut-off already knows a default (a write-off, or a
            label table whose days late is capped at H): never settled, at risk to H.
    """
    late = np.asarray(days_late, dtype="float64")
    seen = np.minimum(np.asarray(observed_days, dtype="float64"), float(horizon_days))
    with np.errstate(invalid="ignore"):
        settled = np.isfinite(late) & (late <= seen)
    stop = np.where(settled, late, seen)
    if known_default is not None:
        gone = np.asarray(known_default, dtype=bool)
        settled = settled & ~gone
        stop = np.where(gone, float(horizon_days), stop)
    return stop, settled


def observation_counts(stop: np.ndarray, settled: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Rows per invoice: bins up to the settlement bin, else bins observed completely."""
    upper = edges[1:]
    # Bin k = (upper[k-1], upper[k]]: a settlement on day d lies in the first bin with
    # upper >= d; an open invoice observed through day d has seen every bin with upper <= d.
    settled_rows = np.searchsorted(upper, stop, side="left") + 1
    open_rows = np.searchsorted(upper, stop, side="right")
    return np.where(settled, settled_rows, open_rows).astype("int64")


def expand(
    X: np.ndarray,
    stop: np.ndarray,
    settled: np.ndarray,
    edges: np.ndarray,
    *,
    max_rows: int | None = None,
    seed: int = 0,
    dtype: type = np.float32,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Person-period rows of the invoices: (X + interval column, event 0/1, invoice index).

    With `max_rows`, whole invoices are sampled (seeded) until the rows fit, so no
    invoice loses its early bins. Float32 by default: the expansion repeats each
    invoice about K times, and LightGBM bins its features anyway.
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] != len(stop):
        raise ValueError(f"X {X.shape} must be 2-d with one row per invoice ({len(stop)})")
    counts = observation_counts(stop, settled, edges)
    chosen = np.arange(len(counts))
    total = int(counts.sum())
    if max_rows is not None and total > max_rows:
        order = np.random.default_rng(seed).permutation(len(counts))
        keep = np.cumsum(counts[order]) <= max_rows
        chosen = np.sort(order[keep])
        logger.info(
            "hazard expansion: %d rows over %d invoices exceed max_rows=%d; "
            "sampled %d whole invoices (%d rows)",
            total,
            len(counts),
            max_rows,
            len(chosen),
            int(counts[chosen].sum()),
        )
        counts = counts[chosen]
        total = int(counts.sum())
    invoice = np.repeat(chosen, counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    interval = np.arange(total, dtype="int64") - starts
    last = interval == np.repeat(counts - 1, counts)
    event = (last & np.asarray(settled, dtype=bool)[invoice]).astype("float64")
    rows = np.empty((total, X.shape[1] + 1), dtype=dtype)
    # In chunks, so the gathered copy never doubles the peak memory.
    for start in range(0, total, _CHUNK_ROWS):
        end = min(start + _CHUNK_ROWS, total)
        rows[start:end, :-1] = X[invoice[start:end]]
    rows[:, -1] = interval
    return rows, event, invoice


Distribution = dict[str, np.ndarray]


def _cdf_at(grid: np.ndarray, cdf: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Piecewise-linear CDF (values `cdf` (n, K+1) at `grid` (K+1,)) evaluated at t (n,)."""
    k = np.clip(np.searchsorted(grid, t, side="right") - 1, 0, len(grid) - 2)
    rows = np.arange(len(t))
    width = grid[k + 1] - grid[k]
    frac = np.clip((t - grid[k]) / width, 0.0, 1.0)
    return cdf[rows, k] + frac * (cdf[rows, k + 1] - cdf[rows, k])


def payment_distribution(
    hazards: np.ndarray, edges: np.ndarray, days_overdue: np.ndarray | None = None
) -> Distribution:
    """p_default, mean and p10/p50/p90 of days late from per-bin hazards (n, K).

    Mass settled in a bin is spread evenly over it; mass beyond H sits at H (days late
    is capped at H). With `days_overdue` (days since due at the start of today), the
    distribution is conditioned on no settlement before that day, so every answer is
    >= days_overdue and p_default is P(default | still open today).
    """
    hazards = np.asarray(hazards, dtype="float64")
    n, k = hazards.shape
    horizon = float(edges[-1])
    survival = np.cumprod(1.0 - hazards, axis=1)
    cdf = np.concatenate([np.zeros((n, 1)), 1.0 - survival], axis=1)
    grid = np.broadcast_to(edges, (n, k + 1))
    if days_overdue is not None:
        t = np.minimum(np.asarray(days_overdue, dtype="float64").reshape(-1), horizon)
        if t.shape != (n,):
            raise ValueError(f"days_overdue must hold one value per row ({n}), got {t.shape}")
        base = _cdf_at(edges, cdf, t)
        remaining = np.maximum(1.0 - base, 1e-300)[:, None]
        # Conditioning on D >= t: clamp the grid at t, rescale what is left of the CDF.
        cdf = (np.maximum(cdf, base[:, None]) - base[:, None]) / remaining
        grid = np.maximum(grid, t[:, None])
    out: Distribution = {"p_default": np.clip(1.0 - cdf[:, -1], 0.0, 1.0)}
    mass = np.diff(cdf, axis=1)
    centre = (grid[:, 1:] + grid[:, :-1]) / 2.0
    out["mean"] = (mass * centre).sum(axis=1) + out["p_default"] * horizon
    for key, q in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9)):
        out[key] = _inverse_cdf(grid, cdf, q, horizon)
    if days_overdue is not None:
        # Guard against rounding: no answer may lie before today.
        for key in ("mean", "p10", "p50", "p90"):
            out[key] = np.maximum(out[key], t)
    return out


def _inverse_cdf(grid: np.ndarray, cdf: np.ndarray, q: float, horizon: float) -> np.ndarray:
    """Smallest x with CDF(x) >= q, linear inside a bin; H when the mass at H is needed."""
    n, points = cdf.shape
    j = (cdf < q).sum(axis=1)  # first grid point whose CDF reaches q (the CDF is monotone)
    rows = np.arange(n)
    hi = np.clip(j, 1, points - 1)
    lo = hi - 1
    f_lo, f_hi = cdf[rows, lo], cdf[rows, hi]
    step = np.where(f_hi > f_lo, f_hi - f_lo, 1.0)
    frac = np.clip((q - f_lo) / step, 0.0, 1.0)
    x = grid[rows, lo] + frac * (grid[rows, hi] - grid[rows, lo])
    x = np.where(j == 0, grid[:, 0], x)
    return np.where(j >= points, horizon, x)
