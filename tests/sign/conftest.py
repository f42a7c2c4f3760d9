"""Fixtures for the sign/verify tests: a key pair, a small model directory, a JSON-report runner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sign_helpers import PASSWORD, make_model


@pytest.fixture
def password_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("EDGEGATE_KEY_PASSWORD", PASSWORD)
    return PASSWORD


@pytest.fixture
def keypair(tmp_path: Path, password_env: str) -> tuple[Path, Path]:
    """(private PEM encrypted with PASSWORD, public PEM), written by edgegate's keygen."""
    from edgegate.sign.keys import generate_keypair

    priv, pub = tmp_path / "keys" / "signing.key", tmp_path / "keys" / "signing.pub"
    priv.parent.mkdir()
    generate_keypair(priv, pub, PASSWORD.encode())
    return priv, pub


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return make_model(tmp_path)


@pytest.fixture
def run_json(cli: Callable[..., Any]) -> Callable[..., tuple[int, dict[str, Any], str]]:
    """Run edgegate with ``-f json``; return (exit code, the first gate's result, stderr)."""

    def run(*args: str | Path) -> tuple[int, dict[str, Any], str]:
        res = cli(*args, "-f", "json")
        gate: dict[str, Any] = {}
        if res.stdout.strip():
            gate = json.loads(res.stdout)["gates"][0]
        return res.exit_code, gate, res.stderr

    return run
