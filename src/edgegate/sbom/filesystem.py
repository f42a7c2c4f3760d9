"""The final filesystem of an image as an in-memory index, built by applying layers in order.

Only metadata is kept for every path (kind, layer, link target); the bytes of the few files the
catalogers need (package databases, os-release, Python/Node metadata) are read into memory,
bounded per file and in total. Whiteouts (``.wh.NAME``) and opaque directories
(``.wh..wh..opq``) hide lower layers' entries. Unsafe entries are skipped and recorded.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from edgegate.errors import InputError
from edgegate.io.archive import (
    ArchiveBombError,
    ArchiveEntry,
    EntryKind,
    MemberReader,
    MiB,
    link_escapes,
    normalize_member_path,
)

MAX_WANTED_FILE = 128 * MiB
MAX_WANTED_TOTAL = 1024 * MiB

_WANTED_EXACT = frozenset(
    {
        "etc/os-release",
        "usr/lib/os-release",
        "var/lib/dpkg/status",
        "lib/apk/db/installed",
        "usr/lib/apk/db/installed",
        "var/lib/rpm/rpmdb.sqlite",
        "usr/lib/sysimage/rpm/rpmdb.sqlite",
    }
)
_NODE_PKG = re.compile(r"(?:^|/)node_modules/(?:@[^/]+/)?[^/@][^/]*/package\.json$")


def is_wanted(path: str) -> bool:
    """Whether a cataloger needs the bytes of the file at `path` (relative, normalised)."""
    if path in _WANTED_EXACT:
        return True
    if path.startswith("var/lib/dpkg/status.d/"):
        return "/" not in path[len("var/lib/dpkg/status.d/") :] and not path.endswith(".md5sums")
    if path.endswith(".dist-info/METADATA") or path.endswith(".egg-info/PKG-INFO"):
        return True
    if path.endswith(".egg-info"):
        return True
    if path.startswith("usr/share/doc/") and path.endswith("/copyright") and path.count("/") == 4:
        return True
    return path.endswith("/package.json") and _NODE_PKG.search(path) is not None


@dataclass
class Node:
    """One path of the final filesystem."""

    kind: EntryKind
    layer: str
    link: str = ""
    data: bytes | None = None


@dataclass(frozen=True)
class SkippedEntry:
    """A layer entry that was not applied, and why."""

    layer: str
    entry: str
    reason: str


@dataclass
class ImageFilesystem:
    """Accumulates layers; `nodes` is the final view."""

    nodes: dict[str, Node] = field(default_factory=dict)
    skipped: list[SkippedEntry] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)
    max_wanted_file: int = MAX_WANTED_FILE
    max_wanted_total: int = MAX_WANTED_TOTAL
    _wanted_bytes: int = 0

    def add_layer(self, layer: str, entries: Iterable[ArchiveEntry]) -> None:
        """Apply one layer's entries on top of the layers added so far."""
        self.layers.append(layer)
        new: dict[str, Node] = {}
        removed: set[str] = set()
        opaque: set[str] = set()
        for entry in entries:
            if entry.path is None or entry.problem:
                self.skipped.append(SkippedEntry(layer, entry.name, entry.problem or "unsafe name"))
                continue
            path = entry.path
            if not path:
                continue
            parent, _, base = path.rpartition("/")
            if base == ".wh..wh..opq":
                opaque.add(parent)
                continue
            if base.startswith(".wh."):
                target = f"{parent}/{base[4:]}" if parent else base[4:]
                removed.add(target)
                new.pop(target, None)
                continue
            node = self._node(layer, entry, path, new)
            if node is None:
                continue
            lower = self.nodes.get(path)
            if lower is not None and lower.kind == "dir" and node.kind != "dir":
                removed.add(path)
            new[path] = node
        if removed or opaque:
            for key in [k for k in self.nodes if _hidden(k, removed, opaque)]:
                del self.nodes[key]
        self.nodes.update(new)

    def _node(self, layer: str, entry: ArchiveEntry, path: str, new: dict[str, Node]) -> Node | None:
        if entry.kind == "symlink":
            if link_escapes(path, entry.linkname):
                self.skipped.append(
                    SkippedEntry(layer, entry.name, f"symlink escapes the root (-> {entry.linkname})")
                )
                return None
            return Node("symlink", layer, link=entry.linkname)
        if entry.kind == "hardlink":
            target, problem = normalize_member_path(entry.linkname)
            if target is None or problem:
                self.skipped.append(SkippedEntry(layer, entry.name, f"hard link target {problem}"))
                return None
            source = new.get(target) or self.nodes.get(target)
            data = source.data if source is not None and is_wanted(path) else None
            return Node("file", layer, data=data)
        if entry.kind == "file":
            data = None
            if is_wanted(path):
                if entry.size > self.max_wanted_file:
                    raise ArchiveBombError(
                        f"layer {layer}: {entry.name} is {entry.size} bytes, over the "
                        f"{self.max_wanted_file} byte limit for a package database"
                    )
                data = entry.read(self.max_wanted_file)
                self._wanted_bytes += len(data)
                if self._wanted_bytes > self.max_wanted_total:
                    raise ArchiveBombError(
                        f"package metadata in the image exceeds {self.max_wanted_total} bytes"
                    )
            return Node("file", layer, data=data)
        return Node(entry.kind, layer)

    def resolve(self, path: str, *, max_hops: int = 40) -> str | None:
        """`path` with every symlink component followed inside the image, or None if dangling."""
        parts = [p for p in path.split("/") if p not in ("", ".")]
        done: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            candidate = "/".join([*done, part])
            node = self.nodes.get(candidate)
            if node is not None and node.kind == "symlink":
                hops += 1
                if hops > max_hops:
                    return None
                target = [p for p in node.link.split("/") if p not in ("", ".")]
                if node.link.startswith("/"):
                    done = []
                parts = target + parts
                continue
            done.append(part)
        return "/".join(done)

    def get(self, path: str) -> Node | None:
        """The node at `path` after following symlinks (None when absent)."""
        real = self.resolve(path)
        return self.nodes.get(real) if real is not None else None

    def files_with_data(self) -> Iterator[tuple[str, Node]]:
        """Every regular file whose bytes were read (the catalogers' inputs), sorted by path."""
        for path in sorted(self.nodes):
            node = self.nodes[path]
            if node.kind == "file" and node.data is not None:
                yield path, node


def _hidden(key: str, removed: set[str], opaque: set[str]) -> bool:
    if "" in opaque:
        return True
    if key in removed:
        return True
    idx = key.find("/")
    while idx != -1:
        prefix = key[:idx]
        if prefix in removed or prefix in opaque:
            return True
        idx = key.find("/", idx + 1)
    return False


# ------------------------------------------------------------------------- rootfs directory


class _DirReader(MemberReader):
    def __init__(self, path: Path) -> None:
        self._path = path

    def read(self, entry: ArchiveEntry, max_bytes: int | None) -> bytes:
        cap = max_bytes if max_bytes is not None else MAX_WANTED_FILE
        try:
            fd = os.open(self._path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(fd, "rb") as fh:
                data = fh.read(cap + 1)
        except OSError as exc:
            raise InputError(f"cannot read {entry.name}: {exc.strerror or exc}", self._path) from None
        if len(data) > cap:
            raise ArchiveBombError(f"{entry.name} is over the {cap} byte limit", self._path)
        return data


def iter_rootfs(root: Path) -> Iterator[ArchiveEntry]:
    """Entries of an unpacked root filesystem, like a tar layer (symlinks are not followed)."""
    root_s = str(root)
    for dirpath, dirnames, filenames in os.walk(root_s, followlinks=False):
        rel_dir = os.path.relpath(dirpath, root_s)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        for name in (*dirnames, *filenames):
            full = os.path.join(dirpath, name)
            rel = f"{rel_dir}/{name}" if rel_dir else name
            try:
                st = os.lstat(full)
            except OSError:
                continue
            mode = st.st_mode
            if stat.S_ISLNK(mode):
                try:
                    link = os.readlink(full)
                except OSError:
                    continue
                yield ArchiveEntry(name=rel, path=rel, kind="symlink", size=0, linkname=link)
            elif stat.S_ISDIR(mode):
                yield ArchiveEntry(name=rel, path=rel, kind="dir", size=0)
            elif stat.S_ISREG(mode):
                yield ArchiveEntry(
                    name=rel, path=rel, kind="file", size=st.st_size, _reader=_DirReader(Path(full))
                )
            else:
                yield ArchiveEntry(name=rel, path=rel, kind="other", size=0)
