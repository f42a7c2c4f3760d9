"""Interop with real cosign in key mode (--tlog-upload=false) on a real local registry, in both
storage schemes: edgegate admits what cosign signed and attested, cosign verifies what
`edgegate sign --image` signed; tampered, copied, missing, wrong-key and retagged signatures are
exit 1 naming the image and its manifest line."""

from __future__ import annotations

import base64
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from admit_helpers import PASSWORD, image_line, manifest_yaml, push_image, run_cosign

PROVENANCE = {
    "buildDefinition": {
        "buildType": "https://actions.github.io/buildtypes/workflow/v1",
        "externalParameters": {"workflow": {"repository": "https://github.com/apexlogic/edge", "ref": "refs/heads/main"}},
    },
    "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}},
}
SLSA = "https://slsa.dev/provenance/v1"


def _get(url: str, accept: str = "application/vnd.oci.image.manifest.v1+json") -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": accept}), timeout=10) as r:
        return bytes(r.read())


def _put(url: str, data: bytes, media: str) -> None:
    req = urllib.request.Request(url, data=data, method="PUT", headers={"Content-Type": media})
    with urllib.request.urlopen(req, timeout=10):
        pass


def _post_blob(host: str, repo: str, data: bytes) -> str:
    import hashlib

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    req = urllib.request.Request(f"http://{host}/v2/{repo}/blobs/uploads/", data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        loc = r.headers["Location"]
    loc = loc if loc.startswith("http") else f"http://{host}{loc}"
    _put(f"{loc}{'&' if '?' in loc else '?'}digest={digest}", data, "application/octet-stream")
    return digest


@pytest.fixture(scope="module")
def world(registry: str, cosign: str, tmp_path_factory: pytest.TempPathFactory,
          edgegate_keys: tuple[Path, Path]) -> dict[str, Any]:
    """Images signed every way, keys, and a trusted root file for cosign's bundle verification."""
    tmp = tmp_path_factory.mktemp("cosign-world")
    run_cosign(cosign, "generate-key-pair", cwd=tmp)
    w: dict[str, Any] = {"host": registry, "tmp": tmp, "cosign_key": tmp / "cosign.key", "cosign_pub": tmp / "cosign.pub"}
    digests = {}
    for name in ("legacy", "bundle", "tampered", "copied", "retag", "unsigned", "eg-legacy", "eg-ref", "att", "att-bundle",
                 "att-other", "ref-other"):
        digests[name] = push_image(registry, f"edge/{name}", "1.0", tmp)
    w["digests"] = digests

    def sign(name: str, *extra: str) -> None:
        run_cosign(cosign, "sign", "--key", str(w["cosign_key"]), "--tlog-upload=false", "--allow-http-registry",
                   *extra, f"{registry}/edge/{name}@{digests[name]}", cwd=tmp)

    sign("legacy")
    sign("bundle", "--new-bundle-format")
    sign("tampered")
    sign("retag")
    sign("att")
    sign("att-bundle", "--new-bundle-format")
    sign("att-other")
    pred = tmp / "provenance.json"
    pred.write_text(json.dumps(PROVENANCE))
    for name, extra in (("att", ()), ("att-bundle", ("--new-bundle-format",))):
        run_cosign(cosign, "attest", "--key", str(w["cosign_key"]), "--predicate", str(pred), "--type", "slsaprovenance1",
                   "--tlog-upload=false", "--allow-http-registry", *extra, f"{registry}/edge/{name}@{digests[name]}", cwd=tmp)
    # an attestation by another key
    other = tmp / "other"
    other.mkdir()
    run_cosign(cosign, "generate-key-pair", cwd=other)
    run_cosign(cosign, "attest", "--key", str(other / "cosign.key"), "--predicate", str(pred), "--type", "slsaprovenance1",
               "--tlog-upload=false", "--allow-http-registry", f"{registry}/edge/att-other@{digests['att-other']}", cwd=tmp)

    # tampered: one byte of the signature changed (still base64)
    tag = digests["tampered"].replace(":", "-") + ".sig"
    m = json.loads(_get(f"http://{registry}/v2/edge/tampered/manifests/{tag}"))
    sig = bytearray(base64.b64decode(m["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"]))
    sig[-3] ^= 0x01
    m["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"] = base64.b64encode(bytes(sig)).decode()
    _put(f"http://{registry}/v2/edge/tampered/manifests/{tag}", json.dumps(m).encode(), m["mediaType"])

    # copied: edge/legacy's valid signature (payload for its digest) put on edge/copied
    legacy_tag = digests["legacy"].replace(":", "-") + ".sig"
    lm = json.loads(_get(f"http://{registry}/v2/edge/legacy/manifests/{legacy_tag}"))
    for blob in [lm["config"]] + lm["layers"]:
        _post_blob(registry, "edge/copied", _get(f"http://{registry}/v2/edge/legacy/blobs/{blob['digest']}", "*/*"))
    _put(f"http://{registry}/v2/edge/copied/manifests/{digests['copied'].replace(':', '-')}.sig",
         json.dumps(lm).encode(), lm["mediaType"])

    # retagged: edge/retag:1.0 now names a different, unsigned image
    w["retag_old"] = digests["retag"]
    digests["retag"] = push_image(registry, "edge/retag", "1.0", tmp)
    return w


def _admit(cli: Any, *args: str | Path) -> tuple[int, list[dict[str, Any]], list[str]]:
    r = cli("admit", *args, "--insecure", "-f", "json")
    doc = json.loads(r.stdout) if r.stdout.strip().startswith("{") else {"gates": []}
    findings = [f for g in doc["gates"] for f in g["findings"]]
    errors = [e for g in doc["gates"] for e in g["errors"]]
    return r.exit_code, findings, errors or ([r.stderr] if r.stderr else [])


def _rules(findings: list[dict[str, Any]]) -> dict[str, str]:
    return {f["message"].split(" ", 1)[0]: f["rule_id"] for f in findings}


def test_admits_cosign_signatures_in_both_schemes(world: dict[str, Any], cli: Any, tmp_path: Path) -> None:
    host = world["host"]
    images = [f"{host}/edge/legacy:1.0", f"{host}/edge/bundle:1.0"]
    m = manifest_yaml(tmp_path / "deploy.yaml", images)
    code, findings, errors = _admit(cli, m, "--key", world["cosign_pub"])
    assert (code, errors) == (0, [])
    assert [f["rule_id"] for f in findings] == ["EGA000", "EGA000"]
    for image, f in zip(images, findings, strict=True):
        assert f["location"]["line"] == image_line(m, image)
        assert world["digests"][image.split("/")[-1].split(":")[0]] in f["message"]
    assert ".sig)" in findings[0]["message"] and "bundle v0.3" in findings[1]["message"]


@pytest.mark.parametrize(
    ("name", "rule"),
    [("unsigned", "EGA001"), ("tampered", "EGA002"), ("copied", "EGA003"), ("retag", "EGA001")],
)
def test_refuses_bad_signatures_naming_image_and_line(
    world: dict[str, Any], cli: Any, tmp_path: Path, name: str, rule: str
) -> None:
    host = world["host"]
    good = f"{host}/edge/legacy:1.0"
    bad = f"{host}/edge/{name}:1.0"
    m = manifest_yaml(tmp_path / "deploy.yaml", [good, bad])
    code, findings, errors = _admit(cli, m, "--key", world["cosign_pub"])
    assert (code, errors) == (1, [])
    by_rule = {f["rule_id"]: f for f in findings}
    assert set(by_rule) == {"EGA000", rule}
    f = by_rule[rule]
    assert f["message"].startswith(bad) and world["digests"][name] in f["message"]
    assert f["location"]["path"] == str(m) and f["location"]["line"] == image_line(m, bad)


def test_retagged_image_old_digest_still_admitted(world: dict[str, Any], cli: Any, tmp_path: Path) -> None:
    pinned = f"{world['host']}/edge/retag@{world['retag_old']}"
    m = manifest_yaml(tmp_path / "deploy.yaml", [pinned])
    code, findings, _ = _admit(cli, m, "--key", world["cosign_pub"])
    assert code == 0 and findings[0]["rule_id"] == "EGA000"


def test_wrong_key_refused_in_both_schemes(world: dict[str, Any], cli: Any, tmp_path: Path,
                                           other_keys: tuple[Path, Path]) -> None:
    host = world["host"]
    m = manifest_yaml(tmp_path / "deploy.yaml", [f"{host}/edge/legacy:1.0", f"{host}/edge/bundle:1.0"])
    code, findings, errors = _admit(cli, m, "--key", other_keys[1])
    assert (code, errors) == (1, [])
    assert [f["rule_id"] for f in findings] == ["EGA002", "EGA002"]


@pytest.mark.parametrize("scheme", ["tag", "referrers"])
def test_cosign_verifies_what_edgegate_signed(world: dict[str, Any], cli: Any, cosign: str, tmp_path: Path,
                                              edgegate_keys: tuple[Path, Path], other_keys: tuple[Path, Path],
                                              scheme: str, monkeypatch: pytest.MonkeyPatch) -> None:
    host = world["host"]
    name = "eg-legacy" if scheme == "tag" else "eg-ref"
    ref = f"{host}/edge/{name}:1.0"
    monkeypatch.setenv("EDGEGATE_KEY_PASSWORD", PASSWORD)
    r = cli("sign", "--image", ref, "--key", edgegate_keys[0], "--scheme", scheme, "--insecure", "-f", "json")
    assert r.exit_code == 0, r.stderr
    assert world["digests"][name] in r.stdout
    extra = [] if scheme == "tag" else ["--new-bundle-format", "--trusted-root", str(_trusted_root(tmp_path))]
    ok = run_cosign(cosign, "verify", "--key", str(edgegate_keys[1]), "--insecure-ignore-tlog=true",
                    "--allow-http-registry", *extra, ref, cwd=tmp_path, check=False)
    assert ok.returncode == 0, ok.stderr
    assert world["digests"][name] in ok.stdout
    wrong = run_cosign(cosign, "verify", "--key", str(other_keys[1]), "--insecure-ignore-tlog=true",
                       "--allow-http-registry", *extra, ref, cwd=tmp_path, check=False)
    assert wrong.returncode != 0
    # and edgegate admits its own signature, refusing it under another key
    m = manifest_yaml(tmp_path / "deploy.yaml", [ref])
    assert _admit(cli, m, "--key", edgegate_keys[1])[0] == 0
    assert _admit(cli, m, "--key", other_keys[1])[0] == 1


def test_referrer_bundle_about_another_digest_refused(world: dict[str, Any], cli: Any, tmp_path: Path) -> None:
    """edge/legacy's cosign bundle (statement about its digest) attached as a referrer of another image."""
    host = world["host"]
    src = world["digests"]["bundle"]
    index = json.loads(_get(f"http://{host}/v2/edge/bundle/manifests/{src.replace(':', '-')}",
                            "application/vnd.oci.image.index.v1+json"))
    referrer = json.loads(_get(f"http://{host}/v2/edge/bundle/manifests/{index['manifests'][0]['digest']}"))
    target = world["digests"]["ref-other"]
    for blob in [referrer["config"], *referrer["layers"]]:
        _post_blob(host, "edge/ref-other", _get(f"http://{host}/v2/edge/bundle/blobs/{blob['digest']}", "*/*"))
    target_manifest = _get(f"http://{host}/v2/edge/ref-other/manifests/{target}")
    referrer["subject"] = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": target,
                           "size": len(target_manifest)}
    data = json.dumps(referrer).encode()
    import hashlib

    rd = "sha256:" + hashlib.sha256(data).hexdigest()
    _put(f"http://{host}/v2/edge/ref-other/manifests/{rd}", data, "application/vnd.oci.image.manifest.v1+json")
    idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
           "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": rd, "size": len(data)}]}
    _put(f"http://{host}/v2/edge/ref-other/manifests/{target.replace(':', '-')}", json.dumps(idx).encode(),
         "application/vnd.oci.image.index.v1+json")
    m = manifest_yaml(tmp_path / "deploy.yaml", [f"{host}/edge/ref-other:1.0"])
    code, findings, _ = _admit(cli, m, "--key", world["cosign_pub"])
    assert code == 1 and findings[0]["rule_id"] == "EGA003" and src in findings[0]["message"]


def _rego(folder: Path, builder: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "provenance.rego").write_text(
        "package main\n\nimport rego.v1\n\n"
        "deny contains msg if {\n"
        f'\tinput.predicate.runDetails.builder.id != "{builder}"\n'
        '\tmsg := sprintf("untrusted builder %s", [input.predicate.runDetails.builder.id])\n}\n\n'
        "deny contains msg if {\n"
        '\tnot input.predicate.buildDefinition.externalParameters.workflow.repository\n'
        '\tmsg := "provenance names no source repository"\n}\n'
    )
    return folder


@pytest.mark.parametrize("name", ["att", "att-bundle"])
def test_attestation_policy_on_real_cosign_attestations(world: dict[str, Any], cli: Any, tmp_path: Path,
                                                        name: str) -> None:
    ref = f"{world['host']}/edge/{name}:1.0"
    m = manifest_yaml(tmp_path / "deploy.yaml", [ref])
    good = _rego(tmp_path / "good", "https://github.com/actions/runner/github-hosted")
    bad = _rego(tmp_path / "bad", "https://builder.example")
    code, findings, errors = _admit(cli, m, "--key", world["cosign_pub"], "--attestation", f"{SLSA}={good}")
    assert (code, errors) == (0, []) and findings[0]["rule_id"] == "EGA000" and SLSA in findings[0]["message"]
    code, findings, errors = _admit(cli, m, "--key", world["cosign_pub"], "--attestation", f"{SLSA}={bad}")
    assert (code, errors) == (1, [])
    assert [f["rule_id"] for f in findings] == ["EGA006"]
    assert "untrusted builder https://github.com/actions/runner/github-hosted" in findings[0]["message"]
    assert findings[0]["location"]["line"] == image_line(m, ref)


def test_attestation_missing_or_by_another_key(world: dict[str, Any], cli: Any, tmp_path: Path) -> None:
    host = world["host"]
    m = manifest_yaml(tmp_path / "deploy.yaml", [f"{host}/edge/legacy:1.0", f"{host}/edge/att-other:1.0"])
    code, findings, errors = _admit(cli, m, "--key", world["cosign_pub"], "--attestation", SLSA)
    assert (code, errors) == (1, [])
    assert [f["rule_id"] for f in findings] == ["EGA005", "EGA005"]
    assert "no https://slsa.dev/provenance/v1 attestation" in findings[0]["message"]
    assert "does not verify" in findings[1]["message"]


def _trusted_root(tmp: Path) -> Path:
    """sigstore-python's embedded production trusted root (cosign needs one for bundles, even in key mode)."""
    import sigstore

    base = Path(sigstore.__file__).parent / "_store"
    found = next(p for p in base.rglob("trusted_root.json") if "sigstore.dev" in str(p) and "sigstage" not in str(p))
    dest = tmp / "trusted_root.json"
    dest.write_bytes(found.read_bytes())
    return dest


def test_identity_only_policy_refuses_legacy_key_signature(world: dict[str, Any], cli: Any, tmp_path: Path) -> None:
    m = manifest_yaml(tmp_path / "deploy.yaml", [f"{world['host']}/edge/legacy:1.0", f"{world['host']}/edge/bundle:1.0"])
    code, findings, errors = _admit(cli, m, "--identity", "dev@example.com", "--issuer", "https://accounts.example.com")
    assert (code, errors) == (1, [])
    assert [f["rule_id"] for f in findings] == ["EGA004", "EGA004"]
