"""The registered MLflow model: a pyfunc wrapper serving what the bundle serves.

Each training run registers `BundleModel`, a `mlflow.pyfunc.PythonModel` around the
run's serving bundle (the model's `bundle` artifact, checked by `load_bundle` when the
model loads). Its `predict` takes feature rows typed as the feature spec types them
(categoricals as text; see `sample_rows`) and returns one column per `Scores` field: the
calibrated `p_default` and the days-late mean and quantiles, `Bundle.predict`'s numbers.

Importing this module does not import mlflow (over a second, and serving never needs
it): `BundleModel` is made on first access through the module's `__getattr__` (PEP 562),
which imports mlflow then and keeps the class in this module's namespace. The class is
thus found by name as `training.pyfunc.BundleModel`, so cloudpickle stores a logged
instance by reference (no code inside the pickle) and `mlflow.pyfunc.load_model` finds
the class again (loading needs duecast installed, as the bundle does).

The module also holds what the registry records about the model without MLflow: its
pip requirements (pinned to the installed versions, since inferring them takes seconds)
and the effective parameters of every LightGBM booster in the bundle.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.spec import FEATURE_SPEC
from kernel.errors import ModelNotFoundError
from training.bundle import Bundle, Scores, load_bundle

__all__ = [
    "BUNDLE_ARTIFACT",
    "OUTPUT_COLUMNS",
    "BundleModel",
    "bundle_boosters",
    "input_columns",
    "lightgbm_params",
    "pip_requirements",
    "sample_rows",
    "score_frame",
]

BUNDLE_ARTIFACT = "bundle"
OUTPUT_COLUMNS = tuple(f.name for f in dataclasses.fields(Scores))
# What loading the model imports besides duecast and mlflow (which MLflow adds itself).
_REQUIREMENTS = ("lightgbm", "scikit-learn", "pandas", "numpy", "joblib", "scipy")
_PARAM_LINE = re.compile(r"^\[([^:\]]+): ?(.*)\]$")

# Declared, not assigned: the class is made by `__getattr__` on first access.
BundleModel: type[Any]


def score_frame(bundle: Bundle, rows: pd.DataFrame) -> pd.DataFrame:
    """The bundle's scores of feature rows: one float column per `Scores` field."""
    scores = bundle.predict(bundle.matrix(rows))
    return pd.DataFrame({name: getattr(scores, name) for name in OUTPUT_COLUMNS}, index=rows.index)


def input_columns(bundle: Bundle) -> dict[str, str]:
    """The MLflow type of each input column: as the feature spec types it, categoricals text.

    MLflow enforces the signature strictly (an int column refuses floats and the other way
    round), so the types are those of a frame `features.spec.check_feature_frame`
    accepts; columns outside the spec (extra invoice attributes) are doubles.
    """
    dtypes = {spec.name: spec.dtype for spec in FEATURE_SPEC}
    types = {"int": "long", "category": "string"}
    return {
        name: "string" if name in bundle.categories else types.get(dtypes.get(name, ""), "double")
        for name in bundle.feature_columns
    }


def sample_rows(bundle: Bundle) -> pd.DataFrame:
    """One feature row of the types `input_columns` names (the model's input example)."""
    values = {"long": np.int64(0), "double": 0.0}
    row: dict[str, object] = {}
    for name, kind in input_columns(bundle).items():
        if kind == "string":
            categories = bundle.categories.get(name) or [""]
            row[name] = str(categories[0])
        else:
            row[name] = values[kind]
    return pd.DataFrame([row], columns=list(bundle.feature_columns))


def pip_requirements() -> list[str]:
    """The model's pip requirements, pinned to the installed versions (`name==version`)."""
    return [f"{name}=={version(name)}" for name in _REQUIREMENTS]


def lightgbm_params(booster: lgb.Booster) -> dict[str, str]:
    """Every effective parameter of a booster, from its model text's `parameters:` section.

    `Booster.params` holds only what was passed to training (and a subset for a booster
    loaded from text); the model text records the whole configuration.
    """
    # One iteration is enough: the parameters section does not depend on the trees saved.
    text = booster.model_to_string(num_iteration=1)
    start = text.find("\nparameters:\n")
    end = text.find("\nend of parameters", start)
    if start < 0 or end < 0:
        return {}
    out: dict[str, str] = {}
    for line in text[start:end].splitlines():
        match = _PARAM_LINE.match(line.strip())
        if match:
            out[match.group(1)] = match.group(2)
    return out


def bundle_boosters(bundle: Bundle) -> dict[str, lgb.Booster]:
    """The bundle's LightGBM boosters by name (`default`, `days_late_mean`, ...).

    A scorer serving another model with a booster inside (the hazard model) adds it as
    `risk_model` / `timing_model` (once when both share it); models without a booster
    (linear, history) are left out.
    """
    models: dict[str, Any] = {"default": getattr(bundle, "default_model", None)}
    days_late = getattr(bundle, "days_late_models", None) or {}
    models.update({f"days_late_{key}": model for key, model in days_late.items()})
    for role in ("risk", "timing"):
        inner = getattr(getattr(bundle, role, None), "model", None)
        booster = getattr(inner, "booster", None)
        if not any(booster is other for other in models.values()):
            models[f"{role}_model"] = booster
    return {name: model for name, model in models.items() if isinstance(model, lgb.Booster)}


def _make_bundle_model() -> type:
    with warnings.catch_warnings():
        # MLflow's GenAI schemas warn about their own type hints on first import.
        warnings.filterwarnings("ignore", message=".*type hint is inferred as AnyType")
        from mlflow.pyfunc import PythonModel

    class BundleModel(PythonModel):
        """The serving bundle as an MLflow pyfunc model (artifact `bundle`)."""

        def __init__(self) -> None:
            # Set by `load_context`; a logged instance pickles without it.
            self.bundle: Bundle | None = None

        def load_context(self, context: Any) -> None:
            """Load and verify the bundle artifact (`load_bundle` checks its manifest)."""
            self.bundle = load_bundle(Path(context.artifacts[BUNDLE_ARTIFACT]))

        def predict(
            self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
        ) -> pd.DataFrame:
            """Scores of feature rows (see `score_frame`)."""
            if self.bundle is None:
                raise ModelNotFoundError(
                    "BundleModel has no bundle: load it with mlflow.pyfunc.load_model"
                )
            return score_frame(self.bundle, model_input)

    # Found by this name through the module, so pickles refer to it instead of copying it.
    BundleModel.__qualname__ = "BundleModel"
    return BundleModel


def __getattr__(name: str) -> Any:
    if name == "BundleModel":
        cls = _make_bundle_model()
        globals()[name] = cls  # made once: later lookups find the same class
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
