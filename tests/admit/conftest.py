"""Fixtures for the admit tests: a real local registry, real cosign, key pairs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from admit_helpers import PASSWORD, REGISTRY, cosign_path, pkcs8_pem, run_cosign, spki_pem, start_registry


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


@pytest.fixture(scope="session")
def cosign_keys(cosign: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """cosign.key from cosign; RSA and Ed25519 PEM keys and their cosign imports; an edgegate
    key in cosign's format."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    from edgegate.sign.keys import generate_keypair

    d = tmp_path_factory.mktemp("cosign-keys")
    run_cosign(cosign, "generate-key-pair", cwd=d)
    out = {"cosign.key": d / "cosign.key", "cosign.pub": d / "cosign.pub"}
    made = {"rsa": rsa.generate_private_key(65537, 3072), "ed25519": ed25519.Ed25519PrivateKey.generate(),
            "ec": ec.generate_private_key(ec.SECP256R1())}
    for name, key in made.items():
        out[f"{name}.pem"] = pkcs8_pem(key, d / f"{name}.pem")
        out[f"{name}-enc.pem"] = pkcs8_pem(key, d / f"{name}-enc.pem", PASSWORD.encode())
        out[f"{name}-spki.pem"] = spki_pem(key, d / f"{name}-spki.pem")
        run_cosign(cosign, "import-key-pair", "--key", str(out[f"{name}.pem"]), "--output-key-prefix", name, cwd=d)
        out[f"{name}.key"], out[f"{name}.pub"] = d / f"{name}.key", d / f"{name}.pub"
    generate_keypair(d / "eg.key", d / "eg.pub", PASSWORD.encode(), key_format="cosign")
    out["eg.key"], out["eg.pub"] = d / "eg.key", d / "eg.pub"
    return out


@pytest.fixture(autouse=True)
def _keys_are_allowed_paths(
    monkeypatch: pytest.MonkeyPatch, edgegate_keys: tuple[Path, Path], other_keys: tuple[Path, Path]
) -> None:
    """The tests' configs name keys made in pytest's temp folders, outside each test's project;
    config paths must stay inside the project unless the CI owner allows a folder."""
    folders = {str(edgegate_keys[1].parent), str(other_keys[1].parent)}
    monkeypatch.setenv("EDGEGATE_ALLOWED_PATHS", os.pathsep.join(sorted(folders)))
