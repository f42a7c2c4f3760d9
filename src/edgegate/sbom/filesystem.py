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
from collections.abc import Callable, Iterable, Iterator
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
from edgegate.sbom.pymeta import egg_pkg_info

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
KEPT = frozenset(
    {
        "var/lib/rpm/Packages",
        "usr/lib/sysimage/rpm/Packages",
        "var/lib/rpm/Packages.db",
        "usr/lib/sysimage/rpm/Packages.db",
    }
)
"""Paths whose presence is reported (databases found and not read); their bytes are not kept."""
_NODE_PKG = re.compile(r"(?:^|/)node_modules/(?:@[^/]+/)?[^/@][^/]*/package\.json$")


_PYTHON_ENDINGS = (".dist-info/METADATA", ".egg-info/PKG-INFO", ".egg-info", ".egg/EGG-INFO/PKG-INFO", ".egg")
_WANTED_ENDINGS = (*_PYTHON_ENDINGS, "/copyright", "/package.json")
DATABASES = (
    "var/lib/dpkg/status",
    "lib/apk/db/installed",
    "usr/lib/apk/db/installed",
    "var/lib/rpm/rpmdb.sqlite",
    "usr/lib/sysimage/rpm/rpmdb.sqlite",
)
"""The package databases the catalogers read, looked up through symlinks (`linked_databases`)."""
_DB_NAMES = ("/status", "/installed", "/rpmdb.sqlite")
"""Files named like a database: their presence (not their bytes) is held, so that a symlink
leading a database there is followed only when there is a file to read (merged /usr makes
``lib/apk/db/installed`` resolve to ``usr/lib/...`` on every Debian image)."""
_STATUS_D = "var/lib/dpkg/status.d/"
_SLOW_ENDINGS = (*_WANTED_ENDINGS, *_DB_NAMES)
_NAMED = _WANTED_EXACT | KEPT
"""Every path `is_wanted` or `KEPT` names exactly (the overlay walk's one-test filter)."""


def is_wanted(path: str) -> bool:
    """Whether a cataloger needs the bytes of the file at `path` (relative, normalised)."""
    if path in _WANTED_EXACT:
        return True
    if path.startswith(_STATUS_D):
        return "/" not in path[len(_STATUS_D) :] and not path.endswith(".md5sums")
    if not path.endswith(_WANTED_ENDINGS):
        return False  # most paths: one test
    if path.endswith(_PYTHON_ENDINGS):
        return True
    if path.endswith("/copyright"):
        return path.startswith("usr/share/doc/") and path.count("/") == 4
    return _NODE_PKG.search(path) is not None


@dataclass(slots=True)
class Node:
    """One path of the final filesystem that a cataloger may need (see the module docstring)."""

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


@dataclass(frozen=True)
class _PendingLink:
    """A hard link at a path a cataloger needs whose target's bytes were not kept."""

    path: str
    target: str
    layer_index: int
    entry: str
    node: Node


_EGG = ".egg"

MAX_SKIPPED = 1000
"""Skipped entries recorded one by one; beyond this they are counted."""

MAX_LINK_HOPS = 8


@dataclass
class ImageFilesystem:
    """Accumulates layers; `nodes` is the final view of the paths that matter.

    Memory is flat in the number of layer members: only symlinks, the files catalogers read
    (`is_wanted`, with their bytes) and the few files whose presence is reported (`KEPT`) are
    held. Directories and other files are not; a whiteout, an opaque directory or a non-directory
    replacing a directory hides the held paths below it (``_dirs`` is a superset of their
    ancestors). Hard links (OCI image spec: to an earlier member of the same layer or a member of
    a lower layer) at a needed path take the target's bytes; when those were not kept, the link
    is resolved by `resolve_hard_links` re-reading the layers (see there).
    """

    nodes: dict[str, Node] = field(default_factory=dict)
    skipped: list[SkippedEntry] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)
    max_wanted_file: int = MAX_WANTED_FILE
    max_wanted_total: int = MAX_WANTED_TOTAL
    _wanted_bytes: int = 0
    _dirs: set[str] = field(default_factory=set)
    _pending: list[_PendingLink] = field(default_factory=list)
    skipped_more: int = 0
    """Skipped entries beyond `MAX_SKIPPED`, counted only."""
    has_entries: bool = False
    """Whether any layer had an entry at all (the image is not empty)."""
    also_wanted: frozenset[str] = frozenset()
    """Real paths of package databases reached through symlinks (`linked_databases`)."""
    also_status_d: str = ""
    """The real ``status.d/`` folder when ``var/lib/dpkg/status.d`` is reached through a symlink."""

    def skip(self, layer: str, entry: str, reason: str) -> None:
        """Record an entry that was not applied (bounded; the rest are counted)."""
        if len(self.skipped) < MAX_SKIPPED:
            self.skipped.append(SkippedEntry(layer, entry, reason))
        else:
            self.skipped_more += 1

    def add_layer(self, layer: str, entries: Iterable[ArchiveEntry]) -> None:
        """Apply one layer's entries on top of the layers added so far."""
        index = len(self.layers)
        self.layers.append(layer)
        new: dict[str, Node] = {}
        nodes, dirs = self.nodes, self._dirs
        named = _NAMED | self.also_wanted
        status_d = (_STATUS_D, self.also_status_d) if self.also_status_d else _STATUS_D
        entry = None
        for entry in entries:
            path = entry.path
            if path is None or entry.problem:
                self.skip(layer, entry.name, entry.problem or "unsafe name")
                continue
            if not path:
                continue
            kind = entry.kind
            if (
                kind == "file"
                and ".wh." not in path
                and path not in named
                and not path.endswith(_SLOW_ENDINGS)
                and not path.startswith(status_d)
            ):
                # the common member: a file no cataloger reads (`is_wanted` false without a call)
                # replaces whatever was at its path
                if path in dirs:
                    self._hide_below(path)
                nodes.pop(path, None)
                new.pop(path, None)
                continue
            parent, _, base = path.rpartition("/")
            if base.startswith(".wh."):
                # whiteouts hide lower layers' entries only (OCI image spec)
                if base == ".wh..wh..opq":
                    self._hide_below(parent)
                else:
                    self._hide(f"{parent}/{base[4:]}" if parent else base[4:])
                continue
            if kind == "dir":
                lower = self.nodes.get(path)
                if lower is not None:  # a directory replaces a lower symlink or file
                    del self.nodes[path]
                new.pop(path, None)
                continue
            self._hide_below(path)  # a non-directory replaces a lower directory and its contents
            node = self._node(layer, index, entry, path, new)
            if node is None:
                self.nodes.pop(path, None)
                new.pop(path, None)
            else:
                new[path] = node
        if entry is not None:
            self.has_entries = True
        for key in new:
            self._add_ancestors(key)
        self.nodes.update(new)

    def _also(self, path: str) -> bool:
        if path in self.also_wanted:
            return True
        d = self.also_status_d
        return bool(d) and path.startswith(d) and "/" not in path[len(d) :] and not path.endswith(".md5sums")

    def linked_databases(self) -> tuple[frozenset[str], str]:
        """Where symlinks inside the image lead the package databases (`DATABASES`, and the
        distroless ``status.d`` folder) when those real paths were not read: the view is then
        built again wanting them (`also_wanted`, `also_status_d`). Empty when nothing is linked."""
        extra: set[str] = set()
        for path in DATABASES:
            real = self.resolve(path)
            if real is not None and real != path:
                node, own = self.nodes.get(real), self.nodes.get(path)
                if (own is not None and own.kind == "symlink") or (
                    node is not None and node.kind == "file" and node.data is None
                ):  # the database file itself is a link (to any name), or a folder link leads to one
                    extra.add(real)
        linked_d = ""
        parts = _STATUS_D.rstrip("/").split("/")
        if any(
            (n := self.nodes.get("/".join(parts[:i]))) is not None and n.kind == "symlink"
            for i in range(1, len(parts) + 1)
        ):  # status.d files have any name: follow only a link on var/lib/dpkg/status.d itself
            real_d = self.resolve(_STATUS_D.rstrip("/"))
            linked_d = f"{real_d}/" if real_d and f"{real_d}/" != _STATUS_D else ""
        return frozenset(extra), linked_d

    def _add_ancestors(self, key: str) -> None:
        idx = key.rfind("/")
        while idx > 0:
            prefix = key[:idx]
            if prefix in self._dirs:
                return
            self._dirs.add(prefix)
            idx = key.rfind("/", 0, idx)

    def _hide(self, path: str) -> None:
        self.nodes.pop(path, None)
        self._hide_below(path)

    def _hide_below(self, prefix: str) -> None:
        if not prefix:
            self.nodes.clear()
            self._dirs.clear()
            return
        if prefix not in self._dirs:
            return
        self._dirs.discard(prefix)
        start = prefix + "/"
        for key in [k for k in self.nodes if k.startswith(start)]:
            del self.nodes[key]
        # and the directories below: a stale one would stop `_add_ancestors` before `prefix`, so
        # a later opaque marker or whiteout of `prefix` would miss what is put back below it
        self._dirs.difference_update([d for d in self._dirs if d.startswith(start)])

    def _node(
        self, layer: str, index: int, entry: ArchiveEntry, path: str, new: dict[str, Node]
    ) -> Node | None:
        if entry.kind == "symlink":
            if link_escapes(path, entry.linkname):
                self.skip(layer, entry.name, f"symlink escapes the root (-> {entry.linkname})")
                return None
            return Node("symlink", layer, link=entry.linkname)
        wanted = is_wanted(path) or self._also(path)
        if entry.kind == "hardlink":
            target, problem = normalize_member_path(entry.linkname.lstrip("/"))
            if target is None or problem or not target:
                self.skip(layer, entry.name, f"hard link target {problem or 'empty'}")
                return None
            if target.rpartition("/")[2].startswith(".wh."):
                # a whiteout is a marker, not a file of the view (found by the layer walker fuzz test)
                self.skip(layer, entry.name, f"hard link to a whiteout ({target})")
                return None
            if not wanted and path not in KEPT:
                return None
            source = new.get(target) or self.nodes.get(target)
            if (
                source is not None
                and source.kind == "file"
                and (source.data is not None or not wanted)
                and path.endswith(_EGG) == target.endswith(_EGG)  # an egg's kept bytes are its PKG-INFO
            ):
                return Node("file", layer, data=source.data if wanted else None)
            node = Node("file", layer)
            self._pending.append(_PendingLink(path, target, index, entry.name, node))
            return node
        if entry.kind == "file":
            if wanted:
                return Node("file", layer, data=self._read(layer, entry, path))
            return Node("file", layer) if path in KEPT or path.endswith(_DB_NAMES) else None
        if wanted or path in KEPT:
            raise InputError(
                f"layer {layer}: {entry.name} is not a regular file (FIFO, device or socket): "
                "the package database cannot be read"
            )
        return None

    def _read(self, layer: str, entry: ArchiveEntry, path: str) -> bytes:
        """The bytes kept for the wanted file `path`: its contents, bounded; for a zipped egg only
        its ``EGG-INFO/PKG-INFO`` (b"" when that cannot be read: the cataloger warns)."""
        if path.endswith(_EGG):
            if entry.size > self.max_wanted_file:
                return b""  # not read: too large for an egg of metadata to be worth it; warned
            data = egg_pkg_info(entry.read(self.max_wanted_file))
            self._wanted_bytes += len(data)
            return data
        if entry.size > self.max_wanted_file:
            raise ArchiveBombError(
                f"layer {layer}: {entry.name} is {entry.size} bytes, over the "
                f"{self.max_wanted_file} byte limit for a package database"
            )
        data = entry.read(self.max_wanted_file)
        self._wanted_bytes += len(data)
        if self._wanted_bytes > self.max_wanted_total:
            raise ArchiveBombError(f"package metadata in the image exceeds {self.max_wanted_total} bytes")
        return data

    def resolve_hard_links(self, reread: Callable[[int], Iterable[ArchiveEntry]]) -> None:
        """Give each pending hard link (still in the final view) its target's bytes.

        `reread(i)` streams layer `i` again. The target is looked up in the link's own layer, then
        in each lower layer, newest first (each layer read once, plus once per hop of a rare link
        to a link). A target that is never found is a skipped entry naming layer and entry, and the
        link's path leaves the view (its contents are unknown).
        """
        waiting: dict[int, dict[str, list[tuple[_PendingLink, int]]]] = {}
        for link in self._pending:
            if self.nodes.get(link.path) is link.node:
                waiting.setdefault(link.layer_index, {}).setdefault(link.target, []).append((link, 0))
        self._pending = []
        while waiting:
            index = max(waiting)
            wanted = waiting.pop(index)
            found: set[str] = set()
            for entry in reread(index):
                path = entry.path
                if path is None or entry.problem or path in found or path not in wanted:
                    continue
                found.add(path)
                links = wanted[path]
                if entry.kind == "file":
                    self._fill(index, entry, [link for link, _ in links])
                    continue
                target, problem = normalize_member_path(entry.linkname.lstrip("/"))
                for link, hops in links:
                    if entry.kind != "hardlink" or target is None or problem or not target:
                        self._unresolved(link)
                    elif hops >= MAX_LINK_HOPS:
                        self._unresolved(link, "hard link chain too long")
                    else:
                        waiting.setdefault(index, {}).setdefault(target, []).append((link, hops + 1))
            for path, links in wanted.items():
                if path in found:
                    continue
                for link, hops in links:
                    if index > 0:
                        waiting.setdefault(index - 1, {}).setdefault(path, []).append((link, hops))
                    else:
                        self._unresolved(link)

    def _fill(self, index: int, entry: ArchiveEntry, links: list[_PendingLink]) -> None:
        """Give `links` the bytes of `entry` (read once: an egg's PKG-INFO is cut from them)."""
        eggs = [link for link in links if link.path.endswith(_EGG)]
        others = [link for link in links if not link.path.endswith(_EGG)]
        egg_data = b""
        if others:
            data = self._read(self.layers[index], entry, others[0].path)
            for link in others:
                link.node.data = data
            egg_data = egg_pkg_info(data) if eggs else b""
        elif eggs:
            egg_data = self._read(self.layers[index], entry, eggs[0].path)
        for link in eggs:
            link.node.data = egg_data

    def _unresolved(self, link: _PendingLink, why: str = "") -> None:
        self.skip(
            self.layers[link.layer_index],
            link.entry,
            why or f"hard link target {link.target!r} is not a regular file in this layer or a lower one",
        )
        if self.nodes.get(link.path) is link.node:
            del self.nodes[link.path]

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
