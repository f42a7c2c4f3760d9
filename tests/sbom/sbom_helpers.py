"""Build real image tarballs for tests: layer tars, docker-archive and OCI layouts (no Docker)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def rootfs_dir() -> Path | None:
    """The debootstrap bookworm rootfs (EDGEGATE_TEST_ROOTFS or .cache/rootfs-bookworm)."""
    env = os.environ.get("EDGEGATE_TEST_ROOTFS")
    p = Path(env) if env else ROOT / ".cache" / "rootfs-bookworm"
    return p if (p / "var/lib/dpkg/status").is_file() else None


@dataclass
class E:
    """A layer entry: name, kind (file/dir/symlink/hardlink), data or link target."""

    name: str
    kind: str = "file"
    data: bytes | str = b""


_MEMBER_TYPES = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                 "fifo": tarfile.FIFOTYPE, "chr": tarfile.CHRTYPE}


def add_member(tf: tarfile.TarFile, name: str, kind: str = "file", data: bytes = b"", link: str = "",
               **attrs: object) -> None:
    """Add one member to `tf`: a file holding `data`, or a dir/symlink/hardlink (to `link`)/fifo/
    chr; mtime 0 unless `attrs` say otherwise (any TarInfo attribute, set before the size)."""
    info = tarfile.TarInfo(name)
    info.mtime = 0
    for key, value in attrs.items():
        setattr(info, key, value)
    if kind == "file":
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
        return
    info.type = _MEMBER_TYPES[kind]
    info.linkname = link
    tf.addfile(info)


def layer_tar(entries: Sequence[E]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            if e.kind == "file":
                add_member(tf, e.name, data=e.data.encode() if isinstance(e.data, str) else e.data)
            elif e.kind == "dir":
                add_member(tf, e.name, "dir", mode=0o755)
            elif e.kind in ("symlink", "hardlink"):
                add_member(tf, e.name, e.kind, link=str(e.data))
    return buf.getvalue()


def dir_layer_file(root: Path, dest: Path) -> Path:
    """A tar of directory `root` (paths relative to it, symlinks kept) written to `dest`.

    GNU format, like Docker's layers: no PAX header per member (Python's PAX writer adds one for
    every fractional mtime; Docker truncates mtimes to seconds and writes PAX only when needed)."""
    with tarfile.open(dest, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for name in sorted(os.listdir(root)):
            if name.startswith(".edgegate"):
                continue
            tf.add(root / name, arcname=name, recursive=True)
    return dest


def tar_kind(m: tarfile.TarInfo) -> str:
    """The walker's name for a member's type, as Python's tarfile (the peer) reads it."""
    if m.issparse():
        return "other"
    if m.isreg():
        return "file"
    if m.isdir():
        return "dir"
    if m.issym():
        return "symlink"
    return "hardlink" if m.islnk() else "other"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def image_config(diff_ids: list[str], **runtime: object) -> bytes:
    cfg = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Entrypoint": ["/bin/app"],
            "User": "1000",
            "Env": ["PATH=/usr/bin", "SECRET_TOKEN=x"],
            **runtime,
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    return json.dumps(cfg).encode()


def docker_archive(dest: Path, layers: Sequence[bytes | Path], tag: str = "example/app:1.0") -> Path:
    """`docker save`-style tarball with uncompressed layers."""
    diff_ids = [sha(x) if isinstance(x, bytes) else _file_sha(x) for x in layers]
    cfg = image_config(diff_ids)
    cfg_name = sha(cfg)[7:] + ".json"
    names = [f"{d[7:]}/layer.tar" for d in diff_ids]
    manifest = json.dumps([{"Config": cfg_name, "RepoTags": [tag], "Layers": names}]).encode()
    with tarfile.open(dest, "w") as tf:
        _add_bytes(tf, cfg_name, cfg)
        for name, layer in zip(names, layers, strict=True):
            if isinstance(layer, bytes):
                _add_bytes(tf, name, layer)
            else:
                tf.add(layer, arcname=name)
        _add_bytes(tf, "manifest.json", manifest)
    return dest


def _add_bytes(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def oci_layout(
    dest: Path,
    layers: Sequence[bytes | Path],
    *,
    as_tar: bool = False,
    platforms: Sequence[str] = ("linux/amd64",),
    compress: bool | str = True,
) -> Path:
    """An OCI image layout (directory, or tar when `as_tar`) with gzip layers; one image per
    platform (same layers) under one index when several platforms are given."""
    blobs: dict[str, bytes | Path] = {}
    layer_descs = []
    diff_ids = []
    for layer in layers:
        raw = layer if isinstance(layer, bytes) else layer.read_bytes()
        diff_ids.append(sha(raw))
        if compress == "zstd":
            from edgegate.io.archive import _zstd_module

            blob, suffix = _zstd_module().compress(raw), "+zstd"
        elif compress:
            blob, suffix = gzip.compress(raw, compresslevel=1, mtime=0), "+gzip"
        else:
            blob, suffix = raw, ""
        d = sha(blob)
        blobs[d] = blob
        media = "application/vnd.oci.image.layer.v1.tar" + suffix
        layer_descs.append({"mediaType": media, "digest": d, "size": len(blob)})
    manifests = []
    for plat in platforms:
        os_, arch = plat.split("/")[:2]
        cfg = json.loads(image_config(diff_ids))
        cfg["architecture"], cfg["os"] = arch, os_
        cfg_bytes = json.dumps(cfg).encode()
        blobs[sha(cfg_bytes)] = cfg_bytes
        man = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": sha(cfg_bytes),
                    "size": len(cfg_bytes),
                },
                "layers": layer_descs,
            }
        ).encode()
        blobs[sha(man)] = man
        manifests.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": sha(man),
                "size": len(man),
                "platform": {"os": os_, "architecture": arch},
                "annotations": {"org.opencontainers.image.ref.name": "example/app:1.0"},
            }
        )
    index = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}
    ).encode()
    files = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}', "index.json": index}
    if as_tar:
        with tarfile.open(dest, "w") as tf:
            for name, data in files.items():
                _add_bytes(tf, name, data)
            for d, blob in blobs.items():
                _add_bytes(
                    tf, f"blobs/sha256/{d[7:]}", blob if isinstance(blob, bytes) else blob.read_bytes()
                )
    else:
        (dest / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (dest / name).write_bytes(data)
        for d, blob in blobs.items():
            (dest / "blobs" / "sha256" / d[7:]).write_bytes(
                blob if isinstance(blob, bytes) else blob.read_bytes()
            )
    return dest


DPKG_STATUS = """Package: base-files
Status: install ok installed
Priority: required
Architecture: amd64
Version: 12.4+deb12u5
Maintainer: Santiago Vila <sanvila@debian.org>

Package: zlib1g
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Source: zlib
Version: 1:1.2.13.dfsg-1

Package: removed-pkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

"""

OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'


# ------------------------------------------------------------------ peers (Trivy, Syft)


def _peer(env: str, *candidates: Path) -> Path | None:
    if os.environ.get(env):
        return Path(os.environ[env])
    return next((c for c in candidates if c.is_file() and os.access(c, os.X_OK)), None)


def trivy_bin() -> Path | None:
    """Trivy: EDGEGATE_TRIVY, else the one `make` builds in .cache/gobin."""
    return _peer("EDGEGATE_TRIVY", ROOT / ".cache/gobin/trivy", Path("/work/main/.cache/gobin/trivy"))


def syft_bin() -> Path | None:
    """Syft: EDGEGATE_SYFT, else a local build (~/go/bin, the SBOM review's)."""
    return _peer("EDGEGATE_SYFT", Path.home() / "go/bin/syft", Path("/tmp/review-sbom/bin/syft"))


def _walk(components: list[dict]) -> Iterator[dict]:
    for c in components:
        yield c
        yield from _walk(c.get("components", []))


def peer_purls(tool: Path, root: Path) -> set[str]:
    """The package purls (qualifiers dropped) Trivy or Syft lists for the rootfs folder `root`."""
    import subprocess

    if tool.name == "syft":
        cmd = [str(tool), "scan", f"dir:{root}", "-q", "-o", "cyclonedx-json"]
    else:
        cmd = [str(tool), "rootfs", "--cache-backend", "memory", "-q", "-f", "cyclonedx", str(root)]
    env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
    doc = json.loads(subprocess.run(cmd, capture_output=True, check=True, timeout=300, env=env).stdout)
    return {c["purl"].split("?", 1)[0] for c in _walk(doc.get("components", [])) if c.get("purl")}


def sbom_purls(path: Path) -> set[str]:
    """The package purls (qualifiers dropped) of an edgegate SBOM."""
    doc = json.loads(path.read_text())
    return {c["purl"].split("?", 1)[0] for c in _walk(doc.get("components", [])) if c.get("purl")}
