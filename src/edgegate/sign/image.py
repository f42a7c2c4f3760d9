"""The digest that identifies a container image, so a signature follows the image, not a tarball.

- OCI image layout (a directory with ``oci-layout`` and ``index.json``) or an OCI/docker archive
  (a tar with ``index.json``, as ``docker save`` ≥ 25 and ``skopeo copy oci-archive:`` write):
  the digest of the manifest (or image index) that ``index.json`` points to.
- A legacy docker-archive (a tar with only ``manifest.json``): there is no registry manifest in
  it, so the image ID (the config blob's digest) is used, and the kind says so.

When the manifest blob is present it is hashed and must match its digest. Nothing is extracted;
every read is bounded.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgegate.errors import InputError
from edgegate.io.files import read_bounded

_MAX_JSON = 4 * 1024 * 1024
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class ImageDigest:
    """An image's identifying digest."""

    digest: str
    """``sha256:<hex>``."""
    kind: str
    """``manifest`` (OCI/registry manifest or index) or ``config`` (legacy docker-archive image ID)."""
    media_type: str | None = None

    @property
    def hex(self) -> str:
        return self.digest.split(":", 1)[1]


def _json(data: bytes, where: str | Path) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError("not valid JSON", where) from None


def _from_index(index: Any, where: str | Path) -> tuple[str, str | None]:
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list) or not manifests:
        raise InputError("index.json lists no manifests", where)
    if len(manifests) != 1:
        raise InputError(f"index.json lists {len(manifests)} manifests; sign one image at a time", where)
    m = manifests[0]
    digest = m.get("digest") if isinstance(m, dict) else None
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise InputError("index.json: manifest digest is missing or not sha256", where)
    media = m.get("mediaType")
    return digest, media if isinstance(media, str) else None


def image_digest(path: str | Path) -> ImageDigest:
    """The identifying digest of an OCI layout directory or an image tar archive."""
    p = Path(path)
    if p.is_dir():
        if not (p / "index.json").is_file():
            raise InputError("not an OCI image layout (no index.json)", p)
        digest, media = _from_index(_json(read_bounded(p / "index.json", _MAX_JSON), p / "index.json"), p)
        blob = p / "blobs" / "sha256" / digest.split(":", 1)[1]
        if blob.is_file():
            _check_blob(blob.open("rb"), digest, blob)
        return ImageDigest(digest, "manifest", media)
    if not p.exists():
        raise InputError("no such file or directory", p)
    try:
        tar = tarfile.open(p, "r:*")  # noqa: SIM115 - closed by the `with` below
    except (tarfile.TarError, OSError):
        raise InputError("not an OCI layout directory or an image tar archive", p) from None
    with tar:
        members = {m.name.lstrip("./") if m.name != "." else m.name: m for m in tar.getmembers()}
        if "index.json" in members:
            digest, media = _from_index(_json(_member(tar, members["index.json"], p), p), p)
            blob_member = members.get("blobs/sha256/" + digest.split(":", 1)[1])
            if blob_member is not None:
                fh = tar.extractfile(blob_member)
                if fh is not None:
                    _check_blob(fh, digest, f"{p}:{blob_member.name}")
            return ImageDigest(digest, "manifest", media)
        if "manifest.json" in members:
            doc = _json(_member(tar, members["manifest.json"], p), p)
            if not isinstance(doc, list) or len(doc) != 1 or not isinstance(doc[0], dict):
                raise InputError("manifest.json must describe exactly one image", p)
            config = doc[0].get("Config")
            if not isinstance(config, str):
                raise InputError("manifest.json: no Config entry", p)
            member = members.get(config.lstrip("./"))
            if member is None:
                raise InputError(f"manifest.json: config blob {config} is missing", p)
            data = _member(tar, member, p)
            return ImageDigest("sha256:" + hashlib.sha256(data).hexdigest(), "config")
    raise InputError("tar archive holds neither index.json nor manifest.json: not an image", p)


def _member(tar: tarfile.TarFile, member: tarfile.TarInfo, where: Path) -> bytes:
    if not member.isfile() or member.size > _MAX_JSON:
        raise InputError(f"{member.name}: not a regular file within {_MAX_JSON} bytes", where)
    fh = tar.extractfile(member)
    if fh is None:
        raise InputError(f"{member.name}: unreadable", where)
    return fh.read(_MAX_JSON + 1)


def _check_blob(fh: Any, digest: str, where: str | Path) -> None:
    h = hashlib.sha256()
    with fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            h.update(chunk)
    if "sha256:" + h.hexdigest() != digest:
        raise InputError(f"manifest blob does not match its digest {digest}", where)
