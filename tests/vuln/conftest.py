"""Fixtures for the vulnerability gate: the PyPA advisory database, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def pypa_dir(shared_dir: Path) -> Path:
    path = shared_dir / "data" / "osv" / "pypa-advisory-database" / "vulns"
    if not path.is_dir():
        pytest.skip("PyPA advisory database missing from ../shared")
    return path


@pytest.fixture(scope="session")
def pypa_db(pypa_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edgegate.vuln.db import build_db

    out = tmp_path_factory.mktemp("vulndb") / "pypa.db"
    build_db(pypa_dir, out)
    return out
