"""The digest that identifies a container image, so a signature follows the image, not a tarball.

- OCI image layout (a directory with ``oci-layout`` and ``index.json``) or an OCI/docker archive
  (a tar with ``index.json``, as ``docker save`` ≥ 25 and ``skopeo copy oci-archive:`` write):
  the digest of the manifest (or image index) that ``index.json`` points to.
- A legacy docker-archive (a tar with only ``manifest.json``): there is no registry manifest in
  it, so the image ID (the config blob's digest) is used, and the kind says so.

The manifest, and every blob it references, must be present and hash to its digest. Nothing is extracted;
every read is bounded. Tarballs and layouts are read with the SBOM gate's reader (`TarIndex`,
`edgegate.sbom.oci`'s blob stores), so both gates see the same members.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgegate.errors import InputError
from edgegate.io.files import read_bounded

if TYPE_CHECKING:
    from edgegate.sbom.oci import DirStore, TarStore

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


def _from_layout(store: DirStore | TarStore, index: bytes, where: Path) -> ImageDigest:
    """The digest `index.json` names. Its blob and every blob it references (child manifests,
    config, layers) must be in the layout and hash to their digests: a signature over a digest
    whose image is not there is not a verified image."""
    digest, media = _from_index(_json(index, where / "index.json"), where)
    _check_blobs(store, digest, where, 0, media)
    return ImageDigest(digest, "manifest", media)


_INDEX_TYPES = frozenset({
    "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json", None,
})
_MANIFEST_TYPES = frozenset({
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json", None,
})


def _check_blobs(store: DirStore | TarStore, digest: str, where: Path, depth: int, media: str | None) -> None:
    """`digest`'s blob and what it references, by what it is: an index (child manifests) or a
    manifest (config and layers); a blob that is both, or whose media type says otherwise, is
    refused rather than read one way."""
    if depth > 4:
        raise InputError("image index nested more than 4 levels", where)
    data = _blob(store, digest, where, _MAX_JSON)
    doc = _json(data, where)
    if not isinstance(doc, dict):
        raise InputError(f"manifest {digest} is not a JSON object", where)
    children = doc.get("manifests")
    is_index = "manifests" in doc
    if is_index == ("config" in doc or "layers" in doc) or doc.get("mediaType", media) not in (
        _INDEX_TYPES if is_index else _MANIFEST_TYPES
    ):
        raise InputError(f"{digest} is neither plainly an image index nor a manifest", where)
    if is_index:
        if not isinstance(children, list) or not children:
            raise InputError(f"image index {digest} lists no manifests: nothing to check", where)
        for child in children:
            _check_blobs(store, _descriptor(child, where), where, depth + 1,
                         child.get("mediaType") if isinstance(child, dict) else None)
        return
    layers = doc.get("layers")
    for ref in [doc.get("config"), *(layers if isinstance(layers, list) else [None])]:
        _blob(store, _descriptor(ref, where), where, None)


def _descriptor(ref: Any, where: Path) -> str:
    digest = ref.get("digest") if isinstance(ref, dict) else None
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise InputError("a manifest descriptor's digest is missing or not sha256", where)
    return digest


def _blob(store: DirStore | TarStore, digest: str, where: Path, max_bytes: int | None) -> bytes:
    """The blob `digest` (read whole up to `max_bytes`, else only hashed), checked against it."""
    if not store.has(digest):
        raise InputError(f"blob {digest} is not in the image: it cannot be checked", where)
    if max_bytes is not None:
        data = store.read(digest, max_bytes)
        got = hashlib.sha256(data).hexdigest()
    else:
        data, h = b"", hashlib.sha256()
        with store.open(digest) as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        got = h.hexdigest()
    if "sha256:" + got != digest:
        raise InputError(f"blob does not match its digest {digest}", where)
    return data


def image_digest(path: str | Path) -> ImageDigest:
    """The identifying digest of an OCI layout directory or an image tar archive, read through the
    SBOM gate's image reader (`edgegate.sbom.oci` stores over `TarIndex`)."""
    from edgegate.io.archive import ArchiveError, TarIndex
    from edgegate.sbom.oci import DirStore, TarStore

    p = Path(path)
    if p.is_dir():
        if not (p / "index.json").is_file():
            raise InputError("not an OCI image layout (no index.json)", p)
        return _from_layout(DirStore(p), read_bounded(p / "index.json", _MAX_JSON), p)
    if not p.exists():
        raise InputError("no such file or directory", p)
    try:
        tar = TarIndex(p)
    except ArchiveError:
        raise InputError("not an OCI layout directory or an image tar archive", p) from None
    with tar:
        if tar.has("index.json"):
            return _from_layout(TarStore(tar), tar.read("index.json", _MAX_JSON), p)
        if tar.has("manifest.json"):
            doc = _json(tar.read("manifest.json", _MAX_JSON), p)
            if not isinstance(doc, list) or len(doc) != 1 or not isinstance(doc[0], dict):
                raise InputError("manifest.json must describe exactly one image", p)
            config = doc[0].get("Config")
            if not isinstance(config, str):
                raise InputError("manifest.json: no Config entry", p)
            if not tar.has(config):
                raise InputError(f"manifest.json: config blob {config} is missing", p)
            data = tar.read(config, _MAX_JSON)
            return ImageDigest("sha256:" + hashlib.sha256(data).hexdigest(), "config")
    raise InputError("tar archive holds neither index.json nor manifest.json: not an image", p)
