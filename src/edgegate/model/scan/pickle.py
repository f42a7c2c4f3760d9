"""Pickle opcode analysis: every import a pickle would perform, found without unpickling.

The stream is walked with `pickletools.genops` and a small abstract stack machine that tracks
strings, imported globals and the memo, so `STACK_GLOBAL` operands are resolved even when they
come through `BINPUT`/`MEMOIZE` and `BINGET`. Nothing is ever imported or called.
"""

from __future__ import annotations

import io
import pickletools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

#: The pickle that opens a legacy (pre-1.6, non-zip) PyTorch file.
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
#: A legacy PyTorch file holds five pickles (magic, protocol, sys info, object, storage keys)
#: followed by raw storage bytes that are never unpickled.
TORCH_LEGACY_PICKLES = 5
#: Longest newline-terminated argument (protocol 0 strings, GLOBAL names) accepted.
MAX_LINE = 16 * 1024 * 1024
#: Pickle streams up to this size are read into memory and parsed from a BytesIO (fast);
#: larger ones (legacy PyTorch files with their raw storage) go through a bounded reader.
IN_MEMORY_BYTES = 32 * 1024 * 1024
#: Larger single opcode arguments are skipped by the bounded reader instead of read.
LARGE_ARGUMENT = 16 * 1024 * 1024


@dataclass(frozen=True)
class PickleImport:
    """One import the unpickler would perform (`find_class(module, name)`)."""

    module: str
    name: str
    offset: int
    """Byte offset of the importing opcode in the stream."""
    opcode: str
    called: bool = False
    """The imported object is called (REDUCE, OBJ, NEWOBJ, INST) later in the stream."""
    resolved: bool = True
    """False when the operands of STACK_GLOBAL are not literal strings (an evasion attempt)."""

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass
class PickleAnalysis:
    """What the opcode walk found in one stream (possibly several pickles in sequence)."""

    imports: list[PickleImport] = field(default_factory=list)
    pickles: int = 0
    """Complete pickles (ended by STOP)."""
    opcodes: int = 0
    protocol: int | None = None
    error: str | None = None
    """Why parsing stopped before the end of the data (the stream is malformed or truncated)."""
    error_offset: int | None = None
    trailing_offset: int | None = None
    """Where data that is not a pickle starts after the last complete pickle, if any."""
    torch_legacy: bool = False
    anomalies: list[str] = field(default_factory=list)
    """Things a valid pickle never does (stack underflow, a memo key never stored)."""
    joblib_arrays: int = 0
    """Arrays whose data joblib stores inside the pickle stream (stepped over, not parsed)."""
    first_value: object = None
    """The first pickle's value when it is a literal (an int, a string), else None."""

    @property
    def complete(self) -> bool:
        return self.error is None and self.pickles > 0


class _Mark:
    __slots__ = ()


class _Unknown:
    __slots__ = ()


_MARK = _Mark()
_UNKNOWN = _Unknown()


@dataclass
class _Ref:
    """An imported global on the abstract stack (index into the imports list)."""

    index: int


@dataclass
class _Lit:
    value: object


@dataclass
class _Tup:
    items: tuple[object, ...]


@dataclass
class _Dict:
    """A dict being built on the stack (SETITEM/SETITEMS update it in place)."""

    items: dict[object, object]


@dataclass
class _Obj:
    """The result of calling an imported global (REDUCE/NEWOBJ) with these arguments."""

    index: int
    args: tuple[object, ...]
    state: object = None
    """What BUILD set on it (a dtype's state tuple), or None."""


@dataclass
class JoblibArray:
    """Raw array bytes joblib writes right after a NumpyArrayWrapper's BUILD."""

    nbytes: int | None
    """None: object dtype, a nested pickle follows instead of raw bytes."""
    aligned: bool


_JOBLIB_WRAPPER = ("joblib.numpy_pickle", "NumpyArrayWrapper")
_COPYREG_CTORS = frozenset(
    {("copyreg", "_reconstructor"), ("copyreg", "__newobj__"), ("copyreg", "__newobj_ex__"),
     ("copy_reg", "_reconstructor")}
)


_STRING_OPS = frozenset(
    {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"}
)
_INT_OPS = frozenset({"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"})
_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_EXT_OPS = frozenset({"EXT1", "EXT2", "EXT4"})
_SCALAR_OPS: dict[str, object] = {"NEWTRUE": True, "NEWFALSE": False, "NONE": None}
#: opcode → (index of the MARK in its stack_before or -1, items popped, items pushed)
_EFFECTS: dict[str, tuple[int, int, int]] = {
    op.name: (
        op.stack_before.index(pickletools.markobject) if pickletools.markobject in op.stack_before else -1,
        len(op.stack_before),
        len(op.stack_after),
    )
    for op in pickletools.opcodes
}


class _Reader:
    """A buffered, bounded reader: never asks the source for more than what is left (so a
    declared length of 2**63 in a BINBYTES8 cannot make anything allocate it), counts its
    position, can look ahead one byte before a pickle starts, and can skip raw data."""

    _CHUNK = 1 << 16

    def __init__(self, source: BinaryIO, limit: int) -> None:
        self._src = source
        self._left = limit
        self._buf = b""
        self._off = 0
        self._pos = 0

    def _avail(self) -> int:
        return len(self._buf) - self._off

    def _fill(self, want: int) -> None:
        if self._avail() >= want or self._left <= 0:
            return
        parts = [self._buf[self._off :]]
        have = len(parts[0])
        while have < want and self._left > 0:
            chunk = self._src.read(min(max(want - have, self._CHUNK), self._left))
            if not chunk:
                self._left = 0
                break
            self._left -= len(chunk)
            parts.append(chunk)
            have += len(chunk)
        self._buf = b"".join(parts)
        self._off = 0

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self._avail() + self._left
        if size > LARGE_ARGUMENT:
            # a big BINBYTES/BYTEARRAY payload (raw tensor data): stepped over, never held
            return _Skipped(self.skip(size))  # type: ignore[return-value]
        self._fill(size)
        data = self._buf[self._off : self._off + size]
        self._off += len(data)
        self._pos += len(data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        start = self._off
        while True:
            nl = self._buf.find(b"\n", start)
            if nl >= 0:
                return self.read(nl + 1 - self._off)
            if self._left <= 0:
                return self.read(self._avail())
            if self._avail() > MAX_LINE:
                raise ValueError(f"a text line longer than {MAX_LINE} bytes")
            start = len(self._buf) - self._off
            self._fill(self._avail() + self._CHUNK)
            start += self._off

    def skip(self, n: int) -> int:
        """Step over `n` bytes (seeking when the source can); returns how many were skipped."""
        done = min(n, self._avail())
        self._off += done
        left = min(n - done, self._left)
        if left > 0:
            try:
                self._src.seek(left, 1)
                self._left -= left
                done += left
            except (AttributeError, OSError, ValueError):
                while left > 0:
                    chunk = self._src.read(min(left, 1 << 20))
                    if not chunk:
                        self._left = 0
                        break
                    self._left -= len(chunk)
                    left -= len(chunk)
                    done += len(chunk)
        self._pos += done
        return done

    def tell(self) -> int:
        return self._pos

    def at_eof(self) -> bool:
        self._fill(1)
        return self._avail() == 0


class _Skipped:
    """Stands for bytes that were stepped over: it has their length and nothing else, so the
    opcode reader's length check works and no memory is used. Decoding it as text fails (a
    parse error), which only happens for a string of more than `LARGE_ARGUMENT` bytes."""

    def __init__(self, n: int) -> None:
        self._n = n

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[int]:
        return iter(())


class _MemReader(io.BytesIO):
    """In-memory stream (C-speed reads, never past the end) with the `_Reader` extras."""

    def skip(self, n: int) -> int:
        start = self.tell()
        end = min(start + n, len(self.getbuffer()))
        self.seek(end)
        return end - start

    def at_eof(self) -> bool:
        return self.tell() >= len(self.getbuffer())


def analyse_pickle(
    data: bytes | BinaryIO,
    *,
    size: int | None = None,
    multiple: bool = True,
    max_pickles: int | None = None,
) -> PickleAnalysis:
    """Walk the opcodes of `data` and collect every import, never unpickling anything.

    `size` bounds how many bytes are read from a stream. With `multiple`, pickles that follow
    one another (legacy PyTorch, joblib, concatenated dumps) are all analysed; parsing stops at
    the end of the data, at bytes that do not start a pickle (recorded as trailing data) or at
    `max_pickles`. A legacy PyTorch stream (first pickle is the PyTorch magic number) stops
    after its five pickles: the bytes after them are raw tensor storage.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
    elif size is not None and size <= IN_MEMORY_BYTES:
        raw = data.read(size)  # read(n) of a known, bounded size: the fast path
    else:
        raw = None
    if raw is not None:
        if size is not None:
            raw = raw[:size]
        stream: _Reader | _MemReader = _MemReader(raw)
    else:
        assert not isinstance(data, (bytes, bytearray, memoryview))
        stream = _Reader(data, size if size is not None else 1 << 62)
    result = PickleAnalysis()
    walker = _Walker(result)
    while not stream.at_eof():
        if max_pickles is not None and result.pickles >= max_pickles:
            result.trailing_offset = stream.tell()
            break
        start = stream.tell()
        count = 0
        step = walker.step
        try:
            for opcode, arg, pos in pickletools.genops(stream):  # type: ignore[arg-type]
                count += 1
                step(opcode, arg, pos or 0)
                if walker.pending is not None:
                    _joblib_payload(stream, walker.pending, result)
                    walker.pending = None
        except Exception as exc:  # pickletools raises ValueError and friends on bad bytes
            result.opcodes += count
            parsed_here = count
            if result.pickles > 0 and parsed_here == 0:
                result.trailing_offset = start
            else:
                result.error = _describe(exc)
                result.error_offset = stream.tell()
            break
        else:
            result.opcodes += count
            if not walker.stopped:
                result.error = "pickle ends without a STOP opcode (truncated)"
                result.error_offset = stream.tell()
                break
            result.pickles += 1
            if result.pickles == 1:
                result.first_value = walker.first_value
            if result.pickles == 1 and walker.first_value == TORCH_LEGACY_MAGIC:
                result.torch_legacy = True
                max_pickles = TORCH_LEGACY_PICKLES if max_pickles is None else max_pickles
            walker.stopped = False
            if not multiple:
                if not stream.at_eof():
                    result.trailing_offset = stream.tell()
                break
    if result.pickles == 0 and result.error is None:
        result.error = "empty file: no pickle opcodes"
        result.error_offset = 0
    return result


def _joblib_payload(stream: _Reader | _MemReader, array: JoblibArray, result: PickleAnalysis) -> None:
    """Step over the array data joblib writes inside its pickle stream: raw bytes (with an
    alignment pad) or, for object arrays, a nested pickle, which is analysed like any other."""
    result.joblib_arrays += 1
    if array.nbytes is None:
        # joblib reads it with a plain pickle Unpickler: a wrapper inside is not special there
        nested = _Walker(result, joblib=False)
        for opcode, arg, pos in _genops(stream):
            result.opcodes += 1
            nested.step(opcode, arg, pos if pos is not None else 0)
        if not nested.stopped:
            raise ValueError("nested pickle of a joblib object array ends without STOP")
        return
    if array.aligned:
        pad = stream.read(1)
        if len(pad) != 1 or len(stream.read(pad[0])) != pad[0]:
            raise ValueError("joblib array padding truncated")
    skipped = stream.skip(array.nbytes)
    if skipped != array.nbytes:
        raise ValueError(f"joblib array data truncated ({skipped} of {array.nbytes} bytes)")


def _genops(stream: _Reader | _MemReader) -> Iterator[tuple[pickletools.OpcodeInfo, object, int | None]]:
    # genops reads until STOP; it raises ValueError on an unknown opcode or truncated argument.
    yield from pickletools.genops(stream)  # type: ignore[arg-type]


def _describe(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if len(text) > 200:
        text = text[:200] + "…"
    return text


class _Walker:
    """The abstract stack machine. Values are literals, imported globals, marks or unknown."""

    def __init__(self, result: PickleAnalysis, *, joblib: bool = True) -> None:
        self.result = result
        self.joblib = joblib
        """Follow joblib's unpickler (array data after a NumpyArrayWrapper's BUILD)."""
        self._wrapper = False
        """The stream imports joblib's array wrapper (or something unresolvable that may be it)."""
        self.stack: list[object] = []
        self._mark_found = True
        self.memo: dict[int, object] = {}
        self.stopped = False
        self.first_value: object = None
        self.pending: JoblibArray | None = None

    # -- helpers -------------------------------------------------------------------------
    def _pop(self, where: int) -> object:
        if not self.stack or self.stack[-1] is _MARK:
            self._anomaly(f"stack underflow at byte {where}")
            return _UNKNOWN
        return self.stack.pop()

    def _pop_mark(self, where: int) -> list[object]:
        items: list[object] = []
        self._mark_found = True
        while self.stack:
            top = self.stack.pop()
            if top is _MARK:
                items.reverse()
                return items
            items.append(top)
        self._mark_found = False  # the unpickler stops here ("could not find MARK"): nothing is called
        self._anomaly(f"no MARK on the stack at byte {where}")
        items.reverse()
        return items

    def _anomaly(self, text: str) -> None:
        if len(self.result.anomalies) < 20:
            self.result.anomalies.append(text)

    def _import(self, module: str, name: str, pos: int, opcode: str, resolved: bool = True) -> _Ref:
        if not resolved or (module, name) == _JOBLIB_WRAPPER:
            self._wrapper = True
        self.result.imports.append(PickleImport(module, name, pos, opcode, resolved=resolved))
        return _Ref(len(self.result.imports) - 1)

    def _call(self, value: object) -> None:
        if isinstance(value, _Ref):
            imp = self.result.imports[value.index]
            if not imp.called:
                self.result.imports[value.index] = PickleImport(
                    imp.module, imp.name, imp.offset, imp.opcode, True, imp.resolved
                )

    # -- the machine ---------------------------------------------------------------------
    def step(self, opcode: pickletools.OpcodeInfo, arg: object, pos: int) -> None:
        name = opcode.name
        stack = self.stack
        # the most frequent opcodes first
        if name == "MEMOIZE":
            if stack and stack[-1] is not _MARK:
                self.memo[len(self.memo)] = stack[-1]
            else:
                self._anomaly(f"MEMOIZE on an empty stack at byte {pos}")
            return
        if name in _STRING_OPS or name in _INT_OPS:
            stack.append(_Lit(arg))
            return
        if name in _GET_OPS:
            if isinstance(arg, int) and arg in self.memo:
                stack.append(self.memo[arg])
            else:
                self._anomaly(f"{name} of memo key {arg!r} that was never stored (byte {pos})")
                stack.append(_UNKNOWN)
            return
        if name == "MARK":
            stack.append(_MARK)
            return
        if name == "PROTO":
            if self.result.protocol is None and isinstance(arg, int):
                self.result.protocol = arg
            return
        if name == "FRAME":
            return
        if name == "STOP":
            value = self._pop(pos)
            if self.result.pickles == 0:
                self.first_value = value.value if isinstance(value, _Lit) else None
            self.stack.clear()
            self.stopped = True
            return
        if name in _SCALAR_OPS:
            self.stack.append(_Lit(_SCALAR_OPS[name]))
            return
        if name == "EMPTY_TUPLE":
            self.stack.append(_Tup(()))
            return
        if name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            items = [self._pop(pos) for _ in range(n)]
            self.stack.append(_Tup(tuple(reversed(items))))
            return
        if name == "TUPLE":
            self.stack.append(_Tup(tuple(self._pop_mark(pos))))
            return
        if name == "EMPTY_DICT":
            self.stack.append(_Dict({}))
            return
        if name == "DICT":
            items = self._pop_mark(pos)
            self.stack.append(_Dict(_pairs(items)))
            return
        if name in ("SETITEM", "SETITEMS"):
            items = [self._pop(pos), self._pop(pos)][::-1] if name == "SETITEM" else self._pop_mark(pos)
            if not self.stack or self.stack[-1] is _MARK:
                self._anomaly(f"{name} without a dict at byte {pos}")
            elif isinstance(self.stack[-1], _Dict):
                self.stack[-1].items.update(_pairs(items))
            return
        if name in ("GLOBAL", "INST"):
            module, _, attr = str(arg).partition(" ")
            ref = self._import(module, attr, pos, name)
            if name == "INST":
                inst_args = self._pop_mark(pos)
                if self._mark_found:
                    self._call(ref)
                self.stack.append(_Obj(ref.index, tuple(inst_args)))
            else:
                self.stack.append(ref)
            return
        if name == "STACK_GLOBAL":
            attr_v = self._pop(pos)
            mod_v = self._pop(pos)
            if (
                isinstance(mod_v, _Lit)
                and isinstance(mod_v.value, str)
                and isinstance(attr_v, _Lit)
                and isinstance(attr_v.value, str)
            ):
                self.stack.append(self._import(mod_v.value, attr_v.value, pos, name))
            else:
                self.stack.append(
                    self._import(_show(mod_v), _show(attr_v), pos, name, resolved=False)
                )
            return
        if name in _EXT_OPS:
            self.stack.append(self._import("copyreg", f"<extension {arg}>", pos, name, resolved=False))
            return
        if name in _PUT_OPS:
            if self.stack and self.stack[-1] is not _MARK and isinstance(arg, int):
                self.memo[arg] = self.stack[-1]
            else:
                self._anomaly(f"{name} on an empty stack at byte {pos}")
            return
        if name == "DUP":
            self.stack.append(self.stack[-1] if self.stack else _UNKNOWN)
            return
        if name == "POP":
            self._pop(pos)
            return
        if name == "POP_MARK":
            self._pop_mark(pos)
            return
        if name == "REDUCE":
            args = self._pop(pos)
            func = self._pop(pos)
            self._call(func)
            self.stack.append(_obj(func, args))
            return
        if name == "OBJ":
            items = self._pop_mark(pos)
            if items and self._mark_found:
                self._call(items[0])
                self.stack.append(_obj(items[0], _Tup(tuple(items[1:]))))
            else:
                self.stack.append(_UNKNOWN)
            return
        if name == "NEWOBJ":
            args = self._pop(pos)
            cls = self._pop(pos)
            self._call(cls)
            self.stack.append(_obj(cls, args))
            return
        if name == "NEWOBJ_EX":
            self._pop(pos)
            self._pop(pos)
            self._call(self._pop(pos))
            self.stack.append(_UNKNOWN)
            return
        if name == "BUILD":
            state = self._pop(pos)  # the object stays (its __setstate__ runs)
            top = self.stack[-1] if self.stack else None
            if isinstance(top, _Ref):
                self._call(top)
            elif isinstance(top, _Obj):
                if top.state is None:
                    top.state = state
                if self.joblib and self._class_is(top, _JOBLIB_WRAPPER):
                    self.pending = self._joblib_array(state, pos)
                    self.stack[-1] = _UNKNOWN  # joblib replaces the wrapper by the array
            elif self.joblib and self.wrapper_imported():
                # joblib checks isinstance(top, NumpyArrayWrapper) on every BUILD: an object
                # whose class is not known here may be one, and then raw bytes would follow
                raise ValueError(
                    f"BUILD at byte {pos} on an object edgegate cannot identify, in a stream that "
                    "imports joblib's array wrapper: cannot follow joblib's reading"
                )
            return
        self._generic(opcode, pos)

    def wrapper_imported(self) -> bool:
        return self._wrapper

    def _class_is(self, obj: _Obj, target: tuple[str, str]) -> bool:
        """The class of an object built by calling an import: the import itself, or the class
        passed to copyreg's `_reconstructor` / `__newobj__` / `__newobj_ex__`."""
        if self._is(obj.index, target):
            return True
        imp = self.result.imports[obj.index]
        if (imp.module, imp.name) in _COPYREG_CTORS and obj.args and isinstance(obj.args[0], _Ref):
            return self._is(obj.args[0].index, target)
        return False

    def _is(self, index: int, target: tuple[str, str]) -> bool:
        imp = self.result.imports[index]
        return imp.resolved and (imp.module, imp.name) == target

    def _joblib_array(self, state: object, pos: int) -> JoblibArray:
        """Size of the raw data that follows a NumpyArrayWrapper, from its literal state, the way
        joblib's `read_array` computes it; anything edgegate cannot be sure of is an error."""
        if not isinstance(state, _Dict):
            raise ValueError(f"joblib array wrapper without a literal state at byte {pos}")
        shape = state.items.get("shape")
        dims = shape.items if isinstance(shape, _Tup) else None
        if dims is None or not all(isinstance(d, _Lit) and isinstance(d.value, int) and d.value >= 0 for d in dims):
            raise ValueError(f"joblib array wrapper with a non-literal shape at byte {pos}")
        # joblib: `if numpy_array_alignment_bytes is not None: read the padding`
        align = state.items.get("numpy_array_alignment_bytes", _Lit(None))
        if not isinstance(align, _Lit):
            raise ValueError(f"joblib array wrapper with a non-literal alignment at byte {pos}")
        itemsize, hasobject = self._dtype_facts(state.items.get("dtype"), pos)
        if hasobject:
            return JoblibArray(None, align.value is not None)
        if itemsize == 0:
            raise ValueError(f"joblib array with a zero-size dtype at byte {pos}")
        count = 1
        for d in dims:
            assert isinstance(d, _Lit) and isinstance(d.value, int)
            count *= d.value
        return JoblibArray(count * itemsize, align.value is not None)

    def _dtype_facts(self, dtype: object, pos: int, depth: int = 0) -> tuple[int, bool]:
        """(itemsize, hasobject) of a pickled numpy dtype as `dtype.__setstate__` sets them: the
        flags of a version-3/4 state decide `hasobject`; a flexible type takes its elsize."""
        if not (isinstance(dtype, _Obj) and self._is(dtype.index, ("numpy", "dtype")) and dtype.args
                and isinstance(dtype.args[0], _Lit) and isinstance(dtype.args[0].value, str) and depth < 32):
            raise ValueError(f"joblib array wrapper with a dtype edgegate cannot size at byte {pos}")
        import numpy as np

        code = dtype.args[0].value
        try:
            base = np.dtype(code)
        except (TypeError, ValueError):
            raise ValueError(f"joblib array with unknown dtype {code[:40]!r} at byte {pos}") from None
        state = dtype.state
        if state is None:
            return int(base.itemsize), bool(base.hasobject)
        items = state.items if isinstance(state, _Tup) else None
        if (
            items is None
            or len(items) not in (8, 9)
            or not all(isinstance(items[i], _Lit) for i in (0, 5, 7))
            or not isinstance(items[0], _Lit) or items[0].value not in (3, 4)
        ):
            raise ValueError(f"joblib array dtype with a state edgegate cannot follow at byte {pos}")
        elsize, flags = items[5], items[7]
        assert isinstance(elsize, _Lit) and isinstance(flags, _Lit)
        if not isinstance(elsize.value, int) or not isinstance(flags.value, int):
            raise ValueError(f"joblib array dtype with a non-integer state at byte {pos}")
        hasobject = bool(flags.value & 1)  # NPY_ITEM_HASOBJECT, taken from the state as is
        itemsize = int(base.itemsize)
        if base.kind in "VSU" and elsize.value >= 0:
            itemsize = elsize.value
        return itemsize, hasobject

    def _generic(self, opcode: pickletools.OpcodeInfo, pos: int) -> None:
        mark_at, pops, pushes = _EFFECTS[opcode.name]
        if mark_at >= 0:
            self._pop_mark(pos)
            pops = mark_at
        for _ in range(pops):
            self._pop(pos)
        self.stack.extend([_UNKNOWN] * pushes)


def _pairs(items: list[object]) -> dict[object, object]:
    out: dict[object, object] = {}
    for k, v in zip(items[::2], items[1::2], strict=False):
        if isinstance(k, _Lit) and isinstance(k.value, (str, int, bytes)):
            out[k.value] = v
    return out


def _obj(func: object, args: object) -> object:
    if isinstance(func, _Ref):
        return _Obj(func.index, args.items if isinstance(args, _Tup) else ())
    return _UNKNOWN


def _show(value: object) -> str:
    if isinstance(value, _Lit):
        return repr(value.value)[:80]
    if isinstance(value, _Ref):
        return "<imported object>"
    return "<unknown>"
