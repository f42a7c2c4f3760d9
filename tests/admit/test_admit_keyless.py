"""Keyless bundles through admit's message-signature path (the one a referrer bundle over an
image digest takes), on sigstore-python's real bundles in ../shared/data/sigstore: the digest
each bundle signs stands in for the image digest."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from edgegate.admit.bundles import verify_message_bundle
from edgegate.admit.cosign import AdmitFailure
from edgegate.admit.verify import AdmitOptions
from edgegate.sign.keyless import GITHUB_ISSUER, IdentityPolicy

REPO = IdentityPolicy(github_repository="trailofbits/rfc8785.py", github_ref="refs/tags/v0.1.2", issuer=GITHUB_ISSUER)


def _case(shared_dir: Path, name: str) -> tuple[bytes, str]:
    d = shared_dir / "data" / "sigstore"
    artifact = (d / name).read_bytes()
    bundle = d / f"{name}.sigstore"
    if not bundle.is_file():
        bundle = d / f"{name}.sigstore.json"
    return bundle.read_bytes(), "sha256:" + hashlib.sha256(artifact).hexdigest()


def test_github_keyless_bundle_admitted_for_its_digest(shared_dir: Path) -> None:
    data, digest = _case(shared_dir, "bundle_v3_github.whl")
    signer = verify_message_bundle(data, digest, [], [REPO], AdmitOptions(), "referrer x")
    assert "trailofbits/rfc8785.py" in signer


def test_keyless_refusals(shared_dir: Path) -> None:
    data, digest = _case(shared_dir, "bundle_v3_github.whl")
    other = "sha256:" + hashlib.sha256(b"another image").hexdigest()
    with pytest.raises(AdmitFailure) as exc:
        verify_message_bundle(data, other, [], [REPO], AdmitOptions(), "referrer x")
    assert exc.value.rule_id == "EGA003"
    wrong = IdentityPolicy(github_repository="evil/fork", issuer=GITHUB_ISSUER)
    with pytest.raises(AdmitFailure) as exc:
        verify_message_bundle(data, digest, [], [wrong], AdmitOptions(), "referrer x")
    assert exc.value.rule_id == "EGA004"
    with pytest.raises(AdmitFailure) as exc:  # only keys trusted
        verify_message_bundle(data, digest, [], [], AdmitOptions(), "referrer x")
    assert exc.value.rule_id == "EGA004"
    # a staging bundle against the production trust root is not trusted
    data, digest = _case(shared_dir, "bundle_v3.txt")
    anyone = IdentityPolicy(identity="william@yossarian.net", issuer="https://github.com/login/oauth")
    with pytest.raises(AdmitFailure):
        verify_message_bundle(data, digest, [], [anyone], AdmitOptions(), "referrer x")


@pytest.mark.parametrize("name", ["bundle_no_log_entry.txt", "bundle_invalid_version.txt", "bundle_no_cert_v1.txt",
                                  "bundle_cve_2022_36056.txt"])
def test_invalid_real_bundles_never_admit(shared_dir: Path, name: str) -> None:
    data, digest = _case(shared_dir, name)
    policy = IdentityPolicy(identity="a@tny.town", issuer="https://github.com/login/oauth")
    for instance in ("production", "staging"):
        with pytest.raises(AdmitFailure):
            verify_message_bundle(data, digest, [], [policy], AdmitOptions(instance=instance), "referrer x")
