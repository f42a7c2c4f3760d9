"""Real Sigstore bundles from ../shared/data/sigstore: every row of its README's verdict table,
verified offline against the trust roots embedded in sigstore-python."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sign_helpers import reasons

GH_ISSUER = "https://token.actions.githubusercontent.com"
GH_OAUTH = "https://github.com/login/oauth"
GH_IDENTITY = "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"

# (artifact, instance, expected verdict, identity args that match the signer, reason pattern)
ROWS = [
    ("bundle_v3_github.whl", "production", "valid",
     ["--github-repository", "trailofbits/rfc8785.py", "--github-ref", "refs/tags/v0.1.2",
      "--github-trigger", "release"], None),
    ("bundle.txt", "staging", "valid", ["--identity", "a@tny.town", "--issuer", GH_OAUTH], None),
    ("bundle_v3.txt", "staging", "valid", ["--identity", "william@yossarian.net", "--issuer", GH_OAUTH], None),
    ("staging-rekor-v2.txt", "staging", "valid", ["--identity", "jku@goto.fi", "--issuer", GH_OAUTH], None),
    ("bundle_cve_2022_36056.txt", "staging", "invalid",
     ["--identity", "william@yossarian.net", "--issuer", GH_OAUTH], r"log entry is inconsistent"),
    ("bundle_invalid_version.txt", "staging", "invalid",
     ["--identity", "a@tny.town", "--issuer", GH_OAUTH], r"unknown bundle media type"),
    ("bundle_no_log_entry.txt", "staging", "invalid",
     ["--identity", "a@tny.town", "--issuer", GH_OAUTH], r"no transparency log entry|exactly one log entry"),
    ("bundle_no_cert_v1.txt", "staging", "invalid",
     ["--identity", "a@tny.town", "--issuer", GH_OAUTH], r"certificate chain"),
]


def _bundle(d: Path, artifact: str) -> Path:
    for suffix in (".sigstore", ".sigstore.json"):
        if (d / (artifact + suffix)).is_file():
            return d / (artifact + suffix)
    raise AssertionError(f"no bundle for {artifact}")


def _instance_args(instance: str) -> list[str]:
    return ["--staging"] if instance == "staging" else []


def test_rows_match_the_readme(shared_dir: Path) -> None:
    """The table above is the README's table: no row is left out."""
    text = (shared_dir / "data" / "sigstore" / "README.md").read_text(encoding="utf-8")
    readme_rows = re.findall(r"^\| ([\w.-]+\.(?:txt|whl)) \| (\w+) \| (valid|INVALID)", text, re.M)
    assert readme_rows, "README table not found"
    mine = {(a, "valid" if v == "valid" else "invalid") for a, _, v, _, _ in ROWS}
    theirs = {(a, "valid" if v == "valid" else "invalid") for a, _, v in readme_rows}
    assert mine == theirs


@pytest.mark.parametrize(("artifact", "instance", "verdict", "who", "reason"), ROWS, ids=[r[0] for r in ROWS])
def test_readme_verdict(shared_dir, run_json, artifact, instance, verdict, who, reason) -> None:
    d = shared_dir / "data" / "sigstore"
    code, gate, _ = run_json("verify", d / artifact, "--bundle", _bundle(d, artifact), *who,
                             *_instance_args(instance))
    if verdict == "valid":
        assert code == 0, gate
        assert gate["status"] == "passed"
        assert gate["stats"]["verified"] == 1
    else:
        assert code == 1, gate
        assert gate["status"] == "failed"
        assert re.search(reason, reasons(gate)), reasons(gate)


VALID = [r for r in ROWS if r[2] == "valid"]


@pytest.mark.parametrize(("artifact", "instance", "verdict", "who", "reason"), VALID, ids=[r[0] for r in VALID])
def test_flipped_byte_fails(shared_dir, tmp_path, run_json, artifact, instance, verdict, who, reason) -> None:
    d = shared_dir / "data" / "sigstore"
    copy = tmp_path / artifact
    data = bytearray((d / artifact).read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    code, gate, _ = run_json("verify", copy, "--bundle", _bundle(d, artifact), *who, *_instance_args(instance))
    assert code == 1
    assert "digest mismatch" in reasons(gate)
    assert gate["findings"][0]["rule_id"] == "EGS002"


@pytest.mark.parametrize(("artifact", "instance", "verdict", "who", "reason"), VALID, ids=[r[0] for r in VALID])
def test_wrong_identity_fails(shared_dir, run_json, artifact, instance, verdict, who, reason) -> None:
    d = shared_dir / "data" / "sigstore"
    code, gate, _ = run_json("verify", d / artifact, "--bundle", _bundle(d, artifact),
                             "--identity", "mallory@example.com", "--issuer", GH_OAUTH if "github" not in artifact
                             else GH_ISSUER, *_instance_args(instance))
    assert code == 1
    assert "mallory@example.com" in reasons(gate)
    assert gate["findings"][0]["rule_id"] == "EGS003"


@pytest.mark.parametrize(("artifact", "instance", "verdict", "who", "reason"), VALID, ids=[r[0] for r in VALID])
def test_wrong_issuer_fails(shared_dir, run_json, artifact, instance, verdict, who, reason) -> None:
    d = shared_dir / "data" / "sigstore"
    identity = GH_IDENTITY if "github" in artifact else who[1]
    code, gate, _ = run_json("verify", d / artifact, "--bundle", _bundle(d, artifact),
                             "--identity", identity, "--issuer", "https://accounts.google.com",
                             *_instance_args(instance))
    assert code == 1
    assert "OIDCIssuer" in reasons(gate)


@pytest.mark.parametrize("artifact", ["bundle.txt", "bundle_v3.txt", "staging-rekor-v2.txt"])
def test_staging_bundle_against_production_root_fails(shared_dir, run_json, artifact) -> None:
    d = shared_dir / "data" / "sigstore"
    who = next(r[3] for r in ROWS if r[0] == artifact)
    code, gate, _ = run_json("verify", d / artifact, "--bundle", _bundle(d, artifact), *who)
    assert code == 1
    assert gate["findings"][0]["rule_id"] == "EGS005"


def test_production_bundle_against_staging_root_fails(shared_dir, run_json) -> None:
    d = shared_dir / "data" / "sigstore"
    code, gate, _ = run_json("verify", d / "bundle_v3_github.whl", "--bundle", _bundle(d, "bundle_v3_github.whl"),
                             "--github-repository", "trailofbits/rfc8785.py", "--staging")
    assert code == 1
    assert gate["findings"][0]["rule_id"] == "EGS005"


def test_github_identity_as_uri_and_wrong_repository(shared_dir, run_json) -> None:
    d = shared_dir / "data" / "sigstore"
    whl, bundle = d / "bundle_v3_github.whl", _bundle(d, "bundle_v3_github.whl")
    code, _, _ = run_json("verify", whl, "--bundle", bundle, "--identity", GH_IDENTITY, "--issuer", GH_ISSUER)
    assert code == 0
    code, gate, _ = run_json("verify", whl, "--bundle", bundle, "--github-repository", "evil/rfc8785.py")
    assert code == 1
    assert "GitHubWorkflowRepository" in reasons(gate)
    code, gate, _ = run_json("verify", whl, "--bundle", bundle, "--github-repository", "trailofbits/rfc8785.py",
                             "--github-ref", "refs/tags/v9.9.9")
    assert code == 1
    assert "GitHubWorkflowRef" in reasons(gate)


def test_bundle_for_another_artifact_fails(shared_dir, run_json) -> None:
    d = shared_dir / "data" / "sigstore"
    code, gate, _ = run_json("verify", d / "bundle_v3.txt", "--bundle", _bundle(d, "bundle.txt"),
                             "--identity", "a@tny.town", "--issuer", GH_OAUTH, "--staging")
    assert code == 1
    assert "another artifact" in reasons(gate)


def test_identity_or_key_is_required(shared_dir, cli) -> None:
    d = shared_dir / "data" / "sigstore"
    res = cli("verify", d / "bundle.txt", "--bundle", _bundle(d, "bundle.txt"), "--staging")
    assert res.exit_code == 2
    assert "identity or key is required" in res.stderr
    assert "Traceback" not in res.stderr
    res = cli("verify", d / "bundle.txt", "--bundle", _bundle(d, "bundle.txt"), "--identity", "a@tny.town")
    assert res.exit_code == 2
    assert "--issuer" in res.stderr


def test_missing_bundle_and_bad_json_are_input_errors(shared_dir, tmp_path, cli) -> None:
    d = shared_dir / "data" / "sigstore"
    res = cli("verify", d / "bundle.txt", "--bundle", tmp_path / "absent.sigstore.json",
              "--identity", "a@tny.town", "--issuer", GH_OAUTH)
    assert res.exit_code == 2
    assert "no such file" in res.stderr
    bad = tmp_path / "bad.sigstore.json"
    bad.write_text("{not json")
    res = cli("verify", d / "bundle.txt", "--bundle", bad, "--identity", "a@tny.town", "--issuer", GH_OAUTH)
    assert res.exit_code == 2
    assert "not JSON" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_certificate_bundle_with_key_is_refused(shared_dir, keypair, run_json) -> None:
    d = shared_dir / "data" / "sigstore"
    code, gate, _ = run_json("verify", d / "bundle.txt", "--bundle", _bundle(d, "bundle.txt"), "--key", keypair[1])
    assert code == 1
    assert "certificate, not a public key" in reasons(gate)


def test_default_bundle_name(shared_dir, tmp_path, run_json) -> None:
    d = shared_dir / "data" / "sigstore"
    shutil.copy(d / "staging-rekor-v2.txt", tmp_path / "a.txt")
    shutil.copy(d / "staging-rekor-v2.txt.sigstore.json", tmp_path / "a.txt.sigstore.json")
    code, _, _ = run_json("verify", tmp_path / "a.txt", "--identity", "jku@goto.fi", "--issuer", GH_OAUTH,
                          "--staging")
    assert code == 0
