"""Incremental re-signing (`edgegate sign DIR --since OLD`): only changed files are re-hashed, and
the result is the same statement a full re-sign gives, accepted by model_signing."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path


def _statement(bundle: Path) -> dict:
    doc = json.loads(bundle.read_text())
    return json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))


def _sign(run_json, model: Path, priv: Path, out: Path, *extra: str | Path) -> dict:
    code, gate, err = run_json("sign", model, "--key", priv, "--bundle", out, *extra)
    assert code == 0, err
    return gate["stats"]


def _ms_verify(model: Path, sig: Path, pub: Path) -> None:
    import model_signing

    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=pub).verify(model, sig)


def test_only_changed_and_new_files_are_rehashed(run_json, tmp_path, model_dir, keypair) -> None:
    priv, pub = keypair
    v1, v2, full = tmp_path / "v1.sig", tmp_path / "v2.sig", tmp_path / "full.sig"
    stats = _sign(run_json, model_dir, priv, v1)
    assert stats["hashed_files"] == 4 and stats["reused_files"] == 0
    assert Path(stats["state_file"]).name == "v1.sig.state.json"

    (model_dir / "config.json").write_text('{"hidden": 16}\n')  # changed
    (model_dir / "weights" / "part-2.bin").write_bytes(b"new shard")  # new
    (model_dir / "tokenizer.txt").unlink()  # removed
    time.sleep(0.06)

    stats = _sign(run_json, model_dir, priv, v2, "--since", v1)
    assert stats["files"] == 4
    assert stats["hashed_files"] == 2  # config.json, part-2.bin
    assert stats["reused_files"] == 2  # part-0.bin, part-1.bin

    _sign(run_json, model_dir, priv, full)
    assert _statement(v2) == _statement(full)
    _ms_verify(model_dir, v2, pub)
    code, _, _ = run_json("verify", model_dir, "--bundle", v2, "--key", pub)
    assert code == 0


def test_same_size_same_mtime_rewrite_is_still_detected(run_json, tmp_path, model_dir, keypair) -> None:
    """Content rewritten with the old size and mtime restored: ctime still moves, so it is re-hashed."""
    priv, pub = keypair
    v1, v2 = tmp_path / "v1.sig", tmp_path / "v2.sig"
    _sign(run_json, model_dir, priv, v1)
    p = model_dir / "weights" / "part-1.bin"
    st = p.stat()
    p.write_bytes(os.urandom(st.st_size))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    time.sleep(0.06)
    stats = _sign(run_json, model_dir, priv, v2, "--since", v1)
    assert stats["hashed_files"] == 1
    _ms_verify(model_dir, v2, pub)


def test_without_state_everything_is_rehashed(run_json, tmp_path, model_dir, keypair) -> None:
    priv, pub = keypair
    v1, v2 = tmp_path / "v1.sig", tmp_path / "v2.sig"
    _sign(run_json, model_dir, priv, v1)
    Path(str(v1) + ".state.json").unlink()
    stats = _sign(run_json, model_dir, priv, v2, "--since", v1)
    assert stats["hashed_files"] == 4 and stats["reused_files"] == 0
    _ms_verify(model_dir, v2, pub)


def test_state_is_bound_to_its_signature(run_json, tmp_path, model_dir, keypair) -> None:
    """A state file next to a different signature (e.g. the old one re-signed) is not trusted."""
    priv, _ = keypair
    v1, other = tmp_path / "v1.sig", tmp_path / "other.sig"
    _sign(run_json, model_dir, priv, v1)
    _sign(run_json, model_dir, priv, other)
    state = Path(str(v1) + ".state.json")
    state.write_text(Path(str(other) + ".state.json").read_text())
    stats = _sign(run_json, model_dir, priv, tmp_path / "v2.sig", "--since", v1)
    assert stats["reused_files"] == 0


def test_old_signature_must_verify_with_the_key(cli, run_json, tmp_path, model_dir, keypair) -> None:
    from edgegate.sign.keys import generate_keypair

    priv, _ = keypair
    v1 = tmp_path / "v1.sig"
    _sign(run_json, model_dir, priv, v1)
    other_priv, other_pub = tmp_path / "o.key", tmp_path / "o.pub"
    generate_keypair(other_priv, other_pub, b"correct horse battery staple")
    res = cli("sign", model_dir, "--key", other_priv, "--bundle", tmp_path / "v2.sig", "--since", v1)
    assert res.exit_code == 2
    assert "old signature does not verify" in res.stderr
    # a tampered old signature is refused too
    doc = json.loads(v1.read_text())
    st = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    st["predicate"]["resources"][0]["digest"] = "11" * 32
    doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
    v1.write_text(json.dumps(doc))
    res = cli("sign", model_dir, "--key", priv, "--bundle", tmp_path / "v3.sig", "--since", v1)
    assert res.exit_code == 2 and "old signature does not verify" in res.stderr


def test_since_in_place_and_keyless_refused(cli, run_json, tmp_path, model_dir, keypair) -> None:
    priv, pub = keypair
    sig = tmp_path / "m.sig"
    _sign(run_json, model_dir, priv, sig)
    (model_dir / "tokenizer.txt").write_text("changed\n")
    time.sleep(0.06)
    stats = _sign(run_json, model_dir, priv, sig, "--since", sig)  # overwrite the old signature
    assert stats["hashed_files"] == 1
    _ms_verify(model_dir, sig, pub)
    res = cli("sign", model_dir, "--keyless", "--bundle", tmp_path / "k.sig", "--since", sig,
              env={"EDGEGATE_IDENTITY_TOKEN": "x"})
    assert res.exit_code == 2


def test_racy_files_are_rehashed(run_json, tmp_path, model_dir, keypair) -> None:
    """A file whose timestamp is not safely older than the signing's stat is not trusted next
    time (timestamp granularity). A future mtime makes it racy without depending on timing."""
    priv, _ = keypair
    p = model_dir / "config.json"
    future = time.time_ns() + 3_600 * 10**9
    os.utime(p, ns=(future, future))
    v1 = tmp_path / "v1.sig"
    _sign(run_json, model_dir, priv, v1)
    state = json.loads(Path(str(v1) + ".state.json").read_text())
    assert "config.json" not in state["files"]
    stats = _sign(run_json, model_dir, priv, tmp_path / "v2.sig", "--since", v1)
    assert stats["hashed_files"] == 1 and stats["reused_files"] == 3
