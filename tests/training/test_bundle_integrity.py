"""Corrupt bundles never take the server down: checked at load, 503 with the reason.

Each corruption (model text cut in half, garbage model text, garbage `bundle.joblib`, a
missing file, a feature list that does not match the models or the spec) is tried at
start-up (the app starts not ready) and at reload (503, the old model keeps serving,
/readyz and /metrics say so). LightGBM can kill the process while parsing a damaged
model file, so the unhashed truncated case runs in a child process: without the
verification that child dies by a signal.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from kernel.errors import BundleError
from serving.app import create_app
from tests.utils.api_support import AS_OF, ApiTemplate, settings_for
from training.bundle import load_bundle, save_bundle

ORDER = {"customer_id": "C00001", "amount": 1500.0}


def _truncate(champion: Path) -> str:
    model = champion / "days_late_mean.txt"
    os.truncate(model, model.stat().st_size // 2)
    return "days_late_mean.txt"


def _garbage_model(champion: Path) -> str:
    (champion / "days_late_p50.txt").write_bytes(b"tree\nnot=a model\x00\xff" * 50)
    return "days_late_p50.txt"


def _garbage_joblib(champion: Path) -> str:
    (champion / "bundle.joblib").write_bytes(os.urandom(4096))
    return "bundle.joblib"


def _missing(champion: Path) -> str:
    (champion / "days_late_p90.txt").unlink()
    return "days_late_p90.txt"


def _fewer_columns(champion: Path) -> str:
    # A consistent export (valid hashes) whose feature list is one short of its models'.
    bundle = load_bundle(champion)
    save_bundle(dataclasses.replace(bundle, feature_columns=bundle.feature_columns[:-1]), champion)
    return "feature spec"


def _unknown_column(champion: Path) -> str:
    bundle = load_bundle(champion)
    columns = [*bundle.feature_columns[:-1], "customer_shoe_size"]
    save_bundle(dataclasses.replace(bundle, feature_columns=columns), champion)
    return "customer_shoe_size"


CORRUPTIONS: dict[str, Callable[[Path], str]] = {
    "truncated-model": _truncate,
    "garbage-model": _garbage_model,
    "garbage-joblib": _garbage_joblib,
    "missing-file": _missing,
    "feature-list-short": _fewer_columns,
    "unknown-feature": _unknown_column,
}


def _keys(api_template: ApiTemplate, role: str = "admin") -> dict[str, str]:
    return {"X-API-Key": api_template.keys[role]}


def _sample(exposition: str, name: str) -> float:
    return sum(
        s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
        if s.name == name
    )


# ---------------------------------------------------------------- load_bundle


def test_export_records_every_file_hash(api_template: ApiTemplate) -> None:
    champion = api_template.models_dir / "champion"
    manifest = json.loads((champion / "manifest.json").read_text())
    files = {p.name for p in champion.iterdir() if p.name != "manifest.json"}
    assert set(manifest["sha256"]) == files
    assert all(len(h) == 64 for h in manifest["sha256"].values())


@pytest.mark.parametrize("corrupt", list(CORRUPTIONS), ids=list(CORRUPTIONS))
def test_load_bundle_names_the_problem(
    corrupt: str, api_template: ApiTemplate, tmp_path: Path
) -> None:
    champion = tmp_path / "champion"
    import shutil

    shutil.copytree(api_template.models_dir / "champion", champion)
    named = CORRUPTIONS[corrupt](champion)
    with pytest.raises(BundleError, match=named.replace(".", r"\.")):
        load_bundle(champion)


def test_an_old_export_without_hashes_still_loads(
    api_template: ApiTemplate, tmp_path: Path
) -> None:
    import shutil

    champion = tmp_path / "champion"
    shutil.copytree(api_template.models_dir / "champion", champion)
    (champion / "manifest.json").unlink()
    assert load_bundle(champion).model_version == "1"


def test_a_hash_mismatch_is_caught_before_lightgbm_reads_the_text(
    api_template: ApiTemplate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    import lightgbm

    champion = tmp_path / "champion"
    shutil.copytree(api_template.models_dir / "champion", champion)
    _truncate(champion)
    handed: list[object] = []
    real = lightgbm.Booster.__init__

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        handed.append(kwargs.get("model_file"))
        real(self, *args, **kwargs)

    monkeypatch.setattr(lightgbm.Booster, "__init__", spy)
    with pytest.raises(BundleError, match=r"days_late_mean\.txt does not match the sha256"):
        load_bundle(champion)
    assert handed == []


_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from fastapi.testclient import TestClient

    from kernel.config import Settings
    from serving.app import create_app

    db, models, as_of, key = sys.argv[1:]
    settings = Settings(
        home=Path(models).parent / "home",
        database_url=f"sqlite:///{db}",
        models_dir=Path(models),
        serve_as_of=as_of,
    )
    with TestClient(create_app(settings)) as client:
        model = Path(models) / "champion" / "days_late_mean.txt"
        with model.open("r+b") as f:
            f.truncate(model.stat().st_size // 2)
        reloaded = client.post("/v1/admin/reload", headers={"X-API-Key": key})
        print("RELOAD", reloaded.status_code, reloaded.json()["detail"], flush=True)
        version = client.get("/v1/model", headers={"X-API-Key": key}).json()["model_version"]
        print("SERVING", version, flush=True)
    """
)


def test_a_truncated_unhashed_model_at_reload_does_not_kill_the_process(
    api_template: ApiTemplate, tmp_path: Path
) -> None:
    """The bug: LightGBM's parser kills the worker. Run in a child so a failure is visible."""
    settings = settings_for(api_template, tmp_path, copy_models=True)
    # An export from before manifests: the text must be parsed in a child first.
    (settings.models_dir / "champion" / "manifest.json").unlink()
    db = settings.database_url.removeprefix("sqlite:///")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            db,
            str(settings.models_dir),
            AS_OF.isoformat(),
            api_template.keys["admin"],
        ],
        capture_output=True,
        text=True,
        errors="replace",  # a dying LightGBM may print raw memory
        timeout=120,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, (
        f"the server process died: {done.returncode}\n{done.stderr[-2000:]}"
    )
    assert "RELOAD 503" in done.stdout
    assert "days_late_mean.txt is not a readable LightGBM model" in done.stdout
    assert "SERVING 1" in done.stdout


# ---------------------------------------------------------------- start-up


@pytest.mark.parametrize("corrupt", list(CORRUPTIONS), ids=list(CORRUPTIONS))
def test_a_corrupt_bundle_at_start_leaves_the_server_up_and_not_ready(
    corrupt: str, api_template: ApiTemplate, tmp_path: Path
) -> None:
    settings = settings_for(api_template, tmp_path, copy_models=True)
    named = CORRUPTIONS[corrupt](settings.models_dir / "champion")
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "not ready"
        assert named in ready.json()["detail"]
        order = client.post("/v1/orders/decision", json=ORDER, headers=_keys(api_template))
        assert order.status_code == 503
        assert order.json()["error"] == "BundleError"
        assert named in order.json()["detail"]
        metrics = client.get("/metrics").text
        assert _sample(metrics, "duecast_model_ready") == 0


# ---------------------------------------------------------------- reload


@pytest.mark.parametrize("corrupt", list(CORRUPTIONS), ids=list(CORRUPTIONS))
def test_a_corrupt_bundle_at_reload_keeps_the_old_model(
    corrupt: str, api_template: ApiTemplate, tmp_path: Path
) -> None:
    settings = settings_for(api_template, tmp_path, copy_models=True)
    keys = _keys(api_template)
    with TestClient(create_app(settings)) as client:
        before = client.get("/metrics").text
        named = CORRUPTIONS[corrupt](settings.models_dir / "champion")
        reloaded = client.post("/v1/admin/reload", headers=keys)
        assert reloaded.status_code == 503, reloaded.text
        assert reloaded.json()["error"] == "BundleError"
        assert named in reloaded.json()["detail"]
        # The old model still serves.
        assert client.get("/v1/model", headers=keys).json()["model_version"] == "1"
        order = client.post("/v1/orders/decision", json=ORDER, headers=keys)
        assert order.status_code == 200, order.text
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert named in ready.json()["last_reload_error"]
        after = client.get("/metrics").text
        failures = "duecast_model_reload_failures_total"
        assert _sample(after, failures) == _sample(before, failures) + 1
        assert _sample(after, "duecast_model_ready") == 1
        assert _sample(after, "duecast_model_version") == 1


def test_a_good_reload_after_a_failed_one_clears_the_error(
    api_template: ApiTemplate, tmp_path: Path
) -> None:
    settings = settings_for(api_template, tmp_path, copy_models=True)
    keys = _keys(api_template)
    champion = settings.models_dir / "champion"
    good = load_bundle(champion)
    with TestClient(create_app(settings)) as client:
        _missing(champion)
        assert client.post("/v1/admin/reload", headers=keys).status_code == 503
        save_bundle(dataclasses.replace(good, model_version="2"), champion)
        reloaded = client.post("/v1/admin/reload", headers=keys)
        assert reloaded.status_code == 200
        assert reloaded.json()["model_version"] == "2"
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready" and ready["last_reload_error"] is None
        assert _sample(client.get("/metrics").text, "duecast_model_version") == 2


def test_a_reload_fixes_a_server_that_started_without_a_usable_bundle(
    api_template: ApiTemplate, tmp_path: Path
) -> None:
    settings = settings_for(api_template, tmp_path, copy_models=True)
    champion = settings.models_dir / "champion"
    good = load_bundle(champion)
    _garbage_joblib(champion)
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 503
        save_bundle(good, champion)
        assert client.post("/v1/admin/reload", headers=_keys(api_template)).status_code == 200
        assert client.get("/readyz").json()["status"] == "ready"
