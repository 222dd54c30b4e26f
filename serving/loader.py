"""The one way to load what is served: the model, then the serving state of the store.

The API (`serving.runtime.Runtime`), `duecast score` and `duecast worklist` all load
through `load_state`, so they serve the same model (the exported champion, or the
registry alias in `DUECAST_SERVE_MODEL_ALIAS`) with the same one-row predictors, and
a file of scores and the API answer alike for the same store, model and date.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import sqlalchemy as sa

from features.store import get_engine
from kernel.config import Settings
from kernel.errors import BundleError, ModelNotFoundError, StoreError
from serving.state import ServingState
from training.bundle import Bundle, load_bundle

__all__ = ["bundle_dir", "checked_model", "load_model", "load_state", "serving_date"]

logger = logging.getLogger(__name__)


def serving_date(pinned: dt.date | None) -> dt.date:
    """The day decisions are made as of: `pinned`, else today (UTC)."""
    return pinned or dt.datetime.now(dt.UTC).date()


def bundle_dir(settings: Settings) -> Path:
    """Folder of the exported champion bundle."""
    return settings.models_dir / "champion"


def load_model(settings: Settings) -> Bundle:
    """The bundle to serve: the exported champion, or the registry alias when configured.

    Raises:
        ModelNotFoundError: no bundle there, or no version holds the alias.
    """
    alias = settings.serve_model_alias
    if not alias:
        return load_bundle(bundle_dir(settings))
    # Imported here: MLflow takes seconds to import and only start and reload need it.
    from training.registry import download_bundle, get_version

    try:
        version = get_version(settings, alias)
    except Exception as exc:  # a tracking server down or refusing: not ready, say why
        raise ModelNotFoundError(
            f"the model registry at {settings.mlflow_tracking_uri} could not be "
            f"read ({type(exc).__name__}: {exc})"
        ) from exc
    if version is None:
        raise ModelNotFoundError(
            f"no version of registered model {settings.mlflow_model_name!r} has the "
            f"alias {alias!r} in {settings.mlflow_tracking_uri}: promote one with "
            "`duecast promote`, or unset DUECAST_SERVE_MODEL_ALIAS to serve "
            f"{bundle_dir(settings)}"
        )
    logger.info("Loading version %s (alias %s) from the model registry", version.version, alias)
    return download_bundle(settings, version)


def checked_model(settings: Settings) -> Bundle:
    """`load_model` with its one-row predictors made, every failure a ModelNotFoundError.

    Raises:
        ModelNotFoundError: no bundle, or (BundleError) one that fails its checks.
    """
    try:
        bundle = load_model(settings)
        # Made here, off the request path: the first order would otherwise wait for
        # them (about 70 ms on a 1,350-tree champion).
        bundle.row_predictors()
    except ModelNotFoundError:
        raise
    except Exception as exc:  # anything else a damaged bundle makes a library raise
        raise BundleError(
            f"the model bundle could not be loaded ({type(exc).__name__}: {exc}): "
            "export it again with `duecast promote`"
        ) from exc
    return bundle


def load_state(
    settings: Settings,
    *,
    engine: sa.Engine | None = None,
    bundle: Bundle | None = None,
    as_of: dt.date | None = None,
) -> ServingState:
    """The served view of the whole store (blocking; seconds).

    Args:
        settings: the model, the policy and the serving date come from here.
        engine: the store (default: `settings.database_url`).
        bundle: the model (default: `checked_model(settings)`).
        as_of: the day (default: the serving date, `DUECAST_SERVE_AS_OF` or today).

    Raises:
        ModelNotFoundError: the model cannot be loaded.
        StoreError: the store cannot be read.
    """
    bundle = bundle or checked_model(settings)
    try:
        return ServingState.build(
            engine or get_engine(settings.database_url),
            bundle=bundle,
            policy=settings.policy,
            as_of=as_of or serving_date(settings.serve_as_of),
        )
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(
            f"the store could not be read ({type(exc).__name__}): check the database, then reload"
        ) from exc
