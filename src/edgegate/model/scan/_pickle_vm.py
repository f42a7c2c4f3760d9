"""The abstract stack machine of the pickle opcode walk: literals, imported globals, marks, memo."""

from __future__ import annotations

import pickletools
from dataclasses import dataclass

from edgegate.model.scan._pickle_result import JoblibArray, PickleAnalysis, PickleImport


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
    """What the last BUILD set on it (a dtype's state tuple), or None: numpy's
    `dtype.__setstate__` overwrites the descriptor on every call, so the last state wins."""


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

    def _call(self, value: object, *, patched: bool = False) -> None:
        if isinstance(value, _Ref):
            imp = self.result.imports[value.index]
            if not imp.called or (patched and not imp.patched):
                self.result.imports[value.index] = PickleImport(
                    imp.module, imp.name, imp.offset, imp.opcode, True, imp.resolved, imp.patched or patched
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
                self._call(top, patched=True)  # setattr / __dict__.update on the module or class
            elif isinstance(top, _Obj):
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
        align = _dtype_align(dtype.args)
        if align is None:
            raise ValueError(f"joblib array dtype with a non-literal align argument at byte {pos}")
        try:
            base = np.dtype(code, align=align)
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


def _dtype_align(args: tuple[object, ...]) -> bool | None:
    """The `align` argument of `numpy.dtype(code, align, copy)` (it changes the itemsize of a
    structured code: 'i1,i8' is 9 bytes, 16 aligned), or None when it is not a literal."""
    if len(args) > 3:
        return None
    if len(args) < 2:
        return False
    value = args[1].value if isinstance(args[1], _Lit) else None
    return bool(value) if isinstance(value, (bool, int)) else None


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
