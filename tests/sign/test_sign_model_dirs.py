"""Model directories in the OpenSSF model-signing format: interop with the `model_signing`
library in both directions (key mode), tamper detection, symlink policy."""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path

import pytest
from sign_helpers import PASSWORD, reasons


def _statement(bundle: Path) -> dict:
    doc = json.loads(bundle.read_text())
    return json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))


def _ms_verify(model: Path, sig: Path, pub: Path) -> None:
    import model_signing

    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=pub).verify(model, sig)


def _ms_sign(model: Path, sig: Path, priv: Path) -> None:
    import model_signing

    model_signing.signing.Config().use_elliptic_key_signer(
        private_key=priv, password=PASSWORD.encode()
    ).sign(model, sig)


def test_model_signing_verifies_what_edgegate_signs(cli, tmp_path, model_dir, keypair) -> None:
    priv, pub = keypair
    sig = tmp_path / "model.sig"
    res = cli("sign", model_dir, "--key", priv, "--bundle", sig)
    assert res.exit_code == 0, res.stderr
    _ms_verify(model_dir, sig, pub)  # raises on failure
    st = _statement(sig)
    assert st["_type"] == "https://in-toto.io/Statement/v1"
    assert st["predicateType"] == "https://model_signing/signature/v1.0"
    assert st["subject"][0]["name"] == "tiny-model"
    names = [r["name"] for r in st["predicate"]["resources"]]
    assert names == ["config.json", "tokenizer.txt", "weights/part-0.bin", "weights/part-1.bin"]
    assert st["predicate"]["serialization"]["method"] == "files"
    assert ".git" in st["predicate"]["serialization"]["ignore_paths"]

    # model_signing rejects it once a byte changes, too
    p = model_dir / "weights" / "part-1.bin"
    data = bytearray(p.read_bytes())
    data[0] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="Hash mismatch"):
        _ms_verify(model_dir, sig, pub)


def test_edgegate_verifies_what_model_signing_signs(run_json, tmp_path, model_dir, keypair) -> None:
    priv, pub = keypair
    sig = tmp_path / "ms.sig"
    _ms_sign(model_dir, sig, priv)
    code, gate, _ = run_json("verify", model_dir, "--bundle", sig, "--key", pub)
    assert code == 0, gate
    assert gate["findings"] == []  # a verification is a table row, not a finding
    assert gate["stats"]["tables"][0]["rows"][0][3:] == ["verified", "4 files"]


def test_statement_equals_model_signing_statement(tmp_path, model_dir, keypair, cli) -> None:
    """Same directory, same key: model_signing's statement and edgegate's are the same document."""
    priv, _ = keypair
    ours, theirs = tmp_path / "ours.sig", tmp_path / "theirs.sig"
    assert cli("sign", model_dir, "--key", priv, "--bundle", ours).exit_code == 0
    _ms_sign(model_dir, theirs, priv)
    a, b = _statement(ours), _statement(theirs)
    a_ser, b_ser = a["predicate"].pop("serialization"), b["predicate"].pop("serialization")
    assert a == b
    assert sorted(a_ser.pop("ignore_paths")) == sorted(b_ser.pop("ignore_paths"))
    assert a_ser == b_ser


def _tamper_flip(model: Path) -> None:
    p = model / "weights" / "part-0.bin"
    data = bytearray(p.read_bytes())
    data[12345] ^= 0x01
    p.write_bytes(bytes(data))


def _tamper_add(model: Path) -> None:
    (model / "weights" / "part-2.bin").write_bytes(b"extra")


def _tamper_remove(model: Path) -> None:
    (model / "tokenizer.txt").unlink()


def _tamper_rename(model: Path) -> None:
    (model / "tokenizer.txt").rename(model / "tokenizer.json")


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (_tamper_flip, "changed: weights/part-0.bin"),
        (_tamper_add, "not in the signature: weights/part-2.bin"),
        (_tamper_remove, "missing: tokenizer.txt"),
        (_tamper_rename, "missing: tokenizer.txt"),
    ],
    ids=["flipped-byte", "added-file", "removed-file", "renamed-file"],
)
@pytest.mark.parametrize("signer", ["edgegate", "model_signing"])
def test_tampering_fails(run_json, cli, tmp_path, model_dir, keypair, tamper, expected, signer) -> None:
    priv, pub = keypair
    sig = tmp_path / "model.sig"
    if signer == "edgegate":
        assert cli("sign", model_dir, "--key", priv, "--bundle", sig).exit_code == 0
    else:
        _ms_sign(model_dir, sig, priv)
    tamper(model_dir)
    code, gate, _ = run_json("verify", model_dir, "--bundle", sig, "--key", pub)
    assert code == 1
    assert expected in reasons(gate)
    assert gate["findings"][0]["rule_id"] == "EGS006"


def test_tampered_statement_fails(run_json, cli, tmp_path, model_dir, keypair) -> None:
    """Rewriting a digest inside the signed statement breaks the DSSE signature."""
    priv, pub = keypair
    sig = tmp_path / "model.sig"
    assert cli("sign", model_dir, "--key", priv, "--bundle", sig).exit_code == 0
    doc = json.loads(sig.read_text())
    st = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    st["predicate"]["resources"][0]["digest"] = "00" * 32
    doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
    sig.write_text(json.dumps(doc))
    code, gate, _ = run_json("verify", model_dir, "--bundle", sig, "--key", pub)
    assert code == 1 and gate["findings"][0]["rule_id"] == "EGS001"


def test_file_bundle_is_not_a_model_signature(run_json, cli, tmp_path, model_dir, keypair) -> None:
    priv, pub = keypair
    assert cli("sign", model_dir / "config.json", "--key", priv, "--bundle", tmp_path / "c.json").exit_code == 0
    code, gate, _ = run_json("verify", model_dir, "--bundle", tmp_path / "c.json", "--key", pub)
    assert code == 1 and "not a model-directory signature" in reasons(gate)
    # and the reverse: a model signature over a single file
    assert cli("sign", model_dir, "--key", priv, "--bundle", tmp_path / "m.sig").exit_code == 0
    code, gate, _ = run_json("verify", model_dir / "config.json", "--bundle", tmp_path / "m.sig", "--key", pub)
    assert code == 1 and "DSSE" in reasons(gate)


def test_signature_inside_the_model_dir_is_ignored(cli, run_json, model_dir, keypair) -> None:
    priv, pub = keypair
    sig = model_dir / "model.sig"
    assert cli("sign", model_dir, "--key", priv, "--bundle", sig).exit_code == 0
    names = [r["name"] for r in _statement(sig)["predicate"]["resources"]]
    assert "model.sig" not in names and "model.sig.state.json" not in names
    code, _, _ = run_json("verify", model_dir, "--bundle", sig, "--key", pub)
    assert code == 0
    _ms_verify(model_dir, sig, pub)


def test_symlink_outside_is_refused(cli, tmp_path, model_dir, keypair) -> None:
    priv, _ = keypair
    secret = tmp_path / "outside-secret.txt"
    secret.write_text("do not hash me")
    os.symlink(secret, model_dir / "link.txt")
    res = cli("sign", model_dir, "--key", priv)
    assert res.exit_code == 2 and "--allow-symlinks" in res.stderr
    res = cli("sign", model_dir, "--key", priv, "--allow-symlinks")
    assert res.exit_code == 2 and "outside the model directory" in res.stderr
    assert "Traceback" not in res.stderr
    # a link to a directory outside is not followed either
    (model_dir / "link.txt").unlink()
    os.symlink(tmp_path, model_dir / "up")
    res = cli("sign", model_dir, "--key", priv, "--allow-symlinks")
    assert res.exit_code == 2 and "outside" in res.stderr


def test_symlink_inside_with_allow(cli, run_json, tmp_path, model_dir, keypair) -> None:
    priv, pub = keypair
    os.symlink("config.json", model_dir / "config-link.json")
    sig = tmp_path / "m.sig"
    res = cli("sign", model_dir, "--key", priv, "--bundle", sig, "--allow-symlinks")
    assert res.exit_code == 0, res.stderr
    st = _statement(sig)
    digests = {r["name"]: r["digest"] for r in st["predicate"]["resources"]}
    assert digests["config-link.json"] == digests["config.json"]
    assert st["predicate"]["serialization"]["allow_symlinks"] is True
    code, _, _ = run_json("verify", model_dir, "--bundle", sig, "--key", pub, "--allow-symlinks")
    assert code == 0
    # verification without the flag refuses the link (exit 2), it does not skip it
    res = cli("verify", model_dir, "--bundle", sig, "--key", pub)
    assert res.exit_code == 2


def test_copied_model_verifies(run_json, cli, tmp_path, model_dir, keypair) -> None:
    """The signature covers content and names, not where the directory lives."""
    priv, pub = keypair
    sig = tmp_path / "m.sig"
    assert cli("sign", model_dir, "--key", priv, "--bundle", sig).exit_code == 0
    copy = tmp_path / "elsewhere" / "renamed-model"
    shutil.copytree(model_dir, copy)
    code, _, _ = run_json("verify", copy, "--bundle", sig, "--key", pub)
    assert code == 0


def test_fifo_in_model_is_refused(cli, model_dir, keypair) -> None:
    os.mkfifo(model_dir / "pipe")
    res = cli("sign", model_dir, "--key", keypair[0])
    assert res.exit_code == 2 and "FIFO" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_progress_bar_hashes_the_same(model_dir, capsys) -> None:
    from edgegate.sign.hashing import hash_entries, walk_model

    entries = walk_model(model_dir)
    quiet = hash_entries(entries, progress=False)
    shown = hash_entries(entries, progress=True, workers=2)
    assert quiet == shown
    assert set(quiet) == {"config.json", "tokenizer.txt", "weights/part-0.bin", "weights/part-1.bin"}
    import hashlib

    assert quiet["config.json"] == hashlib.sha256((model_dir / "config.json").read_bytes()).hexdigest()


def test_relative_bundle_inside_the_model(cli, run_json, tmp_path, model_dir, keypair) -> None:
    """`edgegate sign tiny-model -b tiny-model/model.sig` run from the parent folder."""
    priv, pub = keypair
    res = cli("sign", "tiny-model", "--key", priv, "--bundle", "tiny-model/model.sig", cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    names = [r["name"] for r in _statement(model_dir / "model.sig")["predicate"]["resources"]]
    assert "model.sig" not in names and "model.sig.state.json" not in names
    res = cli("verify", "tiny-model", "--key", pub, "--bundle", "tiny-model/model.sig", cwd=tmp_path)
    assert res.exit_code == 0, res.stdout
