"""Pull by reference from a real local registry (Debian's docker-registry on 127.0.0.1, started by
the test with a temp config); images are pushed over the same distribution API first."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sbom_helpers import DPKG_STATUS, OS_RELEASE, E, layer_tar, oci_layout

from edgegate.errors import InputError
from edgegate.sbom.registry import parse_reference

REGISTRY = shutil.which("docker-registry")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if REGISTRY is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    root = tmp_path_factory.mktemp("registry")
    port = _free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen(
        [REGISTRY, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    host = f"127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://{host}/v2/", timeout=1):
                    break
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        else:
            pytest.fail("local registry did not start")
        yield host
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _put(url: str, data: bytes, content_type: str = "application/octet-stream", method: str = "PUT") -> str:
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": content_type})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.headers.get("Location", "")


def push_layout(host: str, repo: str, tag: str, layout: Path) -> None:
    """Push every blob and manifest of an OCI layout directory, then tag its index (or manifest)."""
    base = f"http://{host}/v2/{repo}"
    index = json.loads((layout / "index.json").read_text())
    blobs = layout / "blobs" / "sha256"
    manifests = {m["digest"] for m in index["manifests"]}
    for blob in blobs.iterdir():
        digest = f"sha256:{blob.name}"
        if digest in manifests:
            continue
        loc = _put(f"{base}/blobs/uploads/", b"", method="POST")
        loc = loc if loc.startswith("http") else f"http://{host}{loc}"
        _put(f"{loc}{'&' if '?' in loc else '?'}digest={digest}", blob.read_bytes())
    for m in index["manifests"]:
        data = (blobs / m["digest"][7:]).read_bytes()
        _put(f"{base}/manifests/{m['digest']}", data, m["mediaType"])
    if len(index["manifests"]) == 1:
        m = index["manifests"][0]
        _put(f"{base}/manifests/{tag}", (blobs / m["digest"][7:]).read_bytes(), m["mediaType"])
    else:
        idx = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [{k: v for k, v in m.items() if k != "annotations"} for m in index["manifests"]],
            }
        ).encode()
        _put(f"{base}/manifests/{tag}", idx, "application/vnd.oci.image.index.v1+json")


def _layers() -> list[bytes]:
    return [
        layer_tar(
            [
                E("usr/lib/os-release", data=OS_RELEASE),
                E("etc/os-release", "symlink", "../usr/lib/os-release"),
                E("var/lib/dpkg/status", data=DPKG_STATUS),
            ]
        ),
        layer_tar(
            [E("app/node_modules/left-pad/package.json", data='{"name":"left-pad","version":"1.3.0"}')]
        ),
    ]


def test_pull_by_tag_and_digest(registry: str, tmp_path: Path, cli) -> None:
    layout = tmp_path / "layout"
    layout.mkdir()
    oci_layout(layout, _layers())
    push_layout(registry, "team/app", "1.0", layout)
    out = tmp_path / "sbom.json"
    r = cli("sbom", "image", f"{registry}/team/app:1.0", "--insecure", "-o", out)
    assert r.exit_code == 0, r.stderr
    doc = json.loads(out.read_text())
    names = {c["name"] for c in doc["components"]}
    assert {"base-files", "zlib1g", "left-pad", "debian"} <= names
    props = {p["name"]: p["value"] for p in doc["metadata"]["component"]["properties"]}
    digest = props["edgegate:image:manifest-digest"]
    assert props["edgegate:image:source-kind"] == "registry"
    # by digest
    out2 = tmp_path / "sbom2.json"
    r = cli("sbom", "image", f"registry:{registry}/team/app@{digest}", "--insecure", "-o", out2)
    assert r.exit_code == 0, r.stderr
    assert {c["name"] for c in json.loads(out2.read_text())["components"]} == names


def test_multi_arch_index_platform(registry: str, tmp_path: Path, cli) -> None:
    layout = tmp_path / "layout"
    layout.mkdir()
    oci_layout(layout, _layers(), platforms=("linux/amd64", "linux/arm64"))
    push_layout(registry, "team/multi", "latest", layout)
    out = tmp_path / "arm.json"
    r = cli("sbom", "image", f"{registry}/team/multi", "--insecure", "--platform", "linux/arm64", "-o", out)
    assert r.exit_code == 0, r.stderr
    props = {
        p["name"]: p["value"] for p in json.loads(out.read_text())["metadata"]["component"]["properties"]
    }
    assert props["edgegate:image:platform"] == "linux/arm64"
    r = cli(
        "sbom",
        "image",
        f"{registry}/team/multi",
        "--insecure",
        "--platform",
        "windows/amd64",
        "-o",
        tmp_path / "w.json",
    )
    assert r.exit_code == 2 and "no image for platform windows/amd64" in r.stderr


def test_registry_errors_are_one_line_exit_2(registry: str, tmp_path: Path, cli) -> None:
    out = tmp_path / "x.json"
    r = cli("sbom", "image", f"{registry}/team/absent:1", "--insecure", "-o", out)
    assert r.exit_code == 2 and "not found in registry" in r.stderr and r.stderr.count("\n") == 1
    r = cli("sbom", "image", f"127.0.0.1:{_free_port()}/x/y:1", "--insecure", "-o", out)
    assert r.exit_code == 2 and "registry unreachable" in r.stderr
    r = cli("sbom", "image", "registry.example.com/x/y:1", "--insecure", "-o", out)
    assert r.exit_code == 2 and "only allowed for a localhost registry" in r.stderr
    assert not out.exists()


def test_parse_reference_defaults() -> None:
    assert str(parse_reference("alpine")) == "docker.io/library/alpine"
    r = parse_reference("ghcr.io/org/app:1.2@sha256:" + "a" * 64)
    assert (r.registry, r.repository, r.tag, r.reference) == (
        "ghcr.io",
        "org/app",
        "1.2",
        "sha256:" + "a" * 64,
    )
    assert parse_reference("localhost:5000/app").registry == "localhost:5000"
    with pytest.raises(InputError):
        parse_reference("UPPER/case")
