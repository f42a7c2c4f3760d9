"""Fixtures for the admit tests: a real local registry, real cosign, key pairs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from admit_helpers import PASSWORD, REGISTRY, cosign_path, start_registry


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real local registry (host:port), shared by the admit tests."""
    if REGISTRY is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    proc, host = start_registry(tmp_path_factory.mktemp("admit-registry"))
    try:
        yield host
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def cosign() -> str:
    """The real cosign binary; missing is a skip locally and a failure under CI=true."""
    path = cosign_path()
    if path is None:
        msg = "cosign is not installed (go install github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5)"
        if os.environ.get("CI") == "true" or os.environ.get("EDGEGATE_TEST_REQUIRE_ORACLES"):
            pytest.fail(msg + " — required in CI")
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def edgegate_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An edgegate key pair (encrypted PKCS#8 private key, SPKI public key)."""
    from edgegate.sign.keys import generate_keypair

    d = tmp_path_factory.mktemp("edgegate-keys")
    generate_keypair(d / "edgegate.key", d / "edgegate.pub", PASSWORD.encode())
    return d / "edgegate.key", d / "edgegate.pub"


@pytest.fixture(scope="session")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from edgegate.sign.keys import generate_keypair

    d = tmp_path_factory.mktemp("other-keys")
    generate_keypair(d / "other.key", d / "other.pub", PASSWORD.encode())
    return d / "other.key", d / "other.pub"


@pytest.fixture(autouse=True)
def _keys_are_allowed_paths(
    monkeypatch: pytest.MonkeyPatch, edgegate_keys: tuple[Path, Path], other_keys: tuple[Path, Path]
) -> None:
    """The tests' configs name keys made in pytest's temp folders, outside each test's project;
    config paths must stay inside the project unless the CI owner allows a folder."""
    folders = {str(edgegate_keys[1].parent), str(other_keys[1].parent)}
    monkeypatch.setenv("EDGEGATE_ALLOWED_PATHS", os.pathsep.join(sorted(folders)))
