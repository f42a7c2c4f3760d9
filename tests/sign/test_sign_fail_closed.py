"""Sign/verify defects of issue 15: bundle size limit, whitespace padding, the ignore paths a
model-signing signature records, `sign .`/`..`, torn reads."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from sign_helpers import PASSWORD

from edgegate.errors import InputError


def _ms_sign(model: Path, sig: Path, priv: Path, *, ignore_git: bool = True) -> None:
    import model_signing

    hashing = model_signing.hashing.Config().set_ignored_paths(paths=[], ignore_git_paths=ignore_git)
    model_signing.signing.Config().use_elliptic_key_signer(
        private_key=priv, password=PASSWORD.encode()
    ).set_hashing_config(hashing).sign(model, sig)


def _resources(sig: Path) -> list[str]:
    doc = json.loads(sig.read_text())
    st = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    return [r["name"] for r in st["predicate"]["resources"]]


def test_signature_made_without_git_ignores_verifies_with_its_recorded_ignore_paths(
    run_json, tmp_path, model_dir, keypair
) -> None:
    priv, pub = keypair
    sig = tmp_path / "ms.sig"
    _ms_sign(model_dir, sig, priv, ignore_git=False)
    assert ".git/HEAD" in _resources(sig)  # model-signing signed the git metadata too
    code, gate, err = run_json("verify", model_dir, "--bundle", sig, "--key", pub)
    assert code == 0, (gate, err)
    # a verification is a row of the Signatures table (not a finding): every signed file checked
    assert gate["stats"]["tables"][0]["rows"][0][3:] == ["verified", "5 files"]
    # and the git file is then protected like any other
    (model_dir / ".git" / "HEAD").write_text("ref: refs/heads/evil\n")
    code, gate, _ = run_json("verify", model_dir, "--bundle", sig, "--key", pub)
    assert code == 1 and ".git/HEAD" in json.dumps(gate)


def test_default_model_signing_signature_still_ignores_git(run_json, tmp_path, model_dir, keypair) -> None:
    priv, pub = keypair
    sig = tmp_path / "ms.sig"
    _ms_sign(model_dir, sig, priv)
    (model_dir / ".git" / "HEAD").write_text("changed\n")
    code, gate, _ = run_json("verify", model_dir, "--bundle", sig, "--key", pub)
    assert code == 0, gate


def test_bundle_limit_scales_with_the_files_edgegate_signs(
    cli, run_json, tmp_path, keypair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model whose signature is larger than the fixed limit signs, verifies and re-signs with
    --since (the fixed limit scaled down to 64 KiB so the model stays small)."""
    from edgegate.sign import bundles

    monkeypatch.setattr(bundles, "MAX_BUNDLE_BYTES", 64 * 1024)
    priv, pub = keypair
    model = tmp_path / "wide-model"
    for i in range(1500):
        d = model / f"shard-{i // 100:03d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"tensor-{i:06d}.bin").write_bytes(b"w%d" % i)
    sig = tmp_path / "wide.sig"
    res = cli("sign", model, "--key", priv, "--bundle", sig)
    assert res.exit_code == 0, res.stderr
    assert sig.stat().st_size > 64 * 1024 * 4  # well past the fixed limit
    code, gate, err = run_json("verify", model, "--bundle", sig, "--key", pub)
    assert code == 0, (gate, err)
    res = cli("sign", model, "--key", priv, "--bundle", tmp_path / "again.sig", "--since", sig)
    assert res.exit_code == 0, res.stderr
    # a file bundle keeps the fixed limit, and the error says what the limit is
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "big.json").write_text('{"x": "' + "a" * 70_000 + '"}')
    res = cli("verify", tmp_path / "a.txt", "--bundle", tmp_path / "big.json", "--key", pub)
    assert res.exit_code == 2 and "64 KiB" in res.stderr


def test_bundle_padded_with_whitespace_is_accepted(cli, tmp_path, keypair) -> None:
    priv, pub = keypair
    art = tmp_path / "artifact.bin"
    art.write_bytes(b"payload")
    assert cli("sign", art, "--key", priv).exit_code == 0
    bundle = tmp_path / "artifact.bin.sigstore.json"
    padded = tmp_path / "padded.json"
    padded.write_bytes(b"\n  \t" * 1000 + bundle.read_bytes() + b" \n" * (9 * 1024 * 1024))
    assert padded.stat().st_size > 16 * 1024 * 1024
    res = cli("verify", art, "--bundle", padded, "--key", pub)
    assert res.exit_code == 0, res.stderr
    # padding with anything but whitespace past the limit is still refused, bounded
    padded.write_bytes(bundle.read_bytes() + b" " * (17 * 1024 * 1024) + b"x")
    res = cli("verify", art, "--bundle", padded, "--key", pub)
    assert res.exit_code == 2 and "larger than" in res.stderr and "internal error" not in res.stderr


def test_sign_and_verify_dot_and_dotdot(cli, tmp_path, model_dir, keypair) -> None:
    priv, pub = keypair
    res = cli("sign", ".", "--key", priv, cwd=model_dir)
    assert res.exit_code == 0, res.stderr
    assert (tmp_path / "tiny-model.sig").is_file()
    res = cli("verify", ".", "--key", pub, cwd=model_dir)
    assert res.exit_code == 0, res.stdout + res.stderr
    inner = model_dir / "weights"
    res = cli("sign", "..", "--key", priv, "--bundle", tmp_path / "dd.sig", cwd=inner)
    assert res.exit_code == 0, res.stderr
    res = cli("sign", "..", "--key", priv, cwd=inner)
    assert res.exit_code == 0, res.stderr
    assert not list(model_dir.rglob("...sig*"))  # never a file named '...sig'
    res = cli("verify", "..", "--key", pub, cwd=inner)
    assert res.exit_code == 0, res.stdout + res.stderr


def test_torn_read_with_restored_mtime_is_an_error(tmp_path) -> None:
    """The file is rewritten (same size) between the walk and the hash and its mtime put back:
    the digest is of content the walk never saw."""
    from edgegate.sign.hashing import hash_entries, walk_model

    model = tmp_path / "m"
    model.mkdir()
    f = model / "w.bin"
    f.write_bytes(b"A" * 4096)
    entries = walk_model(model)
    st = f.stat()
    f.write_bytes(b"B" * 4096)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert f.stat().st_mtime_ns == entries[0].mtime_ns and f.stat().st_size == entries[0].size
    with pytest.raises(InputError, match="changed while it was being hashed"):
        hash_entries(entries)
    # a file replaced by another inode with the same size and mtime
    entries = walk_model(model)
    st = f.stat()
    tmp = model / "w.new"
    tmp.write_bytes(b"C" * 4096)
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, f)
    with pytest.raises(InputError, match="changed while it was being hashed"):
        hash_entries(entries)
