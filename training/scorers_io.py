"""Saving and loading the served scorers: booster text files plus plain data.

A scorer is saved as a spec, a dict of plain data stored in the bundle's joblib file,
and, for LightGBM, its boosters as LightGBM text files named as bundles always named
them (`default.txt`, `days_late_<key>.txt`), so a bundle of the first format is read as
the specs `legacy_specs` gives it. The bundle reads the files a spec names
(`spec_files`) only after checking them against its manifest, then builds the scorers
from the specs and the parsed boosters (`load_scorers`).

    {"kind": "lightgbm" | "lightgbm_residual", "files": {role: file}, "offset": dict | None,
     "calibrator": ScoreCalibrator (risk only)}
    {"kind": "logistic" | "linear", "linear": LinearModel.to_dict(), "calibrator" | "quantiles"}
    {"kind": "history", "column", "fallback", "calibrator" | "quantiles"}
    {"kind": "hazard", "model": HazardModel.to_dict()}   or {"kind": "hazard", "shared": True}
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightgbm as lgb

from kernel.errors import BundleError
from training.bundle_checks import BUNDLE_HELP, check_features, read_booster, verify_model_text
from training.intervals import IntervalAdjustment
from training.offsets import HistoryOffset
from training.scorers import (
    DAYS_LATE_KEYS,
    HistoryRisk,
    HistoryTiming,
    LightGBMRisk,
    LightGBMTiming,
    RiskScorer,
    ScoreCalibrator,
    TimingScorer,
)
from training.scorers_blend import BlendRisk, BlendTiming
from training.scorers_hazard import HazardRisk, HazardTiming, hazard_from_dict
from training.scorers_linear import LinearModel, LinearRisk, LinearTiming

__all__ = [
    "DEFAULT_FILE",
    "days_late_file",
    "legacy_specs",
    "load_scorers",
    "read_scorers",
    "resolve_scorers",
    "save_scorers",
    "scorer_columns",
    "spec_files",
]

DEFAULT_FILE = "default.txt"


def days_late_file(key: str) -> str:
    """The text file of the days-late booster `key` (mean, p10, p50, p90)."""
    return f"days_late_{key}.txt"


def _offset(offset: HistoryOffset | None) -> dict | None:
    return None if offset is None else offset.to_dict()


def _risk_spec(risk: RiskScorer, directory: Path) -> dict[str, Any]:
    if isinstance(risk, BlendRisk):
        return {"kind": risk.kind, "parts": [_risk_spec(p, directory) for p in risk.parts]}
    if isinstance(risk, LightGBMRisk):
        risk.booster.save_model(str(directory / DEFAULT_FILE))
        return {
            "kind": risk.kind,
            "files": {"default": DEFAULT_FILE},
            "calibrator": risk.calibrator,
            "offset": _offset(risk.offset),
        }
    if isinstance(risk, LinearRisk):
        return {"kind": risk.kind, "linear": risk.model.to_dict(), "calibrator": risk.calibrator}
    if isinstance(risk, HistoryRisk):
        return {
            "kind": risk.kind,
            "column": risk.column,
            "fallback": risk.fallback,
            "calibrator": risk.calibrator,
        }
    if isinstance(risk, HazardRisk):
        return {"kind": risk.kind, "model": risk.model.to_dict(), "calibrator": risk.calibrator}
    raise TypeError(f"cannot save a risk scorer of type {type(risk).__name__}")


def _timing_spec(timing: TimingScorer, directory: Path, risk: RiskScorer | None) -> dict:
    if isinstance(timing, BlendTiming):
        parts = [_timing_spec(p, directory, None) for p in timing.parts]
        return {"kind": timing.kind, "parts": parts}
    if isinstance(timing, LightGBMTiming):
        files = {}
        for key, model in timing.boosters.items():
            files[key] = days_late_file(key)
            model.save_model(str(directory / files[key]))
        return {"kind": timing.kind, "files": files, "offset": _offset(timing.offset)}
    if isinstance(timing, LinearTiming):
        return {
            "kind": timing.kind,
            "linear": timing.model.to_dict(),
            "quantiles": list(timing.quantiles),
        }
    if isinstance(timing, HistoryTiming):
        return {
            "kind": timing.kind,
            "column": timing.column,
            "fallback": timing.fallback,
            "quantiles": list(timing.quantiles),
        }
    if isinstance(timing, HazardTiming):
        interval = None if timing.interval is None else timing.interval.to_dict()
        if isinstance(risk, HazardRisk) and risk.model is timing.model:
            # The model is saved once, with the risk spec.
            return {"kind": timing.kind, "shared": True, "interval": interval}
        return {"kind": timing.kind, "model": timing.model.to_dict(), "interval": interval}
    raise TypeError(f"cannot save a timing scorer of type {type(timing).__name__}")


def save_scorers(
    risk: RiskScorer | None, timing: TimingScorer, directory: Path
) -> dict[str, dict | None]:
    """Write the scorers' booster files to `directory`; their specs, for the joblib file."""
    return {
        "risk": None if risk is None else _risk_spec(risk, directory),
        "timing": _timing_spec(timing, directory, risk),
    }


def legacy_specs(calibrator: Any, *, has_default: bool) -> dict[str, dict | None]:
    """The specs of a first-format bundle (LightGBM only, files by their fixed names)."""
    risk = None
    if has_default:
        risk = {
            "kind": "lightgbm",
            "files": {"default": DEFAULT_FILE},
            "calibrator": calibrator,
            "offset": None,
        }
    timing = {
        "kind": "lightgbm",
        "files": {k: days_late_file(k) for k in DAYS_LATE_KEYS},
        "offset": None,
    }
    return {"risk": risk, "timing": timing}


def spec_files(specs: Mapping[str, dict | None]) -> list[str]:
    """The booster files the specs name, in a stable order."""
    names: list[str] = []
    for spec in specs.values():
        if spec is not None:
            names.extend(str(f) for f in spec.get("files", {}).values())
            # A blend's parts name their own files.
            names.extend(spec_files({str(k): part for k, part in enumerate(spec.get("parts", []))}))
    return names


def _load_offset(d: dict | None) -> HistoryOffset | None:
    return None if d is None else HistoryOffset.from_dict(d)


def _load_risk(spec: dict, boosters: Mapping[str, lgb.Booster]) -> RiskScorer:
    kind = spec["kind"]
    if kind == "blend":
        return BlendRisk([_load_risk(part, boosters) for part in spec["parts"]])
    if kind in ("lightgbm", "lightgbm_residual"):
        booster = boosters[spec["files"]["default"]]
        if spec["calibrator"] is None:
            raise ValueError("a bundle with a default model needs its calibrator")
        return LightGBMRisk(booster, spec["calibrator"], _load_offset(spec.get("offset")))
    if kind == "logistic":
        return LinearRisk(LinearModel.from_dict(spec["linear"]), spec["calibrator"])
    if kind == "history":
        return HistoryRisk(int(spec["column"]), float(spec["fallback"]), spec["calibrator"])
    if kind == "hazard":
        return HazardRisk(hazard_from_dict(spec["model"]), spec.get("calibrator"))
    raise ValueError(f"unknown risk scorer kind {kind!r}")


def _load_timing(
    spec: dict, boosters: Mapping[str, lgb.Booster], risk: RiskScorer | None
) -> TimingScorer:
    kind = spec["kind"]
    if kind == "blend":
        return BlendTiming([_load_timing(part, boosters, None) for part in spec["parts"]])
    quantiles = tuple(float(q) for q in spec.get("quantiles", (0.0, 0.0, 0.0)))
    if len(quantiles) != 3:
        raise ValueError(f"expected three residual quantiles, got {len(quantiles)}")
    if kind in ("lightgbm", "lightgbm_residual"):
        models = {key: boosters[name] for key, name in spec["files"].items()}
        return LightGBMTiming(models, _load_offset(spec.get("offset")))
    if kind == "linear":
        return LinearTiming(LinearModel.from_dict(spec["linear"]), quantiles)
    if kind == "history":
        return HistoryTiming(int(spec["column"]), float(spec["fallback"]), quantiles)
    if kind == "hazard":
        interval = spec.get("interval")
        adjustment = None if interval is None else IntervalAdjustment.from_dict(interval)
        if spec.get("shared"):
            if not isinstance(risk, HazardRisk):
                raise ValueError("the timing scorer shares a hazard model the bundle lacks")
            return HazardTiming(risk.model, adjustment)
        return HazardTiming(hazard_from_dict(spec["model"]), adjustment)
    raise ValueError(f"unknown timing scorer kind {kind!r}")


def load_scorers(
    specs: Mapping[str, dict | None], boosters: Mapping[str, lgb.Booster]
) -> tuple[RiskScorer | None, TimingScorer]:
    """The scorers of saved specs; `boosters` maps the files of `spec_files` to models.

    Raises:
        ValueError, KeyError, TypeError: the specs are malformed (the caller says which
            bundle and what to do).
    """
    risk_spec, timing_spec = specs["risk"], specs["timing"]
    risk = None if risk_spec is None else _load_risk(risk_spec, boosters)
    if timing_spec is None:
        raise ValueError("the bundle has no days-late scorer")
    return risk, _load_timing(timing_spec, boosters, risk)


def scorer_columns(scorer: RiskScorer | TimingScorer | None) -> int:
    """The largest model-matrix column a non-LightGBM scorer reads (-1: none, or unknown)."""
    columns = [-1]
    if isinstance(scorer, BlendRisk | BlendTiming):
        return max(scorer_columns(part) for part in scorer.parts)
    for offset in (getattr(scorer, "offset", None),):
        if offset is not None:
            columns += [offset.mean_column, offset.count_column]
    if isinstance(scorer, LinearRisk | LinearTiming):
        columns.append(scorer.model.max_column)
    if isinstance(scorer, HistoryRisk | HistoryTiming):
        columns.append(scorer.column)
    return max(columns)


def _same_boosters(a: dict[str, lgb.Booster], b: dict[str, lgb.Booster]) -> bool:
    return a.keys() == b.keys() and all(a[k] is b[k] for k in a)


def resolve_scorers(
    risk: RiskScorer | None,
    timing: TimingScorer | None,
    default_model: lgb.Booster | None,
    calibrator: ScoreCalibrator | None,
    days_late_models: dict[str, lgb.Booster],
) -> tuple[RiskScorer | None, TimingScorer]:
    """A bundle's scorers, given as scorers, as LightGBM models, or both (`replace`).

    LightGBM models that differ from the LightGBM scorers win: they were changed.

    Raises:
        ValueError: no days-late model, or a default model without its calibrator.
    """
    if days_late_models:
        if not (
            isinstance(timing, LightGBMTiming) and _same_boosters(timing.boosters, days_late_models)
        ):
            timing = LightGBMTiming(days_late_models)
        if risk is None or isinstance(risk, LightGBMRisk):
            risk = _lightgbm_risk(default_model, calibrator, risk)
    elif timing is None:
        raise ValueError(f"bundle lacks days-late models {list(DAYS_LATE_KEYS)}")
    elif default_model is not None:
        risk = _lightgbm_risk(default_model, calibrator, risk)
    return risk, timing


def _lightgbm_risk(
    default_model: lgb.Booster | None,
    calibrator: ScoreCalibrator | None,
    risk: RiskScorer | None,
) -> LightGBMRisk | None:
    if default_model is None:
        return None
    if calibrator is None:
        raise ValueError("a bundle with a default model needs its calibrator")
    if (
        isinstance(risk, LightGBMRisk)
        and risk.booster is default_model
        and risk.calibrator is calibrator
    ):
        return risk
    return LightGBMRisk(default_model, calibrator)


def read_scorers(
    directory: Path, meta: dict, *, hashed: bool
) -> tuple[RiskScorer | None, TimingScorer]:
    """The scorers of a bundle folder whose files passed the manifest (`hashed`) or not.

    Model texts of an unhashed (older) bundle are parsed in a child process first.

    Raises:
        BundleError: a booster file is missing, unreadable or of another feature count.
        ValueError, KeyError, TypeError: malformed specs (the caller names the bundle).
    """
    if "scorers" in meta:
        specs = meta["scorers"]
    else:
        has_default = (directory / DEFAULT_FILE).is_file()
        specs = legacy_specs(meta["calibrator"], has_default=has_default)
    files = [directory / name for name in spec_files(specs)]
    for file in files:
        if file.parent != directory or not file.is_file():
            raise BundleError(f"the bundle in {directory} lacks {file.name}: {BUNDLE_HELP}")
    if not hashed:
        verify_model_text(files)
    boosters = {file.name: read_booster(file) for file in files}
    check_features(directory, meta, {file.stem: boosters[file.name] for file in files})
    risk, timing = load_scorers(specs, boosters)
    n_features = len(meta["feature_columns"])
    for scorer in (risk, timing):
        if scorer is not None and scorer_columns(scorer) >= n_features:
            raise ValueError(
                f"the {scorer.kind} scorer reads column {scorer_columns(scorer)} of "
                f"{n_features} feature columns"
            )
    return risk, timing
