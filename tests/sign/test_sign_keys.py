"""Key-pair mode for files: keygen, sign, verify offline with the public key; bad inputs."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from sign_helpers import PASSWORD, reasons


def test_keygen_writes_an_encrypted_p256_key(cli, tmp_path, password_env) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    priv, pub = tmp_path / "k.pem", tmp_path / "k.pub"
    res = cli("sign", "keygen", "--private", priv, "--public", pub)
    assert res.exit_code == 0, res.stderr
    assert b"ENCRYPTED PRIVATE KEY" in priv.read_bytes()
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(priv.read_bytes(), PASSWORD.encode())
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(priv.read_bytes(), None)
    # never overwrites without --force
    res = cli("sign", "keygen", "--private", priv, "--public", pub)
    assert res.exit_code == 2 and "already exists" in res.stderr


def test_keygen_needs_the_passphrase_variable(cli, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("EDGEGATE_KEY_PASSWORD", raising=False)
    res = cli("sign", "keygen", "--private", tmp_path / "k.pem", "--public", tmp_path / "k.pub")
    assert res.exit_code == 2
    assert "EDGEGATE_KEY_PASSWORD is not set" in res.stderr
    assert not (tmp_path / "k.pem").exists()


def test_sign_and_verify_a_file(cli, run_json, tmp_path, keypair) -> None:
    priv, pub = keypair
    sbom = tmp_path / "sbom.cdx.json"
    sbom.write_text('{"bomFormat": "CycloneDX"}\n')
    res = cli("sign", sbom, "--key", priv)
    assert res.exit_code == 0, res.stderr
    bundle = tmp_path / "sbom.cdx.json.sigstore.json"
    doc = json.loads(bundle.read_text())
    assert doc["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert set(doc["verificationMaterial"]["publicKey"]) == {"hint"}
    assert doc["messageSignature"]["messageDigest"]["algorithm"] == "SHA2_256"
    code, gate, _ = run_json("verify", sbom, "--key", pub)
    assert code == 0 and gate["stats"]["verified"] == 1

    # a flipped byte, a bundle for another file, another key: all fail with a reason
    sbom.write_text('{"bomFormat": "CycloneDX "}\n')
    code, gate, _ = run_json("verify", sbom, "--key", pub)
    assert code == 1 and "digest mismatch" in reasons(gate)


def test_signature_is_checked_not_just_the_digest(run_json, tmp_path, keypair) -> None:
    """A bundle whose digest was rewritten to the new file's digest still fails: the signature."""
    import base64
    import hashlib

    from edgegate.sign.bundles import sign_digest_bundle
    from edgegate.sign.keys import load_private_key

    priv, pub = keypair
    key = load_private_key(priv, PASSWORD.encode())
    f = tmp_path / "a.bin"
    f.write_bytes(b"original")
    doc = json.loads(sign_digest_bundle(key, hashlib.sha256(b"original").hexdigest()))
    f.write_bytes(b"tampered")
    doc["messageSignature"]["messageDigest"]["digest"] = base64.b64encode(hashlib.sha256(b"tampered").digest()).decode()
    (tmp_path / "a.bin.sigstore.json").write_text(json.dumps(doc))
    code, gate, _ = run_json("verify", f, "--key", pub)
    assert code == 1
    assert gate["findings"][0]["rule_id"] == "EGS001"


def test_other_key_fails(run_json, cli, tmp_path, keypair) -> None:
    from edgegate.sign.keys import generate_keypair

    priv, _ = keypair
    other_priv, other_pub = tmp_path / "o.key", tmp_path / "o.pub"
    generate_keypair(other_priv, other_pub, b"x")
    f = tmp_path / "blob"
    f.write_bytes(b"data")
    assert cli("sign", f, "--key", priv).exit_code == 0
    code, gate, _ = run_json("verify", f, "--key", other_pub)
    assert code == 1 and gate["findings"][0]["rule_id"] in {"EGS001", "EGS007"}
    # without the hint the signature itself is what fails
    bundle = tmp_path / "blob.sigstore.json"
    doc = json.loads(bundle.read_text())
    doc["verificationMaterial"]["publicKey"].pop("hint")
    bundle.write_text(json.dumps(doc))
    code, gate, _ = run_json("verify", f, "--key", other_pub)
    assert code == 1 and gate["findings"][0]["rule_id"] == "EGS001"


def test_wrong_passphrase_is_an_input_error(cli, tmp_path, keypair, monkeypatch) -> None:
    priv, _ = keypair
    f = tmp_path / "x"
    f.write_text("x")
    monkeypatch.setenv("EDGEGATE_KEY_PASSWORD", "wrong")
    res = cli("sign", f, "--key", priv)
    assert res.exit_code == 2
    assert "wrong passphrase" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    monkeypatch.delenv("EDGEGATE_KEY_PASSWORD")
    res = cli("sign", f, "--key", priv)
    assert res.exit_code == 2 and "EDGEGATE_KEY_PASSWORD is not set" in res.stderr
    assert not (tmp_path / "x.sigstore.json").exists()


def test_pem_that_is_not_a_key(cli, tmp_path, password_env) -> None:
    f = tmp_path / "x"
    f.write_text("x")
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    res = cli("sign", f, "--key", junk)
    assert res.exit_code == 2 and "not a PEM private key" in res.stderr
    res = cli("verify", f, "--key", junk, "--bundle", junk)
    assert res.exit_code == 2 and "not a PEM public key" in res.stderr
    assert "Traceback" not in res.stderr


def test_missing_key_file(cli, tmp_path, keypair) -> None:
    priv, _ = keypair
    f = tmp_path / "x"
    f.write_text("x")
    assert cli("sign", f, "--key", priv).exit_code == 0
    res = cli("verify", f, "--key", tmp_path / "absent.pub")
    assert res.exit_code == 2 and "no such file" in res.stderr


def test_unreadable_artifact(cli, tmp_path, keypair) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads everything")
    priv, _ = keypair
    f = tmp_path / "secret"
    f.write_text("x")
    f.chmod(0)
    res = cli("sign", f, "--key", priv)
    assert res.exit_code == 2 and "cannot read" in res.stderr


def test_key_bundle_with_keyless_identity_is_refused(run_json, cli, tmp_path, keypair) -> None:
    priv, _ = keypair
    f = tmp_path / "x"
    f.write_text("x")
    assert cli("sign", f, "--key", priv).exit_code == 0
    code, gate, _ = run_json("verify", f, "--identity", "a@b.c", "--issuer", "https://accounts.google.com")
    assert code == 1 and "signed with a key" in reasons(gate)


def test_malformed_key_bundle(run_json, tmp_path, keypair) -> None:
    _, pub = keypair
    f = tmp_path / "x"
    f.write_text("x")
    b = tmp_path / "x.sigstore.json"
    b.write_text(json.dumps({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                             "verificationMaterial": {"publicKey": {"hint": "00"}}}))
    code, gate, _ = run_json("verify", f, "--key", pub)
    assert code == 1 and gate["findings"][0]["rule_id"] == "EGS004"


def test_sign_writes_a_report(run_json, tmp_path, keypair) -> None:
    priv, _ = keypair
    f: Path = tmp_path / "x"
    f.write_bytes(b"12345")
    code, gate, _ = run_json("sign", f, "--key", priv, "--bundle", tmp_path / "out.json")
    assert code == 0
    assert gate["gate"] == "sign" and gate["stats"]["bytes"] == 5
    assert (tmp_path / "out.json").is_file()


def test_bundle_path_is_a_directory(cli, tmp_path, keypair) -> None:
    _, pub = keypair
    f = tmp_path / "x"
    f.write_text("x")
    res = cli("verify", f, "--key", pub, "--bundle", tmp_path)
    assert res.exit_code == 2 and "is a directory" in res.stderr


def test_read_error_is_an_input_error(cli, keypair) -> None:
    """A file that opens but fails to read (EIO from /proc/self/mem at offset 0): exit 2."""
    mem = Path("/proc/self/mem")
    if not mem.exists():
        pytest.skip("no /proc")
    res = cli("sign", mem, "--key", keypair[0], "--bundle", "/nonexistent-dir/x.json")
    assert res.exit_code == 2
    assert "cannot read" in res.stderr
    assert "Traceback" not in res.stderr
