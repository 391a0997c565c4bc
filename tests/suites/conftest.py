"""The project folder the suite tests write into: ``baselines/tiny.yaml`` (the test module's
``BASELINE``) and ``suites/``, where ``write`` puts a suite file."""

from __future__ import annotations

import pytest


@pytest.fixture
def project(tmp_path, request):
    (tmp_path / "baselines").mkdir()
    (tmp_path / "baselines" / "tiny.yaml").write_text(request.module.BASELINE)
    (tmp_path / "suites").mkdir()
    return tmp_path


@pytest.fixture
def write(project):
    """``write(text, name="s.yaml")``: the suite file ``suites/<name>`` of the project."""

    def write(text: str, name: str = "s.yaml"):
        path = project / "suites" / name
        path.write_text(text)
        return path

    return write
