"""Image sources: docker-archive tarballs, OCI image layouts (directory or tar), unpacked root
filesystems and registry references, all read into an `ImageFilesystem` layer by layer.

Layers are streamed (never extracted); each layer blob's SHA-256 is checked against the digest
the manifest names while it is read, so a corrupt or truncated layer is an error, not a
silently shorter SBOM.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from edgegate.errors import InputError
from edgegate.io.archive import (
    ArchiveError,
    ArchiveLimits,
    TarIndex,
    iter_tar,
    sniff_compression,
)
from edgegate.io.files import open_regular_fd
from edgegate.sbom.filesystem import ImageFilesystem, iter_rootfs
from edgegate.sbom.oci import (
    MAX_JSON,
    BlobStore,
    DirStore,
    ImageInfo,
    Layer,
    OpenedImage,
    TarStore,
    loads_json,
    parse_platform,
    read_oci,
    select_manifest,
    set_platform,
)

__all__ = [
    "MAX_JSON",
    "BlobStore",
    "DirStore",
    "ImageInfo",
    "Layer",
    "OpenedImage",
    "TarStore",
    "build_filesystem",
    "looks_like_reference",
    "open_image",
    "parse_platform",
    "read_docker_archive",
    "read_oci",
    "select_manifest",
]

# ----------------------------------------------------------------------- docker-archive


def read_docker_archive(tar: TarIndex, source: str) -> ImageInfo:
    """`docker save` output: ``manifest.json`` naming the config and the layer tars."""
    where = str(tar.path)
    manifest = loads_json(tar.read("manifest.json", MAX_JSON), "manifest.json", where)
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
    config = loads_json(cfg_bytes, "image config", where)
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
    set_platform(info)
    return info


# ----------------------------------------------------------------------- opening


def _pinned_layout(target: str) -> tuple[Path, str] | None:
    path, sep, digest = target.rpartition("@")
    hex_ = digest.removeprefix("sha256:")
    if not sep or len(hex_) != 64 or not digest.startswith("sha256:") or not Path(path).is_dir():
        return None
    return (Path(path), digest) if all(c in "0123456789abcdef" for c in hex_) else None


def open_image(
    source: str,
    *,
    platform: str = "linux/amd64",
    insecure: bool = False,
    limits: ArchiveLimits | None = None,
) -> OpenedImage:
    """Open `source`: a docker-archive or OCI tarball, an OCI layout or rootfs directory, or a
    registry reference (``[docker-archive:|oci:|oci-archive:|dir:|registry:]...``); in an OCI
    layout ``oci:DIR@sha256:HEX`` names one manifest or index by its digest."""
    parse_platform(platform)
    prefix, sep, rest = source.partition(":")
    forced = prefix if sep and prefix in {"docker-archive", "oci", "oci-archive", "dir", "registry"} else None
    target = rest if forced else source
    if forced == "registry":
        return _open_registry(target, platform, insecure)
    ref_name: str | None = None
    pinned = _pinned_layout(target) if forced == "oci" else None
    if pinned is not None:  # oci:DIR@sha256:HEX: that manifest (or index), by digest
        store = DirStore(pinned[0])
        return OpenedImage(read_oci(store, {"manifests": [{"digest": pinned[1]}]}, source=source,
                                    kind="oci-layout", platform=platform))
    if forced in ("oci", "oci-archive") and not Path(target).exists() and ":" in target:
        target, ref_name = target.rsplit(":", 1)  # skopeo-style oci:PATH:REFERENCE
    path = Path(target)
    if forced in (None, "dir", "oci") and path.is_dir():
        if forced != "dir" and ((path / "oci-layout").is_file() or (path / "index.json").is_file()):
            index = loads_json(_read_small(path / "index.json"), "index.json", str(path))
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
                index = loads_json(tar.read("index.json", MAX_JSON), "index.json", str(path))
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
    if path.exists():  # a FIFO, device or socket: edgegate.io's words for it
        os.close(open_regular_fd(path))
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
    """Apply every layer of `info` in order (or walk the rootfs) into an `ImageFilesystem`.

    When symlinks inside the image lead a package database to a path the walk did not read
    (``var/lib/dpkg`` -> ``/usr/lib/dpkg``), the layers are read once more wanting that path."""
    fs = _apply(info, limits, ImageFilesystem())
    also, status_d = fs.linked_databases()
    if also or status_d:
        fs = _apply(info, limits, ImageFilesystem(also_wanted=also, also_status_d=status_d))
    return fs


def _apply(info: ImageInfo, limits: ArchiveLimits | None, fs: ImageFilesystem) -> ImageFilesystem:
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
