"""GET /v1/model and POST /v1/admin/reload: the model being served, and swapping it."""

from __future__ import annotations

from fastapi import APIRouter

from serving.deps import AdminKey, RuntimeDep, ScorerKey, StateDep
from serving.errors import error_responses
from serving.reasons import risk_target
from serving.schemas import ModelOut
from serving.state import ServingState

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["model"])


def _model_out(state: ServingState) -> ModelOut:
    bundle = state.bundle
    target = risk_target(bundle)
    return ModelOut(
        model_version=bundle.model_version,
        trained_at=bundle.trained_at,
        as_of=bundle.as_of,
        feature_set_version=bundle.feature_set_version,
        horizon_days=bundle.horizon_days,
        default_model=bundle.has_default_model,
        default_unavailable_reason=bundle.default_unavailable_reason,
        risk_target=target.name,
        very_late_days=target.days,
        served=bundle.served,
        metrics=bundle.metrics,
        thresholds=dict(bundle.thresholds),
        serving_as_of=state.as_of,
        loaded_at=state.loaded_at,
        customers=len(state.entries),
    )


@router.get("/model", response_model=ModelOut, summary="Model version, training date, metrics")
async def get_model(state: StateDep, _key: ScorerKey) -> ModelOut:
    """The served model: version, training date and cut, test metrics, grade cut-offs."""
    return _model_out(state)


@router.post(
    "/admin/reload",
    response_model=ModelOut,
    summary="Swap to the newly promoted champion",
    responses=error_responses(
        503,
        descriptions={
            503: "No champion bundle to load, or it fails its checks (damaged file, "
            "unreadable model, feature mismatch): the old model stays, `detail` says why, "
            "/readyz shows it as `last_reload_error`"
        },
    ),
)
async def reload_model(runtime: RuntimeDep, _key: AdminKey) -> ModelOut:
    """Load the champion (models folder, or the configured registry alias) and swap it in
    without dropping requests.

    Also rereads the store (use it after `duecast import`); every other worker follows.
    """
    _previous, state = await runtime.reload()
    return _model_out(state)
