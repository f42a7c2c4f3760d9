"""Classify a pickle import as safe (allow-list), dangerous (deny-list) or unknown.

The deny-list follows picklescan's (MIT) and the published scanner bypasses (GHSA advisories):
anything that runs commands, evaluates code, opens files or sockets, loads another pickle, or
reaches arbitrary attributes. The allow-list is the set of functions and classes that PyTorch,
NumPy, joblib and the standard containers need to rebuild tensors and arrays.
"""

from __future__ import annotations

import enum
import functools

_WILDCARD = "*"


class Verdict(enum.Enum):
    SAFE = "safe"
    DANGEROUS = "dangerous"
    UNKNOWN = "unknown"


#: module → names ("*": the module and all its submodules).
DENY: dict[str, frozenset[str] | str] = {
    "builtins": frozenset(
        {
            "eval", "exec", "execfile", "compile", "getattr", "setattr", "delattr", "apply", "open",
            "breakpoint", "__import__", "globals", "locals", "vars", "input", "memoryview", "help",
            "exit", "quit", "reload", "file",
        }
    ),
    "os": _WILDCARD, "posix": _WILDCARD, "nt": _WILDCARD, "subprocess": _WILDCARD,
    "commands": _WILDCARD, "popen2": _WILDCARD, "pty": _WILDCARD, "runpy": _WILDCARD,
    "webbrowser": _WILDCARD, "socket": _WILDCARD, "_socket": _WILDCARD, "ssl": _WILDCARD,
    "shutil": _WILDCARD, "sys": _WILDCARD, "importlib": _WILDCARD, "imp": _WILDCARD,
    "zipimport": _WILDCARD, "code": _WILDCARD, "codeop": _WILDCARD, "pickle": _WILDCARD,
    "_pickle": _WILDCARD, "cPickle": _WILDCARD, "dill": _WILDCARD, "marshal": _WILDCARD,
    "shelve": _WILDCARD, "ctypes": _WILDCARD, "_ctypes": _WILDCARD, "cffi": _WILDCARD,
    "asyncio": _WILDCARD, "aiohttp": _WILDCARD, "bdb": _WILDCARD, "pdb": _WILDCARD,
    "httplib": _WILDCARD, "http": _WILDCARD, "urllib": _WILDCARD, "urllib2": _WILDCARD,
    "urllib3": _WILDCARD, "requests": _WILDCARD, "httpx": _WILDCARD, "ftplib": _WILDCARD,
    "smtplib": _WILDCARD, "telnetlib": _WILDCARD, "xmlrpc": _WILDCARD, "imaplib": _WILDCARD,
    "poplib": _WILDCARD, "nntplib": _WILDCARD, "cProfile": _WILDCARD, "profile": _WILDCARD,
    "pydoc": _WILDCARD, "timeit": _WILDCARD, "trace": _WILDCARD, "venv": _WILDCARD,
    "ensurepip": _WILDCARD, "pip": _WILDCARD, "setuptools": _WILDCARD, "distutils": _WILDCARD,
    "doctest": _WILDCARD, "idlelib": _WILDCARD, "lib2to3": _WILDCARD, "test": _WILDCARD,
    "uuid": _WILDCARD, "_osx_support": _WILDCARD, "_aix_support": _WILDCARD, "_pyrepl": _WILDCARD,
    "multiprocessing": _WILDCARD, "_posixsubprocess": _WILDCARD, "signal": _WILDCARD,
    "tempfile": _WILDCARD, "fileinput": _WILDCARD, "_pyio": _WILDCARD, "gzip": _WILDCARD,
    "bz2": _WILDCARD, "lzma": _WILDCARD, "_compression": _WILDCARD, "tarfile": _WILDCARD,
    "zipfile": _WILDCARD, "glob": _WILDCARD, "mmap": _WILDCARD, "dbm": _WILDCARD,
    "sqlite3": _WILDCARD, "linecache": _WILDCARD, "site": _WILDCARD, "sysconfig": _WILDCARD,
    "cloudpickle": _WILDCARD, "pkgutil": _WILDCARD,
    # importlib's bootstrap under its frozen names: module loaders, `_io`, `marshal`, `_os`
    "_frozen_importlib": _WILDCARD, "_frozen_importlib_external": _WILDCARD, "_imp": _WILDCARD,
    "numpy.f2py": _WILDCARD, "numpy.testing": _WILDCARD, "numpy.distutils": _WILDCARD,
    "numpy.ctypeslib": _WILDCARD, "numpy.lib.format": _WILDCARD, "numpy.lib._format_impl": _WILDCARD,
    "numpy.lib.npyio": _WILDCARD, "numpy.lib._npyio_impl": _WILDCARD, "numpy.lib._datasource": _WILDCARD,
    "numpy": frozenset(
        {"load", "loads", "fromfile", "save", "savez", "savez_compressed", "tofile", "memmap", "loadtxt",
         "savetxt", "genfromtxt", "fromregex", "DataSource"}
    ),
    "pandas": frozenset({"read_pickle", "read_csv", "eval"}),
    "joblib": frozenset({"load", "dump"}),
    # NDArrayWrapper makes joblib call np.load(filename, allow_pickle=True); ZNDArrayWrapper reads
    # a file named in the pickle and sets it as the array's state
    "joblib.numpy_pickle": frozenset({"load", "dump", "_unpickle", "load_compatibility", "NDArrayWrapper",
                                      "ZNDArrayWrapper", "NumpyUnpickler", "ZipNumpyUnpickler"}),
    "joblib.numpy_pickle_compat": _WILDCARD, "joblib.numpy_pickle_utils": _WILDCARD,
    "types": frozenset({"CodeType", "FunctionType", "LambdaType", "ModuleType", "MethodType"}),
    "functools": frozenset({"partial", "reduce"}),
    "operator": frozenset({"attrgetter", "itemgetter", "methodcaller"}),
    "_operator": frozenset({"attrgetter", "itemgetter", "methodcaller"}),
    "logging": frozenset({"FileHandler", "config"}),
    "logging.config": _WILDCARD, "logging.handlers": _WILDCARD,
    "io": frozenset({"FileIO", "open", "open_code"}),
    "_io": frozenset({"FileIO", "open", "open_code"}),
    "torch": frozenset({"load", "hub", "compile", "jit"}),
    "torch.serialization": _WILDCARD,
    "torch.storage": frozenset({"_load_from_bytes"}),
    "torch.hub": _WILDCARD, "torch.jit": _WILDCARD, "torch._inductor": _WILDCARD,
    "torch._dynamo": _WILDCARD, "torch.fx": _WILDCARD, "torch.utils.collect_env": _WILDCARD,
    "torch.utils.bottleneck": _WILDCARD, "torch.utils._config_module": _WILDCARD,
    "torch.utils.data.datapipes": _WILDCARD, "torch.utils.cpp_extension": _WILDCARD,
    "tensorflow.io": _WILDCARD, "keras.utils": frozenset({"get_file"}),
}

#: module → names known to only rebuild data.
ALLOW: dict[str, frozenset[str]] = {
    "collections": frozenset({"OrderedDict", "defaultdict", "deque", "Counter", "namedtuple"}),
    "builtins": frozenset(
        {
            "set", "frozenset", "list", "dict", "tuple", "bytearray", "bytes", "str", "int", "float",
            "complex", "bool", "slice", "range", "object", "NoneType", "Ellipsis", "NotImplemented",
        }
    ),
    "copyreg": frozenset({"_reconstructor", "__newobj__", "__newobj_ex__"}),
    "_codecs": frozenset({"encode"}),
    "codecs": frozenset({"encode"}),
    "datetime": frozenset({"datetime", "date", "time", "timedelta", "timezone"}),
    "decimal": frozenset({"Decimal"}),
    "fractions": frozenset({"Fraction"}),
    "argparse": frozenset({"Namespace"}),
    "numpy": frozenset(
        {
            "dtype", "ndarray", "float16", "float32", "float64", "int8", "int16", "int32", "int64",
            "uint8", "uint16", "uint32", "uint64", "bool_", "complex64", "complex128", "bytes_",
            "str_", "object_", "longlong", "ulonglong", "intc", "uintc", "half", "single", "double",
        }
    ),
    # the DType classes of numpy >= 1.25, by their exact names (a pickled `type(np.dtype("f8"))`)
    "numpy.dtypes": frozenset(
        {
            "BoolDType", "ByteDType", "BytesDType", "CLongDoubleDType", "Complex64DType", "Complex128DType",
            "Complex192DType", "Complex256DType", "DateTime64DType", "Float16DType", "Float32DType",
            "Float64DType", "Float96DType", "Float128DType", "Int8DType", "Int16DType", "Int32DType",
            "Int64DType", "IntDType", "LongDType", "LongDoubleDType", "LongLongDType", "ObjectDType",
            "ShortDType", "StrDType", "StringDType", "TimeDelta64DType", "UByteDType", "UInt8DType",
            "UInt16DType", "UInt32DType", "UInt64DType", "UIntDType", "ULongDType", "ULongLongDType",
            "UShortDType", "VoidDType",
        }
    ),
    "numpy.core.multiarray": frozenset({"_reconstruct", "scalar"}),
    "numpy._core.multiarray": frozenset({"_reconstruct", "scalar"}),
    "numpy.core.numeric": frozenset({"_frombuffer"}),
    "numpy._core.numeric": frozenset({"_frombuffer"}),
    "numpy.random._pickle": frozenset({"__randomstate_ctor", "__generator_ctor", "__bit_generator_ctor"}),
    "joblib.numpy_pickle": frozenset({"NumpyArrayWrapper"}),
    "torch._utils": frozenset(
        {
            "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
            "_rebuild_parameter_with_state", "_rebuild_qtensor", "_rebuild_sparse_tensor",
            "_rebuild_device_tensor_from_numpy", "_rebuild_meta_tensor_no_storage",
            "_rebuild_wrapper_subclass", "_rebuild_nested_tensor",
        }
    ),
    "torch._tensor": frozenset({"_rebuild_from_type_v2"}),
    "torch.nn.parameter": frozenset({"Parameter"}),
    "torch.storage": frozenset({"UntypedStorage", "TypedStorage"}),
    "torch": frozenset(
        {
            "Size", "device", "dtype", "strided", "sparse_coo", "sparse_csr", "contiguous_format",
            "channels_last", "channels_last_3d", "preserve_format", "per_tensor_affine",
            "per_channel_affine", "per_tensor_symmetric", "per_channel_symmetric",
            "float32", "float", "float64", "double", "float16", "half", "bfloat16", "int8", "uint8",
            "int16", "short", "int32", "int", "int64", "long", "bool", "complex64", "complex128",
            "qint8", "quint8", "qint32", "quint4x2", "quint2x4", "float8_e4m3fn", "float8_e5m2",
            "LongStorage", "FloatStorage", "HalfStorage", "DoubleStorage", "BFloat16Storage",
            "BoolStorage", "CharStorage", "ShortStorage", "IntStorage", "ByteStorage",
            "ComplexFloatStorage", "ComplexDoubleStorage", "QUInt2x4Storage", "QUInt4x2Storage",
            "QInt32Storage", "QInt8Storage", "QUInt8Storage", "UntypedStorage",
        }
    ),
}


#: Exact imports allowed although their module is on the deny-list: what `torch.jit.save` writes
#: into `code/*.debug_pkl` and `constants.pkl` (list builders and a type tag; torch/jit/_pickle.py).
ALLOW_EXACT: frozenset[tuple[str, str]] = frozenset(
    ("torch.jit._pickle", n)
    for n in ("build_intlist", "build_tensorlist", "build_doublelist", "build_boollist",
              "build_tensor_from_id", "restore_type_tag")
)

#: Modules whose classes may rebuild harmless data (a `PurePosixPath`), but whose methods reached
#: through a protocol-4 dotted name (`Path.touch`, `Path.write_text`) act on files.
_NO_METHODS = frozenset({"pathlib", "io", "_io", "codecs", "os.path", "posixpath", "ntpath"})

#: The names (leading underscores stripped) under which stdlib modules keep another module or a
#: builtin (`posixpath.os`, `argparse._os`, `collections._sys`, `enum.bltns`, `inspect.builtins`,
#: `tokenize._builtin_open`): importing one reaches that module or `open` through a harmless one.
_ALIASES = frozenset(
    {"os", "sys", "builtins", "builtin", "bltns", "importlib", "subprocess", "posix", "nt", "builtin_open"}
)


#: Submodules of denied packages a module may keep by their own name (`_frozen_importlib.
#: _bootstrap_external` is importlib._bootstrap_external): a name is not imported to check it.
_INTERNAL_MODULES = frozenset({"_bootstrap", "_bootstrap_external", "_frozen_importlib", "_frozen_importlib_external"})


@functools.cache
def _denied_module_names() -> frozenset[str]:
    """Every name a module on the deny list goes by: each part of a DENY key (`pickle`, `io`,
    `marshal`, `serialization`, `npyio`) and importlib's internals."""
    return frozenset(part for key in DENY for part in key.split(".")) | _INTERNAL_MODULES


def _names_a_module(module: str, step: str, *, dotted: bool) -> bool:
    """`tracemalloc.pickle`, `zipapp.shutil`, `argparse._os`, `typing.collections.abc`: the
    attribute is a module (named like one on the deny list; or, with more steps after it, like
    any standard-library module) kept in another module's namespace. A class or function named
    like its own module (`array.array`, `datetime.datetime`) is not one, and neither is a lone
    name only a harmless module shares (`numpy.copy`, `numpy.array` are functions; a module got
    that way cannot be called, and BUILD on an imported object is caught on its own)."""
    bare = step.lstrip("_")
    if step == module.rsplit(".", 1)[-1]:
        return False
    denied = _denied_module_names()
    if step in denied or bare in denied:
        return True
    return dotted and (step in _module_names() or bare in _module_names())


@functools.cache
def _module_names() -> frozenset[str]:
    import sys

    return frozenset(sys.stdlib_module_names) | frozenset(m.split(".")[0] for m in DENY) | frozenset(
        {"torch", "numpy", "joblib", "pandas", "sklearn", "scipy", "keras", "tensorflow", "dill"}
    )


def _normalise(module: str, name: str) -> list[tuple[str, str]]:
    """The (module, name) pairs the unpickler may resolve this import to (Python 2 names are
    mapped the way `pickle` does with fix_imports)."""
    import _compat_pickle

    pairs = [(module, name)]
    if (module, name) in _compat_pickle.NAME_MAPPING:
        pairs.append(_compat_pickle.NAME_MAPPING[(module, name)])
    if module in _compat_pickle.IMPORT_MAPPING:
        pairs.append((_compat_pickle.IMPORT_MAPPING[module], name))
    if module in ("__builtin__", "exceptions", "__builtins__"):
        pairs.append(("builtins", name))
    return pairs


def _denied(module: str, name: str) -> bool:
    parts = module.split(".")
    first = name.split(".", 1)[0]
    for i in range(len(parts), 0, -1):
        entry = DENY.get(".".join(parts[:i]))
        if entry is None:
            continue
        if entry == _WILDCARD:
            return True
        if i == len(parts) and isinstance(entry, frozenset) and (name in entry or first in entry):
            return True
    # "torch.serialization" may also be reached as module "torch", name "serialization.load".
    if "." in name:
        head, _, rest = name.rpartition(".")
        return _denied(f"{module}.{head}", rest) if head else False
    return False


def classify(module: str, name: str, *, resolved: bool = True) -> Verdict:
    """Safe, dangerous or unknown. An import whose operands could not be resolved to literal
    strings is dangerous: a legitimate pickler never builds one."""
    if not resolved:
        return Verdict.DANGEROUS
    pairs = _normalise(module.strip(), name.strip())
    if any(not m or not n or any(c in m + n for c in " \t\r\n\x00") for m, n in pairs[:1]):
        return Verdict.DANGEROUS
    if any((m, n) in ALLOW_EXACT for m, n in pairs):
        return Verdict.SAFE
    if any(_denied(m, n) for m, n in pairs):
        return Verdict.DANGEROUS
    exact = any(n in ALLOW.get(m, frozenset()) for m, n in pairs)
    steps = name.split(".")
    if any(_dunder(step) for step in steps) and not exact:
        # protocol 4 resolves a dotted name attribute by attribute, from its first step on:
        # `builtins.__dict__.get`, `numpy.dtypes.__builtins__.get`, `f.__globals__` reach module
        # internals; no legitimate pickle names a dunder (but copyreg's `__newobj__`, allowed exactly)
        return Verdict.DANGEROUS
    if steps[-1].lstrip("_") in _ALIASES:
        return Verdict.DANGEROUS
    if not exact and any(_names_a_module(m, n.split(".", 1)[0], dotted="." in n) for m, n in pairs):
        # the first attribute step is a module: nothing a pickler writes for a class or function,
        # and BUILD on it (or anything under it) reaches that module
        return Verdict.DANGEROUS
    if len(steps) > 1:
        # `posixpath.os.system`, `torch.os.system`, `argparse._os.system` or `enum.bltns.exec`
        # reach a module through another module's namespace: a qualified name no pickler writes
        # for a class or function it defines
        modules = _module_names()
        if any(step in modules or step.lstrip("_") in modules or step.lstrip("_") in _ALIASES
               for step in steps[:-1]):
            return Verdict.DANGEROUS
        if any(m in _NO_METHODS or m.split(".")[0] in _NO_METHODS for m, _ in pairs):
            return Verdict.DANGEROUS
    if exact:
        return Verdict.SAFE
    return Verdict.UNKNOWN


def _dunder(step: str) -> bool:
    return len(step) > 4 and step.startswith("__") and step.endswith("__")
