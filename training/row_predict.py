"""One-row predictions through LightGBM's C "single row fast" API.

`Booster.predict` costs 25-50 µs for one row on this machine: it builds a parameter
string and a predictor per call and opens an OpenMP parallel region, whose spinning
threads then compete with the other server worker for the two cores. LightGBM's C API
has a path made for this case (`LGBM_BoosterPredictForMatSingleRowFastInit` once,
`LGBM_BoosterPredictForMatSingleRowFast` per row, no parallel region), which the
Python package does not wrap; it is called here with ctypes on the library the package
loaded (`lightgbm.basic._LIB`, the one private name used; lightgbm is pinned to 4.x).

The predictor loads its own copy of the model from `Booster.model_to_string()` rather
than reaching into the Booster's handle.
`tests/test_row_predict.py` checks it against `Booster.predict`.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
from lightgbm.basic import _LIB

__all__ = ["RowPredictor"]

# From LightGBM's include/LightGBM/c_api.h.
_PREDICT_NORMAL = 0
_PREDICT_RAW_SCORE = 1
_DTYPE_FLOAT64 = 1


def _check(code: int) -> None:
    if code != 0:
        raise lgb.basic.LightGBMError(_LIB.LGBM_GetLastError().decode())


@dataclass(frozen=True, slots=True)
class _FastConfig:
    """One thread's fast-predict configuration and its output buffers."""

    config: ctypes.c_void_p
    out: ctypes.Array[ctypes.c_double]
    out_len: ctypes.c_int64


class _ThreadConfig(threading.local):
    """Per-thread `_FastConfig` (a fast configuration and its buffers are not shareable),
    and the thread's last sweep: (row bytes, column, values, outputs)."""

    fast: _FastConfig | None = None
    last_sweep: tuple[bytes, int, Sequence[float], list[float]] | None = None


class RowPredictor:
    """Predicts one row at a time with a LightGBM model, without per-call set-up.

    Safe to call from several threads: each thread gets its own fast configuration.
    """

    def __init__(self, booster: lgb.Booster, *, raw_score: bool = False) -> None:
        self._handle = ctypes.c_void_p()
        iterations = ctypes.c_int()
        _check(
            _LIB.LGBM_BoosterLoadModelFromString(
                ctypes.c_char_p(booster.model_to_string().encode()),
                ctypes.byref(iterations),
                ctypes.byref(self._handle),
            )
        )
        self.num_features = booster.num_feature()
        self._kind = _PREDICT_RAW_SCORE if raw_score else _PREDICT_NORMAL
        self._local = _ThreadConfig()
        self._configs: list[ctypes.c_void_p] = []
        self._lock = threading.Lock()

    def _thread_config(self) -> _FastConfig:
        local = self._local
        if local.fast is None:
            config = ctypes.c_void_p()
            _check(
                _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                    self._handle,
                    ctypes.c_int(self._kind),
                    ctypes.c_int(0),  # start iteration
                    ctypes.c_int(-1),  # every tree
                    ctypes.c_int(_DTYPE_FLOAT64),
                    ctypes.c_int32(self.num_features),
                    ctypes.c_char_p(b"num_threads=1"),
                    ctypes.byref(config),
                )
            )
            with self._lock:
                self._configs.append(config)
            local.fast = _FastConfig(config, (ctypes.c_double * 1)(), ctypes.c_int64())
        return local.fast

    def __call__(self, row: np.ndarray) -> float:
        """The model's output for one row of `num_features` float64 values."""
        row = np.ascontiguousarray(row, dtype=np.float64).reshape(-1)
        if row.shape[0] != self.num_features:
            raise ValueError(f"expected {self.num_features} features, got {row.shape[0]}")
        fast = self._thread_config()
        _check(
            _LIB.LGBM_BoosterPredictForMatSingleRowFast(
                fast.config,
                row.ctypes.data_as(ctypes.c_void_p),
                ctypes.byref(fast.out_len),
                fast.out,
            )
        )
        return float(fast.out[0])

    def sweep(self, row: np.ndarray, column: int, values: Sequence[float]) -> list[float]:
        """The outputs for `row` with `column` set to each of `values` in turn.

        One buffer and one pointer for every call: a hazard model predicts each of its
        bins for one invoice this way at about half the cost of calling once per bin.
        The same sweep twice in a row is predicted once: an order's risk and its days
        late ask one hazard model the same question (60 µs each at 177 trees).
        """
        buffer = np.array(row, dtype=np.float64).reshape(-1)  # a copy: written below
        if buffer.shape[0] != self.num_features:
            raise ValueError(f"expected {self.num_features} features, got {buffer.shape[0]}")
        buffer[column] = 0.0  # overwritten below: whatever it held is not part of the row
        key, asked = buffer.tobytes(), tuple(values)
        last = self._local.last_sweep
        if last is not None and last[0] == key and last[1] == column and last[2] == asked:
            return list(last[3])
        fast = self._thread_config()
        pointer = buffer.ctypes.data_as(ctypes.c_void_p)
        out_len, out = ctypes.byref(fast.out_len), fast.out
        predict = _LIB.LGBM_BoosterPredictForMatSingleRowFast
        outputs = []
        for value in values:
            buffer[column] = value
            _check(predict(fast.config, pointer, out_len, out))
            outputs.append(out[0])
        self._local.last_sweep = (key, column, asked, outputs)
        return list(outputs)

    def __del__(self) -> None:
        for config in getattr(self, "_configs", ()):
            _LIB.LGBM_FastConfigFree(config)
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value is not None:
            _LIB.LGBM_BoosterFree(handle)
