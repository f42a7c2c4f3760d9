"""`scan_paths`: walk model files and archives, dispatch each to its format's checks, and turn
what they find into a `GateResult` for the `model-scan` gate."""

from __future__ import annotations

import os
import re
import struct
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from edgegate.errors import InputError
from edgegate.findings import Finding, GateResult, Location, Severity
from edgegate.io.zipread import ZipReadError
from edgegate.model.scan import archive as _archive
from edgegate.model.scan import formats as _formats
from edgegate.model.scan import imports as _imports
from edgegate.model.scan import walk as _walk
from edgegate.model.scan.formats import FormatError
from edgegate.model.scan.pickle import PickleAnalysis, analyse_pickle

GATE = "model-scan"

RULES: dict[str, str] = {
    "EGM001": "Dangerous import in pickle",
    "EGM002": "Unknown import in pickle",
    "EGM003": "Unresolvable import in pickle",
    "EGM004": "ONNX external data outside the model folder",
    "EGM005": "Keras Lambda layer (code run on load)",
    "EGM006": "Keras custom object",
    "EGM007": "GGUF chat template",
    "EGM008": "GGUF chat template reaches Python internals",
    "EGM009": "Model file not inspected",
    "EGM010": "TorchScript code in archive",
    "EGM011": "Archive anomaly",
}


@dataclass(frozen=True)
class ScanOptions:
    """Limits and policy for `scan_paths`."""

    strict: bool = False
    """Unknown imports and custom Keras objects fail the gate (files that could not be inspected
    always do)."""
    allow: frozenset[str] = frozenset()
    """Extra `module.name` imports treated as safe (exact match)."""
    deny: frozenset[str] = frozenset()
    """Extra `module` or `module.name` imports treated as dangerous (prefix match)."""
    max_file_bytes: int = 64 * 1024**3
    max_member_bytes: int = 1024**3
    max_archive_bytes: int = 8 * 1024**3
    max_members: int = 100_000
    max_depth: int = 3


@dataclass
class FileRecord:
    path: str
    format: str
    imports: int = 0
    dangerous: int = 0
    unknown: int = 0
    status: str = "clean"
    container: bool = False
    """An archive or compressed stream: its counts sum its members' rows."""


@dataclass
class _State:
    options: ScanOptions
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    records: list[FileRecord] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(file or archive member, why) for what was not judged: counted and listed in the report."""
    pickles: int = 0
    archive_bytes: int = 0
    current: str = ""
    """The file on disk being scanned (findings point at it; archive members go in details)."""
    external_data: set[Path] = field(default_factory=set)
    """External-data files of the ONNX models scanned so far (raw tensors, not pickles)."""
    quote: bool = True
    """Messages may quote a short excerpt of the current file: not when a file named on the
    command line is reached through a symlink (its bytes may be anything, anywhere)."""


def scan_paths(paths: Sequence[str | Path], options: ScanOptions | None = None) -> GateResult:
    """Scan files and folders (recursively) of model files; never load, import or extract them."""
    opts = options or ScanOptions()
    state = _State(opts)
    started = time.perf_counter()
    if not paths:
        raise InputError("no model files or folders given")
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            # ONNX models first, so that their external-data files are known and not mistaken
            # for raw pickles
            walk = _walk.walk_folder(p)
            for entry, why in walk.skipped:
                _skip(state, str(entry), why)
            for entry, why in walk.problems:
                kind = "symlink" if entry.is_symlink() else "folder"
                state.records.append(FileRecord(str(entry), kind, status="error"))
                state.errors.append(f"{entry}: {why}")
            for child in walk.files:
                _scan_file(state, child, explicit=False)
        elif p.is_file():
            _scan_file(state, p, explicit=True)
        elif p.exists():
            raise InputError("not a regular file or folder", p)
        else:
            raise InputError("no such file or directory", p)
    if not state.records:
        # an empty folder, or one with no file in a model format: nothing was judged
        where = ", ".join(str(p) for p in paths[:3])
        skipped = f" ({len(state.skipped)} other files skipped)" if state.skipped else ""
        raise InputError(f"no model files found: nothing to judge{skipped}", where)
    stats: dict[str, Any] = {
        "files": len(state.records),
        "pickles": state.pickles,
        "dangerous": sum(r.dangerous for r in state.records if not r.container),
        "unknown": sum(r.unknown for r in state.records if not r.container),
        "skipped": len(state.skipped),
        "seconds": round(time.perf_counter() - started, 3),
    }
    rows = [[r.path, r.format, r.imports, r.dangerous, r.unknown, r.status] for r in state.records[:500]]
    stats["tables"] = [
        {
            "title": "model files",
            "columns": ["file", "format", "imports", "dangerous", "unknown", "status"],
            "rows": rows,
        }
    ]
    if state.skipped:
        stats["tables"].append(
            {"title": "skipped files", "columns": ["file", "why"], "rows": [list(s) for s in state.skipped[:500]]}
        )
    return GateResult.decide(GATE, state.findings, errors=state.errors, stats=stats)


# -- files and dispatch ----------------------------------------------------------------------


def _scan_file(state: _State, path: Path, explicit: bool) -> None:
    shown = str(path)
    state.current = shown
    # a walk only hands out files whose real path is inside the folder scanned
    state.quote = not explicit or _no_links(path)
    external = not explicit and path.resolve() in state.external_data
    try:
        size = path.stat().st_size
        fh = path.open("rb")
    except OSError as exc:
        state.errors.append(f"{shown}: cannot read: {exc.strerror or exc}")
        return
    with fh:
        head = fh.read(_formats.HEAD_BYTES)
        fh.seek(0)
        fmt = _formats.sniff(head, path.name)
        if external and fmt is None:
            fmt = "pickle"  # raw tensor bytes: reported only if they hold a dangerous pickle
        if fmt is None:
            if explicit:
                state.records.append(FileRecord(shown, "unknown", status="error"))
                state.errors.append(f"{shown}: not a model format edgegate recognises ({_describe_head(state, head)})")
            else:
                _skip(state, shown, f"not a model format ({_describe_head(state, head)})")
            return
        if size > state.options.max_file_bytes:
            state.records.append(FileRecord(shown, fmt, status="error"))
            state.errors.append(f"{shown}: {size} bytes exceeds the {state.options.max_file_bytes}-byte limit")
            return
        ambiguous = (fmt == "pickle" and (external or (not explicit and _formats.weak_pickle(head, path.name)))) or (
            fmt == "compressed" and not explicit
        )
        _dispatch(state, shown, fh, size, path.name, fmt, depth=0, fs_path=path, ambiguous=ambiguous)


def _skip(state: _State, shown: str, why: str) -> None:
    """A file or archive member that is not judged: never silent, it is counted and listed."""
    state.skipped.append((shown, why))


def _describe_head(state: _State, head: bytes) -> str:
    if head.startswith(b"\x89PNG"):
        return "a PNG image"
    if not head:
        return "empty file"
    return "first bytes " + head[:8].hex() if state.quote else "its bytes are not shown: reached through a symlink"


def _no_links(path: Path) -> bool:
    """No symlink on the way to the file: its real path is the path given."""
    try:
        return path.resolve(strict=True) == Path(os.path.abspath(path))
    except (OSError, RuntimeError):
        return False


def _dispatch(
    state: _State,
    shown: str,
    fh: BinaryIO,
    size: int,
    name: str,
    fmt: str,
    *,
    depth: int,
    fs_path: Path | None = None,
    ambiguous: bool = False,
) -> None:
    from edgegate.model.scan import containers as _containers
    from edgegate.model.scan import keras as _keras

    record = FileRecord(shown, fmt)
    first_child = len(state.records)
    errors_before = len(state.errors)
    try:
        if fmt == "pickle":
            _scan_pickle_stream(state, record, shown, fh, size, ambiguous=ambiguous)
            if record.status == "skipped":
                _skip(state, shown, "raw bytes or text, not a pickle an unpickler would get through")
                return
        elif fmt == "zip":
            _containers.scan_zip(state, record, shown, fh, size, depth)
        elif fmt == "7z":
            _containers.scan_7z(state, record, shown, fh, depth)
        elif fmt == "tar":
            _containers.scan_tar(state, record, shown, fh, depth)
        elif fmt == "compressed":
            _containers.scan_compressed(state, record, shown, fh, name, depth, ambiguous)
            if record.status == "skipped":
                _skip(state, shown, "compressed, holds no model format")
                return
        elif fmt == "npy":
            _scan_npy(state, record, shown, fh, size)
        elif fmt == "safetensors":
            info = _formats.check_safetensors(fh, size)
            record.imports = 0
            record.format = f"safetensors ({info.tensors} tensors)"
        elif fmt == "gguf":
            _scan_gguf(state, record, shown, fh, size)
        elif fmt == "onnx":
            _scan_onnx(state, record, shown, fh, size, fs_path)
        elif fmt == "hdf5":
            _keras.scan_hdf5(state, record, shown, fh, fs_path)
    except FormatError as exc:
        record.status = "error"
        state.errors.append(f"{shown}: {exc}")
    except (_archive.ArchiveError, ZipReadError) as exc:
        record.status = "error"
        state.errors.append(f"{shown}: {exc}")
    except OSError as exc:
        record.status = "error"
        state.errors.append(f"{shown}: cannot read: {exc.strerror or exc}")
    except (RecursionError, MemoryError, struct.error, ValueError, EOFError, zipfile.BadZipFile) as exc:
        # malformed input that reached a parser's own checks: unreadable, so not a pass
        record.status = "error"
        state.errors.append(f"{shown}: cannot parse {fmt}: {type(exc).__name__}: {str(exc)[:200]}")
    if fmt in ("zip", "7z", "tar", "compressed"):
        _summarise_container(state, record, first_child, errors_before)
    state.records.append(record)


_STATUS_ORDER = ("clean", "not inspected", "unknown", "error", "dangerous", "dangerous+error")


def _summarise_container(state: _State, record: FileRecord, first_child: int, errors_before: int) -> None:
    """An archive's row sums its members' and shows the worst member status."""
    children = state.records[first_child:]
    leaves = [c for c in children if not c.container]
    record.container = True
    record.imports += sum(c.imports for c in leaves)
    record.dangerous += sum(c.dangerous for c in leaves)
    record.unknown += sum(c.unknown for c in leaves)
    worst = max([record.status, *(c.status for c in children)],
                key=lambda st: _STATUS_ORDER.index(st) if st in _STATUS_ORDER else 0)
    if len(state.errors) > errors_before and worst in ("clean", "unknown", "not inspected"):
        worst = "error"
    elif len(state.errors) > errors_before and worst == "dangerous":
        worst = "dangerous+error"
    record.status = worst


def _finding(
    state: _State,
    rule: str,
    severity: Severity,
    message: str,
    shown: str,
    *,
    blocking: bool = True,
    pointer: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    top = state.current or shown
    member = shown[len(top) + 1 :] if shown.startswith(top + "!") else None
    if member:
        message = f"{member}: {message}"
        details = {**(details or {}), "member": member}
    state.findings.append(
        Finding(
            gate=GATE,
            rule_id=rule,
            severity=severity,
            message=message,
            location=Location(path=top, pointer=pointer),
            title=RULES[rule],
            details=details or {},
            blocking=blocking,
        )
    )


# -- pickle ------------------------------------------------------------------------------------


def _classify(state: _State, module: str, name: str, resolved: bool) -> _imports.Verdict:
    qual = f"{module}.{name}"
    if resolved and any(qual == d or qual.startswith(d + ".") or module == d for d in state.options.deny):
        return _imports.Verdict.DANGEROUS
    verdict = _imports.classify(module, name, resolved=resolved)
    if verdict is _imports.Verdict.UNKNOWN and qual in state.options.allow:
        return _imports.Verdict.SAFE
    return verdict


def _scan_pickle_stream(
    state: _State, record: FileRecord, shown: str, fh: BinaryIO, size: int, *, ambiguous: bool = False
) -> PickleAnalysis:
    analysis = analyse_pickle(fh, size=size)
    if ambiguous and not _is_a_pickle(state, analysis):
        # raw weights (.bin/.dat in a folder walk, ONNX external data) or text that no unpickler
        # would get through: not a pickle, nothing it would run
        record.status = "skipped"
        return analysis
    _report_pickle(state, record, shown, analysis)
    return analysis


def _is_a_pickle(state: _State, analysis: PickleAnalysis) -> bool:
    """Bytes known only by content are a pickle when a whole pickle parses cleanly, or when they
    import real-looking names that are dangerous or called (what an unpickler does before it
    fails on the bytes after them)."""
    if analysis.pickles >= 1 and not analysis.anomalies and (analysis.error is None or analysis.pickles > 1):
        return True
    return any(
        imp.resolved and _IDENTIFIER.fullmatch(imp.module) and _IDENTIFIER.fullmatch(imp.name)
        and (imp.called or imp.patched or _classify(state, imp.module, imp.name, True) is _imports.Verdict.DANGEROUS)
        for imp in analysis.imports
    )


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def _report_pickle(state: _State, record: FileRecord, shown: str, analysis: PickleAnalysis) -> None:
    state.pickles += analysis.pickles
    seen: set[tuple[str, str, bool, bool]] = set()
    for imp in analysis.imports:
        key = (imp.module, imp.name, imp.resolved, imp.patched)
        if key in seen:
            continue
        seen.add(key)
        record.imports += 1
        verdict = _classify(state, imp.module, imp.name, imp.resolved)
        details = {"module": imp.module, "name": imp.name, "offset": imp.offset, "opcode": imp.opcode,
                   "called": imp.called}
        if imp.patched:
            record.dangerous += 1
            _finding(state, "EGM001", Severity.CRITICAL,
                     f"pickle sets state on the imported {imp.module}.{imp.name} itself (BUILD at a module or "
                     "class, not an instance): it rewrites it for everything loaded after", shown,
                     details={**details, "patched": True})
        elif verdict is _imports.Verdict.DANGEROUS:
            record.dangerous += 1
            if imp.resolved:
                _finding(state, "EGM001", Severity.CRITICAL,
                         f"pickle imports {imp.module}.{imp.name} (byte {imp.offset}): loading this file "
                         "can run code", shown, details=details)
            else:
                _finding(state, "EGM003", Severity.CRITICAL,
                         f"pickle builds an import from non-literal operands ({imp.opcode} at byte "
                         f"{imp.offset}: {imp.module}, {imp.name}): a scanner-evasion pattern", shown,
                         details=details)
        elif verdict is _imports.Verdict.UNKNOWN:
            record.unknown += 1
            strict = state.options.strict
            _finding(state, "EGM002", Severity.HIGH if strict else Severity.MEDIUM,
                     f"pickle imports {imp.module}.{imp.name} (byte {imp.offset}), which is on neither "
                     "the allow-list nor the deny-list", shown, blocking=strict, details=details)
    if record.dangerous:
        record.status = "dangerous"
    elif record.unknown:
        record.status = "unknown"
    if analysis.error is not None:
        record.status = "error" if not record.dangerous else "dangerous+error"
        where = f" at byte {analysis.error_offset}" if analysis.error_offset is not None else ""
        found = f"; {len(analysis.imports)} import(s) before that point are reported" if analysis.imports else ""
        why = analysis.error if state.quote else "not a valid pickle (details not shown: reached through a symlink)"
        state.errors.append(f"{shown}: pickle parsing failed{where}: {why}{found}; "
                            "the rest of the file could not be checked")
    elif analysis.anomalies:
        # A valid pickle never underflows its stack or reads an unset memo slot.
        record.status = "error" if not record.dangerous else "dangerous+error"
        state.errors.append(f"{shown}: malformed pickle: {analysis.anomalies[0]}")


# -- numpy -------------------------------------------------------------------------------------


def _scan_npy(state: _State, record: FileRecord, shown: str, fh: BinaryIO, size: int) -> None:
    header = _formats.read_npy_header(fh, size)
    if header.has_object:
        record.format = "npy (object array: pickle)"
        fh.seek(header.data_offset)
        analysis = analyse_pickle(fh, size=size - header.data_offset, multiple=False)
        _report_pickle(state, record, shown, analysis)
    else:
        problem = _formats.npy_data_problem(header, size)
        if problem:
            raise FormatError(problem)


# -- gguf / onnx -------------------------------------------------------------------------------


def _scan_gguf(state: _State, record: FileRecord, shown: str, fh: BinaryIO, size: int) -> None:
    info = _formats.check_gguf(fh, size)
    record.format = f"gguf v{info.version}"
    from edgegate.model.scan import templates as _templates

    for key, template in info.chat_templates.items():
        flags = [f for f in _formats.TEMPLATE_RED_FLAGS if f in template]
        details = {"key": key, "length": len(template), "preview": template[:200]}
        try:
            issues = _templates.template_issues(template)
        except _templates.TemplateError as exc:
            record.status = "error"
            state.errors.append(f"{shown}: chat template {key}: {exc}; what it does cannot be decided")
            continue
        flags = [f"{i.what} (line {i.line})" for i in issues] + flags
        if flags:
            record.dangerous += 1
            _finding(state, "EGM008", Severity.CRITICAL,
                     f"chat template {key} uses {', '.join(flags[:4])}: template injection runs code "
                     "in the serving process", shown, details={**details, "patterns": flags})
        else:
            _finding(state, "EGM007", Severity.INFO,
                     f"chat template present ({key}, {len(template)} characters): it is executed as "
                     "Jinja by the serving runtime; review it", shown, blocking=False, details=details)
    if record.dangerous:
        record.status = "dangerous"


def _scan_onnx(state: _State, record: FileRecord, shown: str, fh: BinaryIO, size: int,
               fs_path: Path | None) -> None:
    from edgegate.model.scan import onnx as _onnx

    if size > _onnx.MAX_ONNX_BYTES:
        raise FormatError(f"{size} bytes: larger than the 2 GiB ONNX protobuf limit")
    _onnx.check_wire(fh, size)
    if fs_path is not None:
        model = _onnx.load_onnx_proto(path=fs_path)
    else:
        model = _onnx.load_onnx_proto(data=fh.read(size))
    for ref in _onnx.external_refs(model, fs_path):
        if ref.problem is None:
            if fs_path is not None:
                state.external_data.add((fs_path.resolve().parent / ref.location).resolve())
            continue
        if ref.critical:
            record.dangerous += 1
            _finding(state, "EGM004", Severity.CRITICAL,
                     f"tensor {ref.tensor!r}: {ref.problem}: {ref.location!r} (CVE-2024-27318 class)",
                     shown, details={"tensor": ref.tensor, "location": ref.location})
        else:
            record.status = "error"
            state.errors.append(f"{shown}: tensor {ref.tensor!r}: {ref.problem} ({ref.location!r})")
    if record.dangerous:
        record.status = "dangerous"
