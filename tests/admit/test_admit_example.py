"""`edgegate admit examples/edge-app` against a local registry mirror: the example's pinned
images are pushed (deterministic, so the pins hold), inference-server signed with the example
key, text-classifier's signature tampered, python:latest left unsigned (a warn-mode policy)."""

from __future__ import annotations

import base64
import json
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
