"""Helpers for the admit tests: a real registry (Debian's docker-registry on 127.0.0.1), real
cosign (built from its Go module; EDGEGATE_COSIGN, PATH or ~/go/bin), images pushed over the
distribution API, and manifests naming them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "sbom"))

from sbom_helpers import E, layer_tar, oci_layout  # noqa: E402
from test_sbom_registry import push_layout  # noqa: E402

REGISTRY = shutil.which("docker-registry")
PASSWORD = "admit-test-passphrase"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_registry(root: Path, extra: str = "") -> tuple[subprocess.Popen[bytes], str]:
    """docker-registry serving `root` on a free 127.0.0.1 port; returns (process, host)."""
    port = _free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n{extra}"
    )
    assert REGISTRY is not None
    proc = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    host = f"127.0.0.1:{port}"
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"http://{host}/v2/", timeout=1):
                break
        except urllib.error.HTTPError:
            break
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    else:
        proc.terminate()
        pytest.fail("local registry did not start")
    return proc, host


def cosign_path() -> str | None:
    env = os.environ.get("EDGEGATE_COSIGN")
    if env:
        return env if Path(env).is_file() else None
    found = shutil.which("cosign")
    if found:
        return found
    gobin = Path(os.environ.get("GOBIN") or Path(os.environ.get("GOPATH") or Path.home() / "go") / "bin") / "cosign"
    return str(gobin) if gobin.is_file() else None


def run_cosign(cosign: str, *args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update({"COSIGN_PASSWORD": PASSWORD, "COSIGN_YES": "true", "COSIGN_EXPERIMENTAL": "1",
                "HOME": str(cwd or Path.cwd()), "NO_PROXY": "127.0.0.1,localhost"})
    proc = subprocess.run([cosign, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"cosign {' '.join(args)} failed: {proc.stderr[-2000:]}")
    return proc


_counter = [0]


def push_image(host: str, repo: str, tag: str, tmp: Path, content: str | None = None,
               platforms: tuple[str, ...] = ("linux/amd64",)) -> str:
    """Push a small distinct image; return its manifest (or index) digest."""
    _counter[0] += 1
    data = content if content is not None else f"{repo}:{tag}:{_counter[0]}:{time.time_ns()}"
    layout = oci_layout(tmp / f"layout-{_counter[0]}", [layer_tar([E("app/version", data=data)])], platforms=platforms)
    push_layout(host, repo, tag, layout)
    with urllib.request.urlopen(
        urllib.request.Request(
            f"http://{host}/v2/{repo}/manifests/{tag}",
            method="HEAD",
            headers={"Accept": "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"},
        ),
        timeout=10,
    ) as resp:
        return str(resp.headers["Docker-Content-Digest"])


def manifest_yaml(path: Path, images: list[str]) -> Path:
    """A Deployment naming `images` (one container each), one image per line."""
    lines = [
        "apiVersion: apps/v1",
        "kind: Deployment",
        "metadata: {name: app}",
        "spec:",
        "  template:",
        "    spec:",
        "      containers:",
    ]
    for i, image in enumerate(images):
        lines += [f"        - name: c{i}", f"          image: {image}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def image_line(path: Path, image: str) -> int:
    """The 1-based line of `image` in `path`."""
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip().endswith(f"image: {image}"):
            return n
    raise AssertionError(f"{image} not in {path}")



def _fixed_tar(name: str, data: bytes) -> bytes:
    """A one-file tar whose bytes depend only on `name` and `data` (USTAR, zero times and ids)."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = len(data), 0, 0o644, 0, 0, "", ""
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def fixed_image(label: str) -> tuple[dict[str, bytes], bytes]:
    """A deterministic single-layer image (uncompressed layer): (blobs by digest, manifest bytes).
    Its digest never changes, so example manifests can pin it."""
    import hashlib
    import json

    def sha(b: bytes) -> str:
        return "sha256:" + hashlib.sha256(b).hexdigest()

    layer = _fixed_tar("app/IMAGE", f"{label}\n".encode())
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "config": {"Entrypoint": ["/app/run"], "User": "1000"},
         "rootfs": {"type": "layers", "diff_ids": [sha(layer)]}},
        sort_keys=True, separators=(",", ":"),
    ).encode()
    manifest = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": len(config)},
         "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(layer), "size": len(layer)}]},
        sort_keys=True, separators=(",", ":"),
    ).encode()
    return {sha(layer): layer, sha(config): config}, manifest


def push_raw(host: str, repo: str, tag: str, blobs: dict[str, bytes], manifest: bytes,
             media: str = "application/vnd.oci.image.manifest.v1+json") -> str:
    """Push blobs and a manifest (under `tag` and its digest); return the digest."""
    import hashlib

    for digest, data in blobs.items():
        req = urllib.request.Request(f"http://{host}/v2/{repo}/blobs/uploads/", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            loc = r.headers["Location"]
        loc = loc if loc.startswith("http") else f"http://{host}{loc}"
        put = urllib.request.Request(f"{loc}{'&' if '?' in loc else '?'}digest={digest}", data=data, method="PUT",
                                     headers={"Content-Type": "application/octet-stream"})
        with urllib.request.urlopen(put, timeout=10):
            pass
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    for ref in (tag, digest):
        put = urllib.request.Request(f"http://{host}/v2/{repo}/manifests/{ref}", data=manifest, method="PUT",
                                     headers={"Content-Type": media})
        with urllib.request.urlopen(put, timeout=10):
            pass
    return digest


def pkcs8_pem(key: Any, path: Path, password: bytes | None = None) -> Path:
    from cryptography.hazmat.primitives import serialization

    enc = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc))
    path.chmod(0o600)
    return path


def spki_pem(key: Any, path: Path) -> Path:
    from cryptography.hazmat.primitives import serialization

    path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
    return path
