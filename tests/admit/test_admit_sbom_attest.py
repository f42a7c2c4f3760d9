"""Attested SBOMs of admitted images: real cosign (key mode, --tlog-upload=false) attests a
CycloneDX SBOM (made by edgegate's own ``sbom image`` from the registry image) and an SPDX 2.3
JSON SBOM, in both storage schemes, on a real local registry; admit takes an SBOM attestation only
when its signature, subject digest and signer verify (cosign verify-attestation agrees on each),
and matches it against the offline OSV database as ``vuln scan`` does."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from admit_helpers import manifest_yaml, oci_layout, push_layout, run_cosign
from sbom_helpers import E, layer_tar

JINJA = "Metadata-Version: 2.1\nName: Jinja2\nVersion: 2.10\n"
CLEAN = "Metadata-Version: 2.1\nName: edgegate-demo-clean\nVersion: 1.0\n"
JINJA_ADVISORIES = {"PYSEC-2019-217", "PYSEC-2021-66"}


def _spdx(name: str, version: str, purl: str) -> dict[str, Any]:
    """A minimal valid SPDX 2.3 JSON document naming one package."""
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "edge-app-image",
        "documentNamespace": "https://example.com/spdx/edge-app-image-1",
        "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: hand-written-test"]},
        "packages": [
            {"SPDXID": "SPDXRef-image", "name": "edge-app", "downloadLocation": "NOASSERTION",
             "primaryPackagePurpose": "CONTAINER"},
            {"SPDXID": "SPDXRef-pkg", "name": name, "versionInfo": version, "downloadLocation": "NOASSERTION",
             "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                               "referenceLocator": purl}]},
        ],
        "relationships": [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                           "relatedSpdxElement": "SPDXRef-image"}],
    }


def _push(registry: str, tmp: Path, repo: str, metadata: str) -> str:
    layer = layer_tar([E("usr/lib/python3/dist-packages/pkg-1.dist-info/METADATA", data=metadata),
                       E("app/IMAGE", data=repo)])  # a distinct digest per image
    push_layout(registry, repo, "1", oci_layout(tmp / repo.replace("/", "-"), [layer]))
    req = urllib.request.Request(f"http://{registry}/v2/{repo}/manifests/1", method="HEAD",
                                 headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return str(r.headers["Docker-Content-Digest"])


@pytest.fixture(scope="module")
def world(registry: str, cosign: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from edgegate.sbom.api import image_sbom

    tmp = tmp_path_factory.mktemp("sbom-attest")
    run_cosign(cosign, "generate-key-pair", cwd=tmp)
    other = tmp / "other"
    other.mkdir()
    run_cosign(cosign, "generate-key-pair", cwd=other)
    w: dict[str, Any] = {"host": registry, "tmp": tmp, "key": tmp / "cosign.key", "pub": tmp / "cosign.pub"}
    d = {
        "cdx": _push(registry, tmp, "edge/sbom-cdx", JINJA),          # CycloneDX attested, legacy .att
        "spdx": _push(registry, tmp, "edge/sbom-spdx", CLEAN),        # SPDX attested (names Jinja2), referrer
        "none": _push(registry, tmp, "edge/sbom-none", JINJA),        # signed, no SBOM attestation
        "otherkey": _push(registry, tmp, "edge/sbom-otherkey", CLEAN),  # SBOM attested by another key
        "copied": _push(registry, tmp, "edge/sbom-copied", CLEAN),    # another image's SBOM attestation
    }
    assert len(set(d.values())) == len(d)
    w["digests"] = d

    def ref(name: str) -> str:
        return f"{registry}/edge/sbom-{name}@{d[name]}"

    def cosign_run(*args: str, cwd: Path = tmp) -> None:
        run_cosign(cosign, *args, "--tlog-upload=false", "--allow-http-registry", cwd=cwd)

    for name in d:
        cosign_run("sign", "--key", str(w["key"]), ref(name))
    # the CycloneDX SBOM of the image itself, by edgegate's own image reader
    cdx = tmp / "cdx.json"
    image_sbom(f"registry:{registry}/edge/sbom-cdx@{d['cdx']}", cdx, insecure=True)
    assert any(c.get("purl", "").startswith("pkg:pypi/jinja2@2.10") for c in json.loads(cdx.read_text())["components"])
    w["cdx"] = cdx
    cosign_run("attest", "--key", str(w["key"]), "--type", "cyclonedx", "--predicate", str(cdx), ref("cdx"))
    spdx = tmp / "spdx.json"
    spdx.write_text(json.dumps(_spdx("Jinja2", "2.10", "pkg:pypi/jinja2@2.10")))
    cosign_run("attest", "--key", str(w["key"]), "--type", "spdxjson", "--predicate", str(spdx),
               "--new-bundle-format", ref("spdx"))
    cosign_run("attest", "--key", str(other / "cosign.key"), "--type", "spdxjson", "--predicate", str(spdx),
               ref("otherkey"), cwd=other)
    # copied: edge/sbom-cdx's valid .att manifest (statement about its digest) put on edge/sbom-copied
    src = f"http://{registry}/v2/edge/sbom-cdx"
    att = d["cdx"].replace(":", "-") + ".att"
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    with urllib.request.urlopen(urllib.request.Request(f"{src}/manifests/{att}", headers=accept), timeout=10) as resp:
        m = json.loads(resp.read())
    from test_admit_cosign import _get, _post_blob, _put

    for blob in [m["config"]] + m["layers"]:
        _post_blob(registry, "edge/sbom-copied", _get(f"{src}/blobs/{blob['digest']}", "*/*"))
    _put(f"http://{registry}/v2/edge/sbom-copied/manifests/{d['copied'].replace(':', '-')}.att",
         json.dumps(m).encode(), m["mediaType"])
    return w


def _cosign_verifies(cosign: str, w: dict[str, Any], name: str, ptype: str) -> bool:
    from test_admit_cosign import _trusted_root

    extra = ["--new-bundle-format", "--trusted-root", str(_trusted_root(w["tmp"]))] if name == "spdx" else []
    proc = run_cosign(cosign, "verify-attestation", "--key", str(w["pub"]), "--type", ptype,
                      "--insecure-ignore-tlog=true", "--allow-http-registry", *extra,
                      f"{w['host']}/edge/sbom-{name}@{w['digests'][name]}", cwd=w["tmp"], check=False)
    return proc.returncode == 0


def _admit(cli: Any, w: dict[str, Any], name: str, mode: str, tmp_path: Path, db: Path) -> tuple[int, dict[str, Any]]:
    m = manifest_yaml(tmp_path / f"{name}.yaml", [f"{w['host']}/edge/sbom-{name}:1"])
    r = cli("admit", m, "--key", w["pub"], "--insecure", "--vuln-db", db, "--sbom", mode,
            "--sbom-dir", tmp_path / f"sboms-{name}-{mode}", "-f", "json")
    assert r.stdout.strip().startswith("{"), r.stderr
    return r.exit_code, json.loads(r.stdout)


@pytest.fixture
def db(root_dir: Path) -> Path:
    return root_dir / "examples/edge-app/vuln/osv"


def _blocking(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in doc["gates"][1]["findings"] if f["blocking"]]


def test_attested_cyclonedx_is_scanned_as_vuln_scan_scans_it(world: dict[str, Any], cli: Any, cosign: str,
                                                             tmp_path: Path, db: Path) -> None:
    assert _cosign_verifies(cosign, world, "cdx", "cyclonedx")
    code, doc = _admit(cli, world, "cdx", "attested", tmp_path, db)
    assert code == 1 and doc["gates"][0]["status"] == "passed"
    assert {f["rule_id"] for f in _blocking(doc)} == JINJA_ADVISORIES
    assert doc["gates"][1]["stats"]["sboms"] == {"attested": 1, "built": 0}
    kept = sorted(p.name for p in (tmp_path / "sboms-cdx-attested").iterdir())
    assert kept == [world["digests"]["cdx"].replace(":", "-") + ".attested-1.cdx.json"]  # nothing built
    # the same SBOM through `vuln scan` finds the same advisories
    r = cli("vuln", "scan", "--sbom", world["cdx"], "--db", db, "-f", "json")
    assert {f["rule_id"] for f in json.loads(r.stdout)["gates"][0]["findings"] if f["blocking"]} == JINJA_ADVISORIES


def test_attested_spdx_in_a_referrer_is_what_is_scanned(world: dict[str, Any], cli: Any, cosign: str,
                                                        tmp_path: Path, db: Path) -> None:
    assert _cosign_verifies(cosign, world, "spdx", "spdxjson")
    # the image holds no vulnerable package: the built SBOM passes ...
    code, doc = _admit(cli, world, "spdx", "build", tmp_path, db)
    assert code == 0, doc
    # ... the attested SPDX SBOM names Jinja2 2.10, and it is what the attested modes scan
    for mode in ("attested", "attested-or-build"):
        code, doc = _admit(cli, world, "spdx", mode, tmp_path, db)
        assert code == 1 and {f["rule_id"] for f in _blocking(doc)} == JINJA_ADVISORIES, mode


def test_missing_sbom_attestation(world: dict[str, Any], cli: Any, tmp_path: Path, db: Path) -> None:
    image = f"{world['host']}/edge/sbom-none:1"
    code, doc = _admit(cli, world, "none", "attested", tmp_path, db)
    assert code == 1
    (finding,) = _blocking(doc)
    assert finding["rule_id"] == "EGA010" and image in finding["message"]
    # attested-or-build: built from the registry instead (the image holds Jinja2 2.10)
    code, doc = _admit(cli, world, "none", "attested-or-build", tmp_path, db)
    assert code == 1 and {f["rule_id"] for f in _blocking(doc)} == JINJA_ADVISORIES
    assert doc["gates"][1]["stats"]["sboms"] == {"attested": 0, "built": 1}


@pytest.mark.parametrize("name", ["otherkey", "copied"])
def test_unverifiable_sbom_attestation_is_never_used(world: dict[str, Any], cli: Any, cosign: str, tmp_path: Path,
                                                     db: Path, name: str) -> None:
    ptype = "spdxjson" if name == "otherkey" else "cyclonedx"
    assert not _cosign_verifies(cosign, world, name, ptype)  # cosign refuses it too
    image = f"{world['host']}/edge/sbom-{name}:1"
    code, doc = _admit(cli, world, name, "attested", tmp_path, db)
    assert code == 1
    (finding,) = _blocking(doc)
    assert finding["rule_id"] == "EGA010" and image in finding["message"]
    if name == "copied":
        assert world["digests"]["cdx"] in finding["message"]  # the statement is about another digest
    # attested-or-build: the attestation is reported and ignored; the clean image's built SBOM passes
    code, doc = _admit(cli, world, name, "attested-or-build", tmp_path, db)
    assert code == 0, doc
    assert [f["rule_id"] for f in doc["gates"][1]["findings"] if f["rule_id"].startswith("EGA")] == ["EGA011"]


def test_sbom_needs_vuln_db_and_a_known_mode(world: dict[str, Any], cli: Any, tmp_path: Path, db: Path) -> None:
    m = manifest_yaml(tmp_path / "m.yaml", [f"{world['host']}/edge/sbom-cdx:1"])
    r = cli("admit", m, "--key", world["pub"], "--insecure", "--sbom", "attested")
    assert r.exit_code == 2 and "--vuln-db" in r.stderr
    r = cli("admit", m, "--key", world["pub"], "--insecure", "--vuln-db", db, "--sbom", "signed")
    assert r.exit_code == 2 and "attested-or-build" in r.stderr



def test_spdx_packages_are_read_by_purl_and_other_documents_refused(tmp_path: Path) -> None:
    from edgegate.admit.vuln import spdx_to_cyclonedx
    from edgegate.vuln.components import read_sbom

    doc = _spdx("Jinja2", "2.10", "pkg:pypi/jinja2@2.10")
    doc["packages"].append({"SPDXID": "SPDXRef-nopurl", "name": "vendored", "versionInfo": "1"})
    out = tmp_path / "s.cdx.json"
    out.write_text(json.dumps(spdx_to_cyclonedx(doc)))
    inv = read_sbom(out, "s")
    assert [(c.name, c.version) for c in inv.components if c.problem is None] == [("jinja2", "2.10")]
    assert [c.name for c in inv.components if c.problem] == ["vendored"]  # reported, not dropped
    for bad in ({"spdxVersion": "SPDX-3.0", "packages": []}, {"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"},
                {"spdxVersion": "SPDX-2.3", "packages": {"a": 1}}, {"spdxVersion": "SPDX-2.3", "packages": ["x"]}):
        with pytest.raises(ValueError):
            spdx_to_cyclonedx(bad)
