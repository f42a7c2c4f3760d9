"""OCI image layouts and registries: the shared model of an image (`ImageInfo`, `Layer`,
`OpenedImage`), blob stores, and the walk from an index or manifest to the config and layers.

`edgegate.sbom.image` (local sources) and `edgegate.sbom.registry` (the distribution API) both
build on this module; neither imports the other's internals. `edgegate.sign.image` reads image
digests through the same stores.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from edgegate.errors import InputError
from edgegate.io.archive import TarIndex

MAX_JSON = 16 * 1024 * 1024
"""Cap for manifests, indexes and image configs."""

_INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}
_MANIFEST_TYPES = {
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
}


@dataclass
class Layer:
    """One layer to apply: `digest` is what the SBOM records; `expect` what the raw blob hashes to."""

    digest: str
    label: str
    opener: Callable[[], BinaryIO]
    expect: str | None = None
    media_type: str = ""


@dataclass
class ImageInfo:
    """What was read about an image besides its files."""

    source: str
    kind: str
    name: str | None = None
    manifest_digest: str | None = None
    image_id: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    layers: list[Layer] = field(default_factory=list)
    platform: str | None = None
    rootfs: Path | None = None

    @property
    def runtime(self) -> dict[str, Any]:
        cfg = self.config.get("config") or self.config.get("container_config") or {}
        return cfg if isinstance(cfg, dict) else {}


class BlobStore(Protocol):
    """Where an OCI layout's (or a registry's) blobs come from."""

    where: str

    def open(self, digest: str) -> BinaryIO: ...

    def read(self, digest: str, max_bytes: int) -> bytes: ...


# ----------------------------------------------------------------------- helpers


def loads_json(data: bytes, what: str, where: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(f"{what} is not valid JSON ({exc})", where) from None


def check_digest(data: bytes, digest: str, what: str, where: str) -> None:
    algo, _, hexd = digest.partition(":")
    if algo != "sha256":
        raise InputError(f"{what}: unsupported digest algorithm {algo!r}", where)
    if hashlib.sha256(data).hexdigest() != hexd:
        raise InputError(f"{what}: content does not match digest {digest}", where)


def blob_path(digest: str, where: str) -> str:
    algo, _, hexd = digest.partition(":")
    if algo != "sha256" or len(hexd) != 64 or not all(c in "0123456789abcdef" for c in hexd):
        raise InputError(f"invalid or unsupported digest {digest!r}", where)
    return f"blobs/{algo}/{hexd}"


class DirStore:
    """Blobs of an OCI layout directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = str(root)

    def _path(self, digest: str) -> Path:
        p = self.root / blob_path(digest, self.where)
        if not p.is_file():
            raise InputError(f"missing blob {digest}", self.where)
        return p

    def has(self, digest: str) -> bool:
        return (self.root / blob_path(digest, self.where)).is_file()

    def open(self, digest: str) -> BinaryIO:
        return self._path(digest).open("rb")

    def read(self, digest: str, max_bytes: int) -> bytes:
        with self.open(digest) as fh:
            data = fh.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise InputError(f"blob {digest} is larger than {max_bytes} bytes", self.where)
        return data


class TarStore:
    """Blobs of an OCI layout packed in a tar file."""

    def __init__(self, tar: TarIndex) -> None:
        self.tar = tar
        self.where = str(tar.path)

    def has(self, digest: str) -> bool:
        return self.tar.has(blob_path(digest, self.where))

    def open(self, digest: str) -> BinaryIO:
        name = blob_path(digest, self.where)
        if not self.tar.has(name):
            raise InputError(f"missing blob {digest}", self.where)
        return self.tar.open(name)

    def read(self, digest: str, max_bytes: int) -> bytes:
        name = blob_path(digest, self.where)
        if not self.tar.has(name):
            raise InputError(f"missing blob {digest}", self.where)
        return self.tar.read(name, max_bytes)


# ----------------------------------------------------------------------- OCI


def parse_platform(value: str) -> tuple[str, str, str | None]:
    """``os/arch[/variant]`` → parts; a bad value is an `InputError`."""
    parts = value.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise InputError(f"invalid platform {value!r} (expected os/arch[/variant], e.g. linux/amd64)")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def select_manifest(index: dict[str, Any], platform: str, where: str) -> dict[str, Any]:
    """The descriptor in an image index matching `platform` (the only one if there is one)."""
    manifests = index.get("manifests")
    if not isinstance(manifests, list) or not manifests:
        raise InputError("image index lists no manifests", where)
    descs = [m for m in manifests if isinstance(m, dict)]
    # attestation manifests (buildkit) are not images
    descs = [
        m
        for m in descs
        if (m.get("annotations") or {}).get("vnd.docker.reference.type") != "attestation-manifest"
    ]
    if len(descs) == 1:
        return descs[0]
    want_os, want_arch, want_variant = parse_platform(platform)
    matches = []
    for m in descs:
        plat = m.get("platform") or {}
        if (
            plat.get("os") == want_os
            and plat.get("architecture") == want_arch
            and (want_variant is None or plat.get("variant") == want_variant)
        ):
            matches.append(m)
    if not matches:
        have = sorted(
            "/".join(str(x) for x in (p.get("os"), p.get("architecture"), p.get("variant")) if x)
            for p in (m.get("platform") or {} for m in descs)
        )
        raise InputError(f"no image for platform {platform} (index has: {', '.join(have) or 'none'})", where)
    return matches[0]


def read_oci(
    store: BlobStore,
    index: dict[str, Any],
    *,
    source: str,
    kind: str,
    platform: str,
    manifest_digest: str | None = None,
    ref_name: str | None = None,
) -> ImageInfo:
    """Walk an OCI index (or a bare manifest) down to the image config and layers; `ref_name`
    picks the top-level entries annotated ``org.opencontainers.image.ref.name`` = it."""
    where = store.where
    doc = index
    if ref_name is not None:
        doc = _filter_ref_name(index, ref_name, where)
    name: str | None = None
    depth = 0
    while "manifests" in doc or doc.get("mediaType") in _INDEX_TYPES:
        depth += 1
        if depth > 4:
            raise InputError("image indexes nested too deeply", where)
        desc = select_manifest(doc, platform, where)
        name = name or (desc.get("annotations") or {}).get("org.opencontainers.image.ref.name")
        digest = str(desc.get("digest", ""))
        reader = getattr(store, "read_manifest", store.read)
        data = reader(digest, MAX_JSON)
        check_digest(data, digest, "manifest", where)
        manifest_digest = digest
        doc = loads_json(data, f"manifest {digest}", where)
        if not isinstance(doc, dict):
            raise InputError(f"manifest {digest} is not an object", where)
    if doc.get("mediaType") not in (None, *_MANIFEST_TYPES):
        raise InputError(f"unsupported manifest media type {doc.get('mediaType')!r}", where)
    cfg_desc = doc.get("config")
    layers = doc.get("layers")
    if not isinstance(cfg_desc, dict) or not isinstance(layers, list):
        raise InputError("manifest has no config or layers", where)
    cfg_digest = str(cfg_desc.get("digest", ""))
    cfg_bytes = store.read(cfg_digest, MAX_JSON)
    check_digest(cfg_bytes, cfg_digest, "image config", where)
    config = loads_json(cfg_bytes, "image config", where)
    info = ImageInfo(
        source=source,
        kind=kind,
        name=name,
        manifest_digest=manifest_digest,
        image_id=cfg_digest,
        config=config if isinstance(config, dict) else {},
    )
    for desc in layers:
        if not isinstance(desc, dict):
            raise InputError("manifest layer entry is not an object", where)
        digest = str(desc.get("digest", ""))
        blob_path(digest, where)
        media = str(desc.get("mediaType") or "application/vnd.oci.image.layer.v1.tar")
        if "nondistributable" in media or "foreign" in media:
            raise InputError(f"layer {digest}: foreign (non-distributable) layers are not supported", where)
        info.layers.append(
            Layer(
                digest=digest,
                label=digest,
                opener=lambda d=digest: store.open(d),  # type: ignore[misc]
                expect=digest,
                media_type=media,
            )
        )
    set_platform(info)
    return info


def _filter_ref_name(index: dict[str, Any], ref_name: str, where: str) -> dict[str, Any]:
    manifests = [m for m in index.get("manifests") or [] if isinstance(m, dict)]

    def name_of(m: dict[str, Any]) -> str:
        return str((m.get("annotations") or {}).get("org.opencontainers.image.ref.name", ""))

    chosen = [m for m in manifests if name_of(m) == ref_name or name_of(m).endswith(f":{ref_name}")]
    if not chosen:
        have = sorted({name_of(m) for m in manifests if name_of(m)})
        raise InputError(
            f"no image named {ref_name!r} in the layout (has: {', '.join(have) or 'none'})", where
        )
    return {**index, "manifests": chosen}


def set_platform(info: ImageInfo) -> None:
    os_ = info.config.get("os")
    arch = info.config.get("architecture")
    if isinstance(os_, str) and isinstance(arch, str):
        variant = info.config.get("variant")
        info.platform = f"{os_}/{arch}" + (f"/{variant}" if isinstance(variant, str) and variant else "")


@dataclass
class OpenedImage:
    """An image source ready to be read; `close()` releases files and temp dirs."""

    info: ImageInfo
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for fn in reversed(self.closers):
            fn()
