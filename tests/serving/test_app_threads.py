"""The app shortens the GIL switch interval: approvals confirmed in the thread pool
would otherwise wait up to 5 ms for the event loop's thread (see `serving.app`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from serving.app import GIL_SWITCH_SECONDS, create_app
from tests.utils.api_support import ApiTemplate, settings_for


def test_creating_the_app_sets_the_switch_interval(
    api_template: ApiTemplate, tmp_path: Path
) -> None:
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        create_app(settings_for(api_template, tmp_path))
        assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_SECONDS)
        assert GIL_SWITCH_SECONDS < 0.005
    finally:
        sys.setswitchinterval(before)
