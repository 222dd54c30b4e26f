"""The notebooks in notebooks/ run top to bottom against a small generated store.

Executed with nbclient in a fresh kernel whose environment points DUECAST_HOME at a
temporary store, so the notebooks never rot and never touch the user's data.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from kernel.config import get_settings
from tests.utils.training_support import generated_store, store_settings

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    settings = store_settings(tmp_path_factory.mktemp("notebooks"))
    generated_store(settings, customers=60, years=1.5, seed=8)
    return settings.home


def _run(name: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    # The kernel inherits this process's environment.
    monkeypatch.setenv("DUECAST_HOME", str(home))
    monkeypatch.setenv("DUECAST_MODELS_DIR", str(home / "models"))
    monkeypatch.setenv("DUECAST_TRAIN_THREADS", "1")
    monkeypatch.setenv(
        "PYTHONPATH", str(NOTEBOOKS.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")
    )
    get_settings.cache_clear()
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(home)}},
    )
    client.execute()
    return notebook


def _text(notebook: nbformat.NotebookNode) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(str(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def test_explore_notebook_runs(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebook = _run("01_explore.ipynb", home, monkeypatch)
    text = _text(notebook)
    assert "invoices with known outcome" in text
    assert "history_days_late_mean" in text


def test_retrain_notebook_trains_compares_and_promotes(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = _run("02_retrain.ipynb", home, monkeypatch)
    text = _text(notebook)
    assert "registered version 1 as challenger" in text
    assert "promoted" in text
    assert (home / "models" / "champion" / "bundle.joblib").is_file()
