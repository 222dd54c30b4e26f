"""The checks a bundle passes before serving trusts it: file hashes, model text, features.

`write_manifest` records the sha256 of every file of a bundle folder in
`manifest.json`; `verify_manifest` checks them before any file is unpickled or parsed.
LightGBM's text parser can abort the whole process on a damaged file (a C++
`terminate`, no Python exception), so `verify_model_text` parses model files of a
bundle without a manifest (exported by an older duecast) in a child process first.
`check_features` compares the models and the feature list with the feature spec.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import lightgbm as lgb

from features.attributes import is_attribute_feature
from features.spec import FEATURE_COLUMNS, FEATURE_SET_VERSION
from features.spec_attributes import is_categorical
from kernel.errors import BundleError

__all__ = [
    "BUNDLE_HELP",
    "MANIFEST_FILE",
    "check_features",
    "read_booster",
    "verify_manifest",
    "verify_model_text",
    "write_manifest",
]

BUNDLE_HELP = "run `duecast train` then `duecast promote`"
MANIFEST_FILE = "manifest.json"
# Parsing a bundle's model texts in a child takes about a second; a hung parse is a fault.
_CHILD_TIMEOUT_SECONDS = 120.0
_CHILD_MESSAGE_CHARS = 300


def write_manifest(directory: Path, *, format_version: int) -> Path:
    """Write `manifest.json`: the sha256 of every file now in `directory`."""
    manifest = {
        "format_version": format_version,
        "sha256": {f.name: _sha256(f) for f in sorted(directory.iterdir()) if f.is_file()},
    }
    path = directory / MANIFEST_FILE
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_manifest(directory: Path) -> bool:
    """Check every file the manifest lists; False for a bundle without a manifest.

    Raises:
        BundleError: the manifest is unreadable, or a file is missing or does not match.
    """
    path = directory / MANIFEST_FILE
    if not path.is_file():
        return False
    try:
        hashes = json.loads(path.read_text())["sha256"]
        if not isinstance(hashes, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in hashes.items()
        ):
            raise TypeError("'sha256' is not a mapping of file names to hashes")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BundleError(
            f"the bundle manifest {path} is unreadable ({type(exc).__name__}: {exc}): "
            f"export the bundle again ({BUNDLE_HELP})"
        ) from exc
    for name, expected in sorted(hashes.items()):
        file = directory / name
        if Path(name).name != name or not file.is_file():
            raise BundleError(
                f"the bundle in {directory} lacks {name}, listed in its manifest: "
                f"export the bundle again ({BUNDLE_HELP})"
            )
        if _sha256(file) != expected:
            raise BundleError(
                f"{file} does not match the sha256 in the bundle manifest (damaged or "
                f"edited after export): export the bundle again ({BUNDLE_HELP})"
            )
    for file in directory.glob("*.txt"):
        if file.name not in hashes:
            raise BundleError(
                f"{file} is not listed in the bundle manifest: remove it, or export the "
                f"bundle again ({BUNDLE_HELP})"
            )
    return True


_PARSING = "duecast-parsing:"
_CHILD_CHECK = """
import sys
import lightgbm as lgb
for name in sys.argv[1:]:
    # The parent names the file the child died on (LightGBM prints to stdout too).
    print("duecast-parsing:" + name, flush=True)
    lgb.Booster(model_file=name)
"""


def verify_model_text(paths: Sequence[Path]) -> None:
    """Parse LightGBM model files in a child process: a damaged file kills the child only.

    Raises:
        BundleError: the child failed (its exit status or signal, and the file, said).
    """
    if not paths:
        return
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD_CHECK, *(str(p) for p in paths)],
            capture_output=True,
            text=True,
            errors="replace",  # a dying LightGBM may print raw memory
            timeout=_CHILD_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BundleError(
            f"LightGBM did not finish parsing the model files {[str(p) for p in paths]} "
            f"within {_CHILD_TIMEOUT_SECONDS:.0f} s: export the bundle again ({BUNDLE_HELP})"
        ) from exc
    if done.returncode == 0:
        return
    started = [
        line.removeprefix(_PARSING)
        for line in done.stdout.splitlines()
        if line.startswith(_PARSING)
    ]
    at_fault = started[-1] if started else str(paths[0])
    how = (
        f"killed by signal {-done.returncode}"
        if done.returncode < 0
        else f"exit status {done.returncode}"
    )
    # Only the last line: it holds LightGBM's complaint, the rest is a traceback.
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    said = lines[-1][:_CHILD_MESSAGE_CHARS] if lines else "no message"
    raise BundleError(
        f"{at_fault} is not a readable LightGBM model (parsing it in a child process: "
        f"{how}: {said}): export the bundle again ({BUNDLE_HELP})"
    )


def read_booster(path: Path) -> lgb.Booster:
    """A LightGBM model from its text file.

    Raises:
        BundleError: LightGBM cannot read the file.
    """
    try:
        return lgb.Booster(model_file=str(path))
    except Exception as exc:  # lightgbm.basic.LightGBMError and friends
        raise BundleError(
            f"{path} is not a readable LightGBM model ({exc}): export the bundle again "
            f"({BUNDLE_HELP})"
        ) from exc


def check_features(directory: Path, meta: dict, models: Mapping[str, lgb.Booster]) -> None:
    """The feature list is the spec's (or part of it) and every model reads that many columns.

    Raises:
        BundleError: unknown or repeated feature names, categories of a non-categorical
            column, or a model trained on another number of features.
    """
    columns = list(meta["feature_columns"])
    # Issue-time attribute features (`features.attributes`) are the spec's by their name.
    unknown = [c for c in columns if c not in FEATURE_COLUMNS and not is_attribute_feature(c)]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    odd_categories = sorted(
        c for c in meta["categories"] if c not in columns or not is_categorical(c)
    )
    problems = []
    if unknown:
        problems.append(f"feature columns {unknown} are not in the feature spec")
    if repeated:
        problems.append(f"feature columns {repeated} appear twice")
    if odd_categories:
        problems.append(f"categories are given for non-categorical columns {odd_categories}")
    for name, model in models.items():
        if model.num_feature() != len(columns):
            problems.append(
                f"model {name!r} reads {model.num_feature()} features, the bundle lists "
                f"{len(columns)}"
            )
    if problems:
        raise BundleError(
            f"the bundle in {directory} does not match the feature spec of this duecast "
            f"({FEATURE_SET_VERSION}): {'; '.join(problems)}. {BUNDLE_HELP}"
        )
