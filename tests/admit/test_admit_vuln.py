"""Known vulnerabilities of admitted images: the SBOM is built from the registry by digest and
matched against the offline OSV database (the example's PyPA excerpt), gated by severity."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from admit_helpers import PASSWORD, manifest_yaml, oci_layout, push_layout
from sbom_helpers import E, layer_tar

METADATA = "Metadata-Version: 2.1\nName: Jinja2\nVersion: 2.10\n"


def test_admitted_image_is_scanned_refused_image_is_not(registry: str, cli: Any, root_dir: Path, tmp_path: Path,
                                                        edgegate_keys: tuple[Path, Path],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    layer = layer_tar([E("usr/lib/python3/dist-packages/Jinja2-2.10.dist-info/METADATA", data=METADATA)])
    for repo in ("edge/vuln-signed", "edge/vuln-unsigned"):
        push_layout(registry, repo, "1", oci_layout(tmp_path / repo.replace("/", "-"), [layer]))
    monkeypatch.setenv("EDGEGATE_KEY_PASSWORD", PASSWORD)
    signed = f"{registry}/edge/vuln-signed:1"
    assert cli("sign", "--image", signed, "--key", edgegate_keys[0], "--insecure").exit_code == 0
    db = root_dir / "examples/edge-app/vuln/osv"

    m = manifest_yaml(tmp_path / "d.yaml", [signed])
    sboms = tmp_path / "sboms"
    r = cli("admit", m, "--key", edgegate_keys[1], "--insecure", "--vuln-db", db, "--fail-on", "high",
            "--sbom-dir", sboms, "-f", "json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 1, r.stderr
    admit_gate, vuln_gate = doc["gates"]
    assert admit_gate["status"] == "passed" and vuln_gate["gate"] == "vuln" and vuln_gate["status"] == "failed"
    blocking = [f for f in vuln_gate["findings"] if f["blocking"]]
    assert {f["rule_id"] for f in blocking} == {"PYSEC-2019-217", "PYSEC-2021-66"}
    assert all(f["location"]["path"] == signed and f["message"].startswith("jinja2 2.10") for f in blocking)
    assert len(list(sboms.glob("sha256-*.cdx.json"))) == 1
    # with a threshold above the findings the gate passes
    r = cli("admit", m, "--key", edgegate_keys[1], "--insecure", "--vuln-db", db, "--fail-on", "critical", "-f", "json")
    assert r.exit_code == 0, r.stdout
    # an image that is refused is not scanned (nothing verified to scan)
    m2 = manifest_yaml(tmp_path / "d2.yaml", [f"{registry}/edge/vuln-unsigned:1"])
    r = cli("admit", m2, "--key", edgegate_keys[1], "--insecure", "--vuln-db", db, "-f", "json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 1 and doc["gates"][1]["stats"] == {"images": 0}


def test_admitted_image_scanned_from_an_oci_layout(registry: str, cli: Any, root_dir: Path, tmp_path: Path,
                                                   edgegate_keys: tuple[Path, Path],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """--oci-dir with --vuln-db: the image is verified and scanned from the layout (by the
    verified digest); its name's registry does not exist."""
    from test_admit_example import _export

    layer = layer_tar([E("usr/lib/python3/dist-packages/Jinja2-2.10.dist-info/METADATA", data=METADATA)])
    push_layout(registry, "edge/vuln-layout", "1", oci_layout(tmp_path / "src", [layer]))
    monkeypatch.setenv("EDGEGATE_KEY_PASSWORD", PASSWORD)
    assert cli("sign", "--image", f"{registry}/edge/vuln-layout:1", "--key", edgegate_keys[0],
               "--insecure").exit_code == 0
    layout = tmp_path / "layout"
    name = "registry.invalid/edge/vuln-layout"
    _export(registry, "edge/vuln-layout", name, "1", layout)
    db = root_dir / "examples/edge-app/vuln/osv"
    m = manifest_yaml(tmp_path / "d.yaml", [f"{name}:1"])
    sboms = tmp_path / "sboms"
    r = cli("admit", m, "--key", edgegate_keys[1], "--oci-dir", layout, "--vuln-db", db, "--fail-on", "high",
            "--sbom-dir", sboms, "-f", "json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 1, r.stdout
    admit_gate, vuln_gate = doc["gates"]
    assert admit_gate["status"] == "passed" and vuln_gate["status"] == "failed", vuln_gate
    blocking = {f["rule_id"] for f in vuln_gate["findings"] if f["blocking"]}
    assert blocking == {"PYSEC-2019-217", "PYSEC-2021-66"}
    digest = admit_gate["findings"][0]["details"]["digest"]
    assert [p.name for p in sboms.iterdir()] == [f"{digest.replace(':', '-')}.cdx.json"]
    r = cli("admit", m, "--key", edgegate_keys[1], "--oci-dir", layout, "--vuln-db", db, "--fail-on", "critical",
            "-f", "json")
    assert r.exit_code == 0, r.stdout
    # the layers scanned are the verified manifest's: an altered layer blob is an error, not a pass
    manifest = json.loads((layout / "blobs/sha256" / digest.removeprefix("sha256:")).read_bytes())
    blob = layout / "blobs/sha256" / manifest["layers"][0]["digest"].removeprefix("sha256:")
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0x01
    blob.write_bytes(bytes(data))
    r = cli("admit", m, "--key", edgegate_keys[1], "--oci-dir", layout, "--vuln-db", db, "--fail-on", "critical",
            "-f", "json")
    assert r.exit_code == 2 and json.loads(r.stdout)["gates"][1]["status"] == "error", r.stdout
