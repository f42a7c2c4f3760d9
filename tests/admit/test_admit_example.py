"""`edgegate admit examples/edge-app` against a local registry mirror: the example's pinned
images are pushed (deterministic, so the pins hold), inference-server signed with the example
key, text-classifier's signature tampered, python:latest left unsigned (a warn-mode policy)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from admit_helpers import fixed_image, image_line, push_raw, run_cosign

EXAMPLE_PASSWORD = "edgegate-example"
SIGNED = "registry.apexlogic.ai/edge/inference-server"
TAMPERED = "registry.apexlogic.ai/edge/text-classifier"


@pytest.fixture(scope="module")
def mirror(registry: str) -> dict[str, str]:
    digests = {}
    for name in (SIGNED, TAMPERED):
        blobs, manifest = fixed_image(name)
        digests[name] = push_raw(registry, name.split("/", 1)[1], "v1", blobs, manifest)
    blobs, manifest = fixed_image("python")
    digests["python"] = push_raw(registry, "library/python", "latest", blobs, manifest)
    return digests


def _sign(cli: Any, root: Path, image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEGATE_KEY_PASSWORD", EXAMPLE_PASSWORD)
    r = cli("sign", "--image", image, "--key", root / "examples/edge-app/admit/example-signer.key", "--insecure")
    assert r.exit_code == 0, r.stderr


def test_admit_example(registry: str, mirror: dict[str, str], cli: Any, root_dir: Path,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEGATE_ADMIT_MIRRORS", f"registry.apexlogic.ai={registry},docker.io={registry}")
    app = root_dir / "examples" / "edge-app"
    manifests = app / "manifests"
    signed_ref = f"{SIGNED}@{mirror[SIGNED]}"
    tampered_ref = f"{TAMPERED}@{mirror[TAMPERED]}"
    assert signed_ref in (manifests / "inference-deployment.yaml").read_text()  # the pins hold
    assert tampered_ref in (manifests / "knative-service.yaml").read_text()
    _sign(cli, root_dir, signed_ref, monkeypatch)
    _sign(cli, root_dir, tampered_ref, monkeypatch)
    tag = mirror[TAMPERED].replace(":", "-") + ".sig"
    url = f"http://{registry}/v2/edge/text-classifier/manifests/{tag}"
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})) as r:
        m = json.loads(r.read())
    sig = bytearray(base64.b64decode(m["layers"][-1]["annotations"]["dev.cosignproject.cosign/signature"]))
    sig[10] ^= 0xFF
    m["layers"][-1]["annotations"]["dev.cosignproject.cosign/signature"] = base64.b64encode(bytes(sig)).decode()
    put = urllib.request.Request(url, data=json.dumps(m).encode(), method="PUT",
                                 headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(put):
        pass

    r = cli("admit", "examples/edge-app", "-f", "json", cwd=root_dir)
    assert r.exit_code == 1, r.stderr
    doc = json.loads(r.stdout)
    (gate,) = doc["gates"]
    assert gate["errors"] == []
    by_rule = {f["rule_id"]: f for f in gate["findings"]}
    assert set(by_rule) == {"EGA000", "EGA001", "EGA002"}
    ok, unsigned, tampered = by_rule["EGA000"], by_rule["EGA001"], by_rule["EGA002"]
    assert ok["message"].startswith(signed_ref) and ok["location"]["line"] == image_line(
        manifests / "inference-deployment.yaml", signed_ref)
    assert tampered["message"].startswith(tampered_ref) and tampered["blocking"] is True
    assert tampered["location"]["path"].endswith("knative-service.yaml")
    assert tampered["location"]["line"] == image_line(manifests / "knative-service.yaml", tampered_ref)
    assert unsigned["message"].startswith("docker.io/library/python:latest") and unsigned["blocking"] is False
    assert unsigned["details"]["digest"] == mirror["python"]

    # the same through `edgegate check --gate admit`
    r = cli("check", "examples/edge-app", "--gate", "admit", "-f", "json", cwd=root_dir)
    assert r.exit_code == 1 and {f["rule_id"] for f in json.loads(r.stdout)["gates"][0]["findings"]} == set(by_rule)


def test_cosign_verifies_the_example_signature(registry: str, mirror: dict[str, str], cli: Any, cosign: str,
                                               root_dir: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEGATE_ADMIT_MIRRORS", f"registry.apexlogic.ai={registry}")
    _sign(cli, root_dir, f"{SIGNED}@{mirror[SIGNED]}", monkeypatch)
    pub = root_dir / "examples/edge-app/admit/example-signer.pub"
    ok = run_cosign(cosign, "verify", "--key", str(pub), "--insecure-ignore-tlog=true", "--allow-http-registry",
                    f"{registry}/edge/inference-server@{mirror[SIGNED]}", cwd=tmp_path, check=False)
    assert ok.returncode == 0, ok.stderr
    assert f'"docker-reference":"{SIGNED}"' in ok.stdout


def test_plain_check_leaves_admit_out(cli: Any, root_dir: Path) -> None:
    r = cli("check", "examples/edge-app", "-f", "json", cwd=root_dir)
    assert r.exit_code == 1
    assert "admit" not in {g["gate"] for g in json.loads(r.stdout)["gates"]}


def _export(registry: str, repo: str, name: str, reference: str, layout: Path) -> None:
    """Copy `repo`@`reference` and its .sig tag from the registry into an OCI layout, named `name`."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    index_path = layout / "index.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {"schemaVersion": 2, "manifests": []}
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')

    def get(path: str) -> bytes:
        req = urllib.request.Request(f"http://{registry}/v2/{repo}/{path}",
                                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        with urllib.request.urlopen(req) as r:
            return bytes(r.read())

    import hashlib

    def add_manifest(ref: str, tag: str | None) -> str:
        data = get(f"manifests/{ref}")
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        (blobs / digest[7:]).write_bytes(data)
        doc = json.loads(data)
        for d in [doc["config"], *doc["layers"]]:
            (blobs / d["digest"][7:]).write_bytes(get(f"blobs/{d['digest']}"))
        entry: dict[str, Any] = {"mediaType": doc["mediaType"], "digest": digest, "size": len(data)}
        if tag:
            entry["annotations"] = {"org.opencontainers.image.ref.name": f"{name}:{tag}"}
        index["manifests"].append(entry)
        return digest

    digest = add_manifest(reference, None if reference.startswith("sha256:") else reference)
    try:
        add_manifest(digest.replace(":", "-") + ".sig", digest.replace(":", "-") + ".sig")
    except urllib.error.HTTPError:
        pass  # unsigned
    index_path.write_text(json.dumps(index))


def test_admit_example_offline_from_an_oci_layout(registry: str, mirror: dict[str, str], cli: Any, root_dir: Path,
                                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same verdicts with no registry at all: images and signatures from an OCI layout."""
    monkeypatch.setenv("EDGEGATE_ADMIT_MIRRORS", f"registry.apexlogic.ai={registry},docker.io={registry}")
    _sign(cli, root_dir, f"{SIGNED}@{mirror[SIGNED]}", monkeypatch)
    layout = tmp_path / "mirror"
    _export(registry, "edge/inference-server", SIGNED, mirror[SIGNED], layout)
    _export(registry, "edge/text-classifier", TAMPERED, mirror[TAMPERED], layout)
    _export(registry, "library/python", "docker.io/library/python", "latest", layout)
    monkeypatch.delenv("EDGEGATE_ADMIT_MIRRORS")
    r = cli("admit", "examples/edge-app", "--oci-dir", layout, "-f", "json", cwd=root_dir)
    gate = json.loads(r.stdout)["gates"][0]
    assert r.exit_code == 1 and gate["errors"] == []
    by_rule = {f["rule_id"]: f for f in gate["findings"]}
    assert by_rule["EGA000"]["message"].startswith(f"{SIGNED}@{mirror[SIGNED]}")
    assert by_rule["EGA002"]["message"].startswith(f"{TAMPERED}@{mirror[TAMPERED]}")
    assert by_rule["EGA001"]["details"]["digest"] == mirror["python"]
