"""Cost at a git ref and the change against it (per workload and in total), like Infracost's
pull-request comment.

The same paths are read at the ref with ``git ls-tree`` / ``git cat-file`` (run in the repository
that contains them); nothing is checked out. Blob sizes are checked before reading.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

from edgegate.errors import InputError
from edgegate.finops.estimate import Basis, Estimate, money
from edgegate.finops.workloads import MANIFEST_SUFFIXES
from edgegate.io import Document, load_documents
from edgegate.io.files import DEFAULT_MAX_BYTES

__all__ = ["CostChange", "diff_estimates", "diff_table", "load_manifests_at"]

_GIT_TIMEOUT = 60


def _git(args: Sequence[str], cwd: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    try:
        proc = subprocess.run(
            # no fsmonitor hook: a repository's config must not run commands
            ["git", "-c", "core.quotepath=off", "-c", "core.fsmonitor=false", *args],
            cwd=cwd,
            capture_output=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise InputError("--base needs git, which is not installed") from None
    except subprocess.TimeoutExpired:
        raise InputError(f"git {args[0]} took longer than {_GIT_TIMEOUT} s", cwd) from None
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputError(f"git {args[0]} failed: {message[-1] if message else proc.returncode}", cwd)
    if len(proc.stdout) > max_bytes:
        raise InputError(f"git {args[0]} output is larger than the {max_bytes} byte limit", cwd)
    return proc.stdout


def _repo_root(path: Path) -> Path:
    folder = path if path.is_dir() else path.parent
    try:
        out = _git(["rev-parse", "--show-toplevel"], folder)
    except InputError:
        raise InputError("not inside a git repository (needed for --base)", path) from None
    return Path(out.decode().strip()).resolve()


def load_manifests_at(ref: str, paths: Iterable[str | Path]) -> list[Document]:
    """The manifest documents of `paths` as they were at git `ref`. A path missing at the ref
    contributes nothing (everything under it is new). Document paths are shown as the user gave
    the working-tree paths, so findings and the diff line up with the current files."""
    if not ref or ref.startswith("-") or any(ch in ref for ch in "\0\n "):
        raise InputError(f"invalid git ref {ref!r}")
    docs: list[Document] = []
    with tempfile.TemporaryDirectory(prefix="edgegate-base-") as tmp:
        for raw in paths:
            given = Path(raw)
            if not given.exists():
                raise InputError("no such file or directory", given)
            absolute = given.resolve()
            root = _repo_root(absolute)
            commit = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root) if ref else b""
            commit_id = commit.decode().strip()
            try:
                rel = absolute.relative_to(root)
            except ValueError:
                raise InputError(f"resolves outside its git repository {root}", given) from None
            listing = _git(["ls-tree", "-r", "-l", "-z", commit_id, "--", str(PurePosixPath(rel)) or "."], root)
            for entry in listing.split(b"\0"):
                if not entry:
                    continue
                meta, _, name = entry.partition(b"\t")
                mode, otype, sha, size = meta.decode().split()
                if otype != "blob" or mode == "120000":
                    continue
                file_rel = PurePosixPath(name.decode("utf-8", "replace"))
                if file_rel.suffix.lower() not in MANIFEST_SUFFIXES:
                    continue
                inside = PurePosixPath(*file_rel.parts[len(rel.parts):]) if absolute.is_dir() else None
                if inside is not None and any(p.startswith(".") for p in inside.parts):
                    continue
                shown = str(given / Path(*inside.parts)) if inside is not None and inside.parts else str(given)
                if int(size) > DEFAULT_MAX_BYTES:
                    raise InputError("file is larger than the limit at the base ref", f"{ref}:{file_rel}")
                blob = _git(["cat-file", "blob", sha], root)
                local = Path(tmp) / f"{len(docs)}-{sha[:12]}{file_rel.suffix}"
                local.write_bytes(blob)
                try:
                    loaded = load_documents(local)
                except InputError as exc:
                    raise InputError(exc.message, f"{ref}:{file_rel}", exc.line) from None
                for doc in loaded:
                    doc.path = shown
                docs.extend(loaded)
    return docs


@dataclass(frozen=True)
class CostChange:
    """One workload's monthly cost before and after (None: absent on that side)."""

    ref: str
    label: str
    before: Decimal | None
    after: Decimal | None

    @property
    def change(self) -> Decimal:
        return (self.after or Decimal(0)) - (self.before or Decimal(0))


def diff_estimates(base: Estimate, head: Estimate, basis: Basis) -> list[CostChange]:
    """Per-workload change, in the order of the current inputs, then removed workloads."""
    before = {c.workload.key: c for c in base.costs}
    seen: set[tuple[str, str, str]] = set()
    out: list[CostChange] = []
    for c in head.costs:
        key = c.workload.key
        seen.add(key)
        old = before.get(key)
        out.append(
            CostChange(c.workload.ref, f"{c.workload.kind}/{c.workload.name}",
                       old.monthly(basis) if old else None, c.monthly(basis))
        )
    for key, old in before.items():
        if key not in seen:
            w = old.workload
            out.append(CostChange(w.ref, f"{w.kind}/{w.name}", old.monthly(basis), None))
    return out


def _signed(amount: Decimal) -> str:
    return ("+" if amount > 0 else "−" if amount < 0 else "±") + money(abs(amount))


def _percent(before: Decimal | None, after: Decimal | None) -> str:
    if before is None:
        return "new"
    if after is None:
        return "removed"
    if before == 0:
        return "±0 %" if after == 0 else "+∞ %"
    pct = (after - before) / before * 100
    return f"{'+' if pct > 0 else ''}{pct.quantize(Decimal('0.1'))} %"


def diff_table(
    changes: Sequence[CostChange], base: Estimate, head: Estimate, basis: Basis, ref: str
) -> dict[str, Any]:
    """The change table for reports: changed workloads, a count of unchanged ones, the total."""
    cur = head.prices.currency
    rows: list[list[Any]] = []
    unchanged = 0
    for ch in changes:
        if ch.before == ch.after:
            unchanged += 1
            continue
        rows.append(
            [
                ch.label,
                money(ch.before) if ch.before is not None else "—",
                money(ch.after) if ch.after is not None else "—",
                _signed(ch.change),
                _percent(ch.before, ch.after),
            ]
        )
    if unchanged:
        rows.append([f"({unchanged} unchanged)", "", "", "", ""])
    b, a = base.total(basis), head.total(basis)
    rows.append(["Total", money(b), money(a), _signed(a - b), _percent(b, a)])
    return {
        "title": f"Monthly cost change against {ref} ({cur}, {basis} scale)",
        "columns": ["Workload", f"{ref}", "Now", "Change", "Change %"],
        "rows": rows,
    }
