"""Archives and compressed streams in a model scan: zip (read the way the loaders read it, see
`edgegate.io.zipread`), 7z, tar (torch's legacy format) and gzip/bz2/xz/zlib/lzma streams.
Members are scanned in memory or streamed, never extracted, with every read bounded."""

from __future__ import annotations

import io
from typing import BinaryIO

from edgegate.findings import Severity
from edgegate.io import zipread
from edgegate.model.scan import archive as _archive
from edgegate.model.scan import engine as _engine
from edgegate.model.scan import formats as _formats
from edgegate.model.scan import keras as _keras
from edgegate.model.scan.formats import FormatError

_TORCH_SKIP = ("/version", "/byteorder", "/.data/serialization_id", ".data/version")


def scan_zip(state: _engine._State, record: _engine.FileRecord, shown: str, fh: BinaryIO, size: int,
             depth: int) -> None:
    opts = state.options
    view = zipread.read_zip(fh, size, max_members=opts.max_members)
    for problem in view.problems:
        record.dangerous += 1
        _engine._finding(state, "EGM011", Severity.CRITICAL,
                         f"{problem}: loaders would see different contents than a scanner", shown)
    # a directory entry holding data is read by zipfile like any member (np.load(npz)["x/"])
    members = [m for m in view.members if not m.is_dir or m.size or m.compressed_size]
    names = [m.name for m in members]
    torch_roots = {n[: -len("data.pkl")] for n in names if n == "data.pkl" or n.endswith("/data.pkl")}
    is_keras = "config.json" in names
    record.format = "pytorch zip" if torch_roots else ("keras" if is_keras else "zip")
    if torch_roots and any("/code/" in n and n.endswith(".py") for n in names):
        _engine._finding(state, "EGM010", Severity.MEDIUM,
                         "TorchScript archive: torch.jit.load compiles and runs the code/ it contains", shown,
                         blocking=opts.strict)
    for member in members:
        bomb = zipread.bomb_problem(member)
        if bomb:
            record.dangerous += 1
            _engine._finding(state, "EGM011", Severity.CRITICAL, bomb, shown)
        try:
            _scan_zip_member(state, record, shown, fh, member, torch_roots, is_keras, depth)
        except (zipread.MemberTooLarge, zipread.EncryptedMember) as exc:
            record.status = "error"
            state.errors.append(f"{shown}: {exc.message}")
        except zipread.ZipReadError as exc:
            # a member the loader may read and edgegate cannot: never a pass
            record.dangerous += 1
            _engine._finding(state, "EGM011", Severity.CRITICAL,
                             f"{exc.message}: the member cannot be read as a loader would, so it was not checked",
                             shown)
        finally:
            for note in member.notes:
                _engine._finding(state, "EGM011", Severity.MEDIUM, f"{member.name}: {note}", shown, blocking=False)
            member.notes.clear()
    if record.dangerous:
        record.status = "dangerous"


def _scan_zip_member(state: _engine._State, record: _engine.FileRecord, shown: str, fh: BinaryIO,
                     member: zipread.ZipMember, torch_roots: set[str], is_keras: bool, depth: int) -> None:
    opts = state.options
    inner = f"{shown}!{member.name}"
    # raw tensor storage, bookkeeping and Keras 3 weights are never unpickled by their own
    # loader, but numpy.load of the same zip reads any member with the .npy magic (allow_pickle)
    storage = (
        any(member.name.startswith(root + "data/") for root in torch_roots)
        or member.name.endswith(_TORCH_SKIP)
        or (is_keras and member.name == "model.weights.h5")
    )
    head = zipread.read_member(fh, member, opts.max_member_bytes, head=_formats.HEAD_BYTES)
    if storage and not head.startswith(b"\x93NUMPY"):
        return
    if member.name == "config.json":
        # keras.saving.load_model reads config.json whatever else the archive holds
        _keras.scan_config(state, inner, _read(state, fh, member, 64 * 1024 * 1024))
        return
    fmt = "npy" if storage else _formats.sniff(head, member.name)
    if fmt is None:
        _engine._skip(state, inner, f"not a model format ({_engine._describe_head(state, head)})")
        return
    if fmt == "pickle":
        # streamed: a large (or bomb) member is never held in memory
        if member.size > opts.max_member_bytes:
            raise zipread.MemberTooLarge(f"{member.name}: {member.size} bytes exceeds the member limit")
        stream = zipread.MemberStream(fh, member, opts.max_member_bytes)
        state.archive_bytes += member.size
        _check_total(state)
        _engine._dispatch(state, inner, stream, member.size, member.name, fmt, depth=depth + 1,  # type: ignore[arg-type]
                          ambiguous=_formats.weak_pickle(head, member.name))
        return
    dispatch_member(state, inner, _read(state, fh, member, opts.max_member_bytes), member.name, fmt, depth)


def _read(state: _engine._State, fh: BinaryIO, member: zipread.ZipMember, cap: int) -> bytes:
    data = zipread.read_member(fh, member, cap)
    state.archive_bytes += len(data)
    _check_total(state)
    return data


def _check_total(state: _engine._State) -> None:
    if state.archive_bytes > state.options.max_archive_bytes:
        raise zipread.MemberTooLarge(f"archives decompress to more than {state.options.max_archive_bytes} bytes in total")


def dispatch_member(state: _engine._State, inner: str, data: bytes, name: str, fmt: str, depth: int,
                    ambiguous: bool = False) -> None:
    if fmt in ("zip", "7z", "tar") and depth + 1 > state.options.max_depth:
        state.errors.append(f"{inner}: archive nested deeper than {state.options.max_depth} levels; not scanned")
        state.records.append(_engine.FileRecord(inner, fmt, status="error"))
        return
    _engine._dispatch(state, inner, io.BytesIO(data), len(data), name, fmt, depth=depth + 1, ambiguous=ambiguous)


def scan_7z(state: _engine._State, record: _engine.FileRecord, shown: str, fh: BinaryIO, depth: int) -> None:
    opts = state.options
    record.format = "7z"
    for name, data in _archive.iter_7z(fh, opts.max_members, opts.max_member_bytes, opts.max_archive_bytes):
        inner = f"{shown}!{name}"
        if isinstance(data, str):
            record.status = "error"
            state.errors.append(f"{inner}: {data}")
            continue
        _scan_sniffed(state, inner, data, name, depth)


def _scan_sniffed(state: _engine._State, inner: str, data: bytes, name: str, depth: int) -> None:
    """An archive member judged by its content and name; one in no model format is reported as
    skipped, never dropped."""
    fmt = _formats.sniff(data[: _formats.HEAD_BYTES], name)
    if fmt is None:
        _engine._skip(state, inner, f"not a model format ({_engine._describe_head(state, data[:16])})")
        return
    dispatch_member(state, inner, data, name, fmt, depth,
                    ambiguous=fmt == "pickle" and _formats.weak_pickle(data[:16], name))


#: What torch's `legacy_load` reads by name from a tar (`tar.extract("storages")`, "tensors",
#: `tar.extractfile("pickle")`): a tar holding all three is loaded that way.
_TORCH_TAR_LAYOUT = frozenset({"storages", "tensors", "pickle"})
#: Members unpickled whatever their first byte in that layout (`sys_info` is written beside them).
_TORCH_TAR_PICKLES = frozenset({"pickle", "sys_info"})


def scan_tar(state: _engine._State, record: _engine.FileRecord, shown: str, fh: BinaryIO, depth: int) -> None:
    """A tar (torch's legacy format: `sys_info`, `pickle`, `storages`, `tensors`; or a model folder
    packed as a tar): every regular member is sniffed by content and scanned. In torch's layout
    the members it reads by name are parsed as it parses them, whatever they start with."""
    from edgegate.io.archive import ArchiveError as TarError
    from edgegate.io.archive import ArchiveLimits, iter_tar

    opts = state.options
    limits = ArchiveLimits(max_members=opts.max_members, max_total_bytes=opts.max_archive_bytes,
                           max_member_read=opts.max_member_bytes)
    record.format = "tar"
    names: set[str] = set()
    held: list[tuple[str, bytes]] = []
    """Members named as torch's that do not start like a pickle: judged once the layout is known."""
    try:
        for entry in iter_tar(fh, where=shown, limits=limits):
            if entry.kind != "file":
                continue
            names.add(entry.name)
            inner = f"{shown}!{entry.name}"
            data = entry.read(opts.max_member_bytes)
            state.archive_bytes += len(data)
            if state.archive_bytes > opts.max_archive_bytes:
                raise zipread.MemberTooLarge(f"archives decompress to more than {opts.max_archive_bytes} bytes")
            base = entry.name.rsplit("/", 1)[-1]
            pickled = (len(data) >= 2 and data[0] == 0x80 and data[1] <= 5) or _formats.maybe_pickle(data[:64])
            if base in ("storages", "tensors") and pickled:
                record.format = "pytorch legacy tar"
                _scan_torch_tar_member(state, inner, data, base)
            elif entry.name in _TORCH_TAR_LAYOUT | _TORCH_TAR_PICKLES:
                held.append((entry.name, data))
            else:
                _scan_sniffed(state, inner, data, entry.name, depth)
    except TarError as exc:
        record.status = "error"
        state.errors.append(f"{shown}: {exc.message}")
    legacy = names >= _TORCH_TAR_LAYOUT
    for name, data in held:
        inner = f"{shown}!{name}"
        if not legacy:
            _scan_sniffed(state, inner, data, name, depth)
            continue
        record.format = "pytorch legacy tar"
        if name in _TORCH_TAR_PICKLES:
            dispatch_member(state, inner, data, name, "pickle", depth)  # torch unpickles it, no sniffing
        else:
            _scan_torch_tar_member(state, inner, data, name)


def _scan_torch_tar_member(state: _engine._State, shown: str, data: bytes, kind: str) -> None:
    """`storages` and `tensors` of torch's legacy tar: a count pickle, then per item a pickle
    followed by raw bytes whose length the loader computes; every pickle is scanned, and bytes
    that do not follow that layout are an error (the loader's view cannot be followed)."""
    from edgegate.model.scan import torchlegacy

    record = _engine.FileRecord(shown, f"pytorch legacy {kind}")
    try:
        analysis = torchlegacy.analyse_member(data, kind)
    except torchlegacy.LayoutError as exc:
        record.status = "error"
        state.errors.append(f"{shown}: {exc}")
        analysis = exc.analysis
    _engine._report_pickle(state, record, shown, analysis)
    state.records.append(record)


def scan_compressed(state: _engine._State, record: _engine.FileRecord, shown: str, fh: BinaryIO, name: str, depth: int,
                     ambiguous: bool = False) -> None:
    """A compressed stream (joblib's compress=..., .pkl.gz, a gzip'd tar): decompressed in memory,
    bounded. Found by content alone, it is scanned when it holds something a loader reads."""
    head = fh.read(16)
    fh.seek(0)
    kind = _formats.compression_of(head) or "unknown"
    record.format = f"{kind}-compressed"
    if depth + 1 > state.options.max_depth:
        raise FormatError(f"compression nested deeper than {state.options.max_depth} levels")
    data = _formats.decompress_bounded(fh, kind, state.options.max_member_bytes)
    inner_name = name.rsplit(".", 1)[0] if name.lower().endswith(tuple(_formats.COMPRESSED_SUFFIXES)) else name
    by_name = _formats.suffix_of(name) in _formats.PICKLE_SUFFIXES | _formats.COMPRESSED_SUFFIXES
    fmt = _formats.sniff(data[: _formats.HEAD_BYTES], inner_name)
    if fmt is None and not by_name and ambiguous:
        record.status = "skipped"  # a compressed file in a folder walk that holds no model format
        return
    weak = fmt == "pickle" and ambiguous and _formats.weak_pickle(data[:16], inner_name)
    _engine._dispatch(state, f"{shown}!{kind}", io.BytesIO(data), len(data), inner_name, fmt or "pickle", depth=depth + 1,
              ambiguous=weak)
