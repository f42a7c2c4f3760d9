"""Image sources: docker-archive tarballs, OCI image layouts (directory or tar), unpacked root
filesystems and registry references, all read into an `ImageFilesystem` layer by layer.

Layers are streamed (never extracted); each layer blob's SHA-256 is checked against the digest
the manifest names while it is read, so a corrupt or truncated layer is an error, not a
silently shorter SBOM.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from edgegate.errors import InputError
from edgegate.io.archive import (
    ArchiveError,
    ArchiveLimits,
    TarIndex,
    iter_tar,
    sniff_compression,
)
from edgegate.sbom.filesystem import ImageFilesystem, iter_rootfs

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


def _loads(data: bytes, what: str, where: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{what} is not valid JSON ({exc})", where) from None


def _check_digest(data: bytes, digest: str, what: str, where: str) -> None:
    algo, _, hexd = digest.partition(":")
    if algo != "sha256":
        raise InputError(f"{what}: unsupported digest algorithm {algo!r}", where)
    if hashlib.sha256(data).hexdigest() != hexd:
        raise InputError(f"{what}: content does not match digest {digest}", where)


def _blob_path(digest: str, where: str) -> str:
    algo, _, hexd = digest.partition(":")
    if algo != "sha256" or len(hexd) != 64 or not all(c in "0123456789abcdef" for c in hexd):
        raise InputError(f"invalid or unsupported digest {digest!r}", where)
    return f"blobs/{algo}/{hexd}"


class _HashingReader:
    """Wraps a blob stream; `finish()` drains it and checks the SHA-256."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._hash.update(data)
        return data

    def finish(self) -> str:
        while True:
            chunk = self._raw.read(1 << 20)
            if not chunk:
                break
            self._hash.update(chunk)
        return "sha256:" + self._hash.hexdigest()


class DirStore:
    """Blobs of an OCI layout directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = str(root)

    def _path(self, digest: str) -> Path:
        p = self.root / _blob_path(digest, self.where)
        if not p.is_file():
            raise InputError(f"missing blob {digest}", self.where)
        return p

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

    def open(self, digest: str) -> BinaryIO:
        name = _blob_path(digest, self.where)
        if not self.tar.has(name):
            raise InputError(f"missing blob {digest}", self.where)
        return self.tar.open(name)

    def read(self, digest: str, max_bytes: int) -> bytes:
        name = _blob_path(digest, self.where)
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
        _check_digest(data, digest, "manifest", where)
        manifest_digest = digest
        doc = _loads(data, f"manifest {digest}", where)
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
    _check_digest(cfg_bytes, cfg_digest, "image config", where)
    config = _loads(cfg_bytes, "image config", where)
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
        _blob_path(digest, where)
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
    _set_platform(info)
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


def _set_platform(info: ImageInfo) -> None:
    os_ = info.config.get("os")
    arch = info.config.get("architecture")
    if isinstance(os_, str) and isinstance(arch, str):
        variant = info.config.get("variant")
        info.platform = f"{os_}/{arch}" + (f"/{variant}" if isinstance(variant, str) and variant else "")


# ----------------------------------------------------------------------- docker-archive


def read_docker_archive(tar: TarIndex, source: str) -> ImageInfo:
    """`docker save` output: ``manifest.json`` naming the config and the layer tars."""
    where = str(tar.path)
    manifest = _loads(tar.read("manifest.json", MAX_JSON), "manifest.json", where)
    if not isinstance(manifest, list) or not manifest or not isinstance(manifest[0], dict):
        raise InputError("manifest.json lists no image", where)
    entry = manifest[0]
    cfg_name = entry.get("Config")
    layer_names = entry.get("Layers")
    if not isinstance(cfg_name, str) or not isinstance(layer_names, list):
        raise InputError("manifest.json entry has no Config or Layers", where)
    if not tar.has(cfg_name):
        raise InputError(f"manifest.json names a missing config {cfg_name!r}", where)
    cfg_bytes = tar.read(cfg_name, MAX_JSON)
    config = _loads(cfg_bytes, "image config", where)
    if not isinstance(config, dict):
        raise InputError("image config is not an object", where)
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    tags = entry.get("RepoTags") or []
    info = ImageInfo(
        source=source,
        kind="docker-archive",
        name=tags[0] if tags and isinstance(tags[0], str) else None,
        image_id="sha256:" + hashlib.sha256(cfg_bytes).hexdigest(),
        config=config,
    )
    if diff_ids and len(diff_ids) != len(layer_names):
        raise InputError(
            f"manifest.json names {len(layer_names)} layers but the config has {len(diff_ids)} diff_ids",
            where,
        )
    for i, lname in enumerate(layer_names):
        if not isinstance(lname, str):
            raise InputError("manifest.json layer name is not a string", where)
        if not tar.has(lname):
            raise InputError(f"manifest.json names a missing layer {lname!r}", where)
        diff_id = str(diff_ids[i]) if i < len(diff_ids) else None
        info.layers.append(
            Layer(
                digest=diff_id or lname,
                label=lname,
                opener=lambda n=lname: tar.open(n),  # type: ignore[misc]
                expect=diff_id,
            )
        )
    _set_platform(info)
    return info


# ----------------------------------------------------------------------- opening


@dataclass
class OpenedImage:
    """An image source ready to be read; `close()` releases files and temp dirs."""

    info: ImageInfo
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for fn in reversed(self.closers):
            fn()


def open_image(
    source: str,
    *,
    platform: str = "linux/amd64",
    insecure: bool = False,
    limits: ArchiveLimits | None = None,
) -> OpenedImage:
    """Open `source`: a docker-archive or OCI tarball, an OCI layout or rootfs directory, or a
    registry reference (``[docker-archive:|oci:|oci-archive:|dir:|registry:]...``)."""
    parse_platform(platform)
    prefix, sep, rest = source.partition(":")
    forced = prefix if sep and prefix in {"docker-archive", "oci", "oci-archive", "dir", "registry"} else None
    target = rest if forced else source
    if forced == "registry":
        return _open_registry(target, platform, insecure)
    ref_name: str | None = None
    if forced in ("oci", "oci-archive") and not Path(target).exists() and ":" in target:
        target, ref_name = target.rsplit(":", 1)  # skopeo-style oci:PATH:REFERENCE
    path = Path(target)
    if forced in (None, "dir", "oci") and path.is_dir():
        if forced != "dir" and ((path / "oci-layout").is_file() or (path / "index.json").is_file()):
            index = _loads(_read_small(path / "index.json"), "index.json", str(path))
            if not isinstance(index, dict):
                raise InputError("index.json is not an object", path)
            return OpenedImage(
                read_oci(
                    DirStore(path),
                    index,
                    source=source,
                    kind="oci-layout",
                    platform=platform,
                    ref_name=ref_name,
                )
            )
        return OpenedImage(ImageInfo(source=source, kind="rootfs", rootfs=path))
    if path.is_file():
        tar = TarIndex(path, limits=limits)
        try:
            if forced != "oci-archive" and tar.has("manifest.json") and forced != "oci":
                info = read_docker_archive(tar, source)
            elif tar.has("index.json"):
                index = _loads(tar.read("index.json", MAX_JSON), "index.json", str(path))
                if not isinstance(index, dict):
                    raise InputError("index.json is not an object", path)
                info = read_oci(
                    TarStore(tar),
                    index,
                    source=source,
                    kind="oci-archive",
                    platform=platform,
                    ref_name=ref_name,
                )
            else:
                raise InputError("not an image archive (no manifest.json or index.json)", path)
        except BaseException:
            tar.close()
            raise
        return OpenedImage(info, [tar.close])
    if forced is None and looks_like_reference(target):
        return _open_registry(target, platform, insecure)
    raise InputError("no such file or directory (for a registry image write registry:REF)", target)


def _read_small(path: Path) -> bytes:
    from edgegate.io.files import read_bounded

    return read_bounded(path, MAX_JSON)


def looks_like_reference(value: str) -> bool:
    from edgegate.sbom.registry import parse_reference

    if value.endswith((".tar", ".tar.gz", ".tgz", ".oci", ".json")) or value.startswith(("./", "../", "~")):
        return False
    try:
        ref = parse_reference(value)
    except InputError:
        return False
    first = value.split("/", 1)[0]
    explicit_host = "/" in value and ("." in first or ":" in first or first == "localhost")
    return explicit_host or ref.tag is not None or ref.digest is not None


def _open_registry(ref: str, platform: str, insecure: bool) -> OpenedImage:
    from edgegate.sbom.registry import pull

    opened: OpenedImage = pull(ref, platform=platform, insecure=insecure)
    return opened


# ----------------------------------------------------------------------- reading layers


def build_filesystem(info: ImageInfo, *, limits: ArchiveLimits | None = None) -> ImageFilesystem:
    """Apply every layer of `info` in order (or walk the rootfs) into an `ImageFilesystem`."""
    fs = ImageFilesystem()
    if info.rootfs is not None:
        fs.add_layer("rootfs", iter_rootfs(info.rootfs))
        return fs
    for layer in info.layers:
        fs.add_layer(layer.digest, _layer_entries(layer, limits))
    fs.resolve_hard_links(lambda i: _layer_entries(info.layers[i], limits))
    return fs


def _layer_entries(layer: Layer, limits: ArchiveLimits | None) -> Iterator[Any]:
    where = f"layer {layer.label}"
    try:
        raw = layer.opener()
    except InputError:
        raise
    except OSError as exc:
        raise InputError(f"cannot read {where}: {exc}") from None
    with raw:
        head = raw.read(8)
        comp = sniff_compression(head)
        rest = _Prefixed(head, raw)
        hashing = _HashingReader(rest)  # type: ignore[arg-type]
        yield from iter_tar(hashing, where=where, limits=limits)  # type: ignore[arg-type]
        try:
            got = hashing.finish()
        except (OSError, EOFError) as exc:
            raise ArchiveError(f"{where}: corrupt or truncated ({exc})") from None
        expect = layer.expect
        if expect and (comp == "" or layer.media_type) and got != expect:
            raise ArchiveError(f"{where}: content does not match digest {expect} (corrupt or truncated)")


class _Prefixed:
    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        self._head = head
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0:
                out = self._head + self._raw.read()
                self._head = b""
                return out
            out, self._head = self._head[:size], self._head[size:]
            if len(out) < size:
                out += self._raw.read(size - len(out))
            return out
        return self._raw.read(size)
