"""The OPA engine: the real ``opa`` binary (shipped in the wheel, or ``EDGEGATE_OPA``, or PATH),
one process per run (``opa eval`` over all modules and all documents: one compile), under a
memory and a time limit. Its messages name the user's policy files and lines."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgegate.errors import EngineError, InputError
from edgegate.policy._limits import Command, LimitExceeded, Limits, run_limited_many
from edgegate.policy.modules import Module, result_rules

PINNED_VERSION = "1.22.3"
_MIN_MAJOR = 1
_PKG = Path(__file__).resolve().parents[1]
_RUN_PACKAGE = "edgegate_internal_run"
_INTERNAL = "edgegate_internal"
_MAX_OUTPUT = 512 * 1024 * 1024
_MAX_STDERR = 8 * 1024 * 1024  # print() output comes this way
_COMPILE_CODES = ("rego_parse_error", "rego_compile_error", "rego_type_error", "rego_unsafe_var_error",
                  "rego_recursion_error")
FIX = ("install Go (https://go.dev/dl) and reinstall edgegate, or set EDGEGATE_OPA to an opa >= 1.0 "
       "binary (or use --engine regopy)")


@dataclass(frozen=True)
class OpaBinary:
    path: str
    version: str
    source: str  # "EDGEGATE_OPA", "bundled" or "PATH"


def bundled_path() -> Path:
    """Where the build hook puts the binary (in the wheel, or in src/ for editable installs)."""
    return _PKG / "_bin" / "opa"


_BUILDINFO = re.compile(rb"\tgithub\.com/open-policy-agent/opa\n"
                        rb"mod\tgithub\.com/open-policy-agent/opa\tv(\d+\.\d+\.\d+)[\t\n]")


def _buildinfo_version(path: str) -> str | None:
    """The OPA version recorded in a Go binary's build info (the ``.go.buildinfo`` ELF section
    of ``go install github.com/open-policy-agent/opa@vX``): a few small reads, where running
    ``opa version`` costs a Go process start on every run. None when it is not there."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:  # 64-bit little-endian
                return None
            shoff = int.from_bytes(head[0x28:0x30], "little")
            entsize, count, names_index = (int.from_bytes(head[i:i + 2], "little") for i in (0x3A, 0x3C, 0x3E))
            if entsize != 64 or not 0 < count <= 4096 or names_index >= count:
                return None
            fh.seek(shoff)
            table = fh.read(entsize * count)
            sections = [table[i * 64:(i + 1) * 64] for i in range(count)]
            names_off = int.from_bytes(sections[names_index][0x18:0x20], "little")
            names_size = int.from_bytes(sections[names_index][0x20:0x28], "little")
            fh.seek(names_off)
            names = fh.read(min(names_size, 1 << 16))
            for sec in sections:
                start = int.from_bytes(sec[0:4], "little")
                if names[start:start + 14] == b".go.buildinfo\x00":
                    fh.seek(int.from_bytes(sec[0x18:0x20], "little"))
                    blob = fh.read(min(int.from_bytes(sec[0x20:0x28], "little"), 1 << 16))
                    found = _BUILDINFO.search(blob) if blob.startswith(b"\xff Go buildinf:") else None
                    return found.group(1).decode("ascii") if found else None
    except (OSError, ValueError, IndexError):
        return None
    return None


def _read_version(path: str) -> str:
    known = _buildinfo_version(path)
    if known:
        return known
    try:
        proc = subprocess.run([path, "version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise EngineError(f"cannot run the OPA binary {path}: {exc}; {FIX}") from None
    for line in proc.stdout.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    raise EngineError(f"{path} is not an OPA binary (`opa version` printed no version); {FIX}")


@functools.lru_cache(maxsize=8)
def _locate(env_value: str | None, path_env: str | None) -> OpaBinary:
    if env_value:
        candidates = [(env_value, "EDGEGATE_OPA")]
    else:
        candidates = [(str(bundled_path()), "bundled")]
        on_path = shutil.which("opa", path=path_env)
        if on_path:
            candidates.append((on_path, "PATH"))
    for path, source in candidates:
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            if source == "EDGEGATE_OPA":
                raise EngineError(f"EDGEGATE_OPA={path} is not an executable file; {FIX}")
            continue
        version = _read_version(path)
        major = re.match(r"v?(\d+)\.", version)
        if not major or int(major.group(1)) < _MIN_MAJOR:
            raise EngineError(f"{path} is OPA {version}; edgegate needs OPA >= {_MIN_MAJOR}.0 ({FIX})")
        return OpaBinary(path, version.lstrip("v"), source)
    raise EngineError(f"the OPA engine is not installed (no {bundled_path()}, no opa on PATH): {FIX}")


def find_opa() -> OpaBinary:
    """The ``opa`` to run: ``EDGEGATE_OPA``, else the bundled one, else ``opa`` on PATH."""
    return _locate(os.environ.get("EDGEGATE_OPA") or None, os.environ.get("PATH"))


def engine_version() -> str | None:
    """The OPA version edgegate runs (for ``--version`` and the SARIF driver); None if missing."""
    try:
        return find_opa().version
    except EngineError:
        return None


# --- one run -------------------------------------------------------------------------------------

@dataclass
class _Workspace:
    root: Path
    files: dict[str, str]  # temp path -> the user's path

    def shown(self, path: str | None) -> str | None:
        if not path:
            return None
        return self.files.get(path, self.files.get(os.path.realpath(path), path))

    def scrub(self, text: str) -> str:
        for tmp, real in self.files.items():
            text = text.replace(tmp, real)
        return text


def _write_modules(root: Path, modules: Sequence[Module], print_marker: str | None = None) -> dict[str, str]:
    from edgegate.policy._prints import instrument

    files: dict[str, str] = {}
    for i, module in enumerate(modules):
        folder = root / "m" / str(i)
        folder.mkdir(parents=True)
        name = os.path.basename(module.path) or "policy.rego"
        if not name.endswith(".rego"):
            name += ".rego"
        target = folder / name
        source = instrument(module.source, module.path, print_marker) if print_marker else module.source
        target.write_text(source, encoding="utf-8")
        files[str(target)] = module.path
    return files


def _policy_names(modules: Sequence[Module]) -> str:
    files = [m.path for m in modules]
    if len(files) <= 3:
        return ", ".join(files)
    folders = sorted({os.path.dirname(f) or "." for f in files})
    return ", ".join(folders) + f" ({len(files)} files)"


def run_opa(
    args: Sequence[str], modules: Sequence[Module], ws: _Workspace, limits: Limits
) -> tuple[int, bytes, str]:
    """Run ``opa ARGS`` with the limits; (exit code, stdout bytes, stderr text)."""
    return run_opa_many([args], modules, ws, limits, parallel=1)[0]


def run_opa_many(
    arg_lists: Sequence[Sequence[str]], modules: Sequence[Module], ws: _Workspace, limits: Limits,
    *, parallel: int,
) -> list[tuple[int, bytes, str]]:
    """Run ``opa ARGS`` for each of `arg_lists`, at most `parallel` at a time, each under the
    limits; per run (exit code, stdout bytes, stderr text)."""
    binary = find_opa()
    names = _policy_names(modules)
    env = {**os.environ, "GOMEMLIMIT": f"{max(64, limits.memory_mb * 3 // 4)}MiB"}
    paths = [(ws.root / f"stdout{k}.json", ws.root / f"stderr{k}.txt") for k in range(len(arg_lists))]
    with contextlib.ExitStack() as stack:
        commands = [Command([binary.path, *args], stack.enter_context(open(out, "wb")),
                            stack.enter_context(open(err, "wb")))
                    for args, (out, err) in zip(arg_lists, paths, strict=True)]
        try:
            codes = run_limited_many(commands, limits=limits, address_space=True, parallel=parallel,
                                     cwd=str(ws.root), env=env)
        except LimitExceeded:
            raise EngineError(
                f"OPA did not finish evaluating {names} within {limits.timeout:g} s (the time limit; "
                "EDGEGATE_POLICY_TIMEOUT raises it)"
            ) from None
        except OSError as exc:
            raise EngineError(f"cannot run OPA ({binary.path}): {exc}") from None
    runs = []
    for code, (out_path, err_path) in zip(codes, paths, strict=True):
        with open(err_path, "rb") as fh:
            stderr = fh.read(_MAX_STDERR).decode("utf-8", "replace")
        if "out of memory" in stderr or "cannot allocate memory" in stderr:
            raise EngineError(
                f"OPA ran out of memory evaluating {names} (limit {limits.memory_mb} MiB; "
                "EDGEGATE_POLICY_MEMORY_MB raises it)"
            )
        if code < 0:
            raise EngineError(f"OPA was killed by signal {-code} evaluating {names}")
        size = out_path.stat().st_size
        if size > _MAX_OUTPUT:
            raise EngineError(f"OPA's results for {names} are larger than {_MAX_OUTPUT // 2**20} MiB "
                              "(a rule returning a huge set?)")
        runs.append((code, out_path.read_bytes(), stderr))
    return runs


def _raise_errors(errors: list[dict[str, Any]], ws: _Workspace, modules: Sequence[Module]) -> None:
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    loc = first.get("location") or {}
    path = ws.shown(loc.get("file")) or None
    line = loc.get("row") or None
    message = ws.scrub(str(first.get("message") or "unknown error")).replace("\n", "; ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    if str(first.get("code")) in _COMPILE_CODES:
        raise EngineError(f"Rego compile error: {message}{more}", path, line)
    raise EngineError(f"Rego evaluation error ({_policy_names(modules)}): {message}{more}", path, line)


def _parse(code: int, stdout: bytes, stderr: str, ws: _Workspace, modules: Sequence[Module]) -> Any:
    try:
        doc = json.loads(stdout) if stdout.strip() else None
    except ValueError:
        doc = None
    if isinstance(doc, dict) and doc.get("errors"):
        _raise_errors(list(doc["errors"]), ws, modules)
    if code != 0 or not isinstance(doc, (dict, list)):
        detail = ws.scrub(stderr.strip().splitlines()[0] if stderr.strip() else f"exit code {code}")
        raise EngineError(f"OPA failed on {_policy_names(modules)}: {detail[:300]}")
    return doc


def _wrapper(modules: Sequence[Module], labels: Sequence[str], n_jobs: int | None,
             job_keys: Sequence[Sequence[str]], over: str = f"some d in data.{_INTERNAL}.inputs",
             files: str | None = None) -> tuple[str, dict[str, list[str]]]:
    """The generated module that evaluates every document of the run (of a batch) in one query;
    `over` binds ``d`` to each input and ``i`` to its index (one job); `files`, the expression
    giving input ``i``'s ``data.conftest.file`` (conftest's {name, dir} of its file)."""
    lines = [f"package {_RUN_PACKAGE}", "", "import rego.v1", ""]
    rules_of: dict[str, list[str]] = {}
    row = []
    for k, label in enumerate(labels):
        package = label.replace("/", ".")
        names = result_rules(modules, package)
        rules_of[label] = names
        parts = [f'{{"{n}": v | v := data.{package}.{n}}}' for n in names]
        lines.append(f"_ns_{k} := object.union_n([{', '.join(parts)}])")
        row.append(f'"{label}": _ns_{k}')
    lines.append(f"_row := {{{', '.join(row)}}}")
    if n_jobs is None and files:
        lines.append(f"results := [r | {over}; r := _row with input as d with data.conftest.file as {files}]")
    elif n_jobs is None:
        lines.append(f"results := [r | {over}; r := _row with input as d]")
    else:
        for j in range(n_jobs):
            base = f"data.{_INTERNAL}.jobs[{j}]"
            withs = "".join(f" with data.{key} as {base}.data[{json.dumps(key)}]" for key in job_keys[j])
            lines.append(f"_job_{j} := [r | some d in {base}.inputs; r := _row with input as d{withs}]")
        lines.append(f"results := [{', '.join(f'_job_{j}' for j in range(n_jobs))}]")
    lines.append("traced := count(results) >= 0")  # the query of --trace (a small result)
    return "\n".join(lines) + "\n", rules_of


def _common_args(rego_version: str, strict_builtin_errors: bool, compile_flags: Sequence[str] = ()) -> list[str]:
    args = list(compile_flags)
    if rego_version == "v0":
        args.append("--v0-compatible")
    elif rego_version != "v1":
        raise InputError(f"unknown Rego version {rego_version!r} (expected v0 or v1)")
    if strict_builtin_errors:
        args.append("--strict-builtin-errors")
    return args


_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def evaluate_jobs(
    modules: Sequence[Module],
    jobs: Sequence[tuple[Sequence[Any], dict[str, Any]]] | None,
    *,
    inputs: Sequence[Any] = (),
    data: dict[str, Any] | None = None,
    entrypoints: Sequence[str],
    rego_version: str = "v1",
    strict_builtin_errors: bool = True,
    limits: Limits | None = None,
    to_json: Any = None,
    files: Sequence[Any] | None = None,
    print_marker: str | None = None,
    compile_flags: Sequence[str] = (),
    trace_sink: Callable[[str], None] | None = None,
    inputs_at: Sequence[str] | None = None,
    batch_size: int | None = None,
    parallel: int | None = None,
) -> tuple[list[list[dict[str, Any]]], dict[str, list[str]], str]:
    """Evaluate the packages `entrypoints` over `inputs` with `data` (``jobs`` None), or over
    several (inputs, data) jobs in one ``opa eval``. Returns per job the rows (one per input:
    entrypoint → {result rule: value}), the result rules per entrypoint, and print output.
    `files`: per input, the value of ``data.conftest.file``; `compile_flags`: ``--strict``,
    ``--capabilities FILE``; `trace_sink` gets OPA's evaluation trace, line by line.

    One job is evaluated in batches (see `plan_batches`), each its own ``opa eval`` over the same
    modules and data, `parallel` at a time; `inputs_at` (a data path such as ``("edgegate",
    "inventory")``) says the inputs are that list of `data`, so they are not written twice."""
    lim = limits or Limits.from_env()
    if data and _INTERNAL in data:
        raise InputError(f"data.{_INTERNAL} is reserved by edgegate; rename that data key")
    if jobs is None:
        rows, rules_of, prints = _evaluate_batched(
            modules, inputs, data or {}, entrypoints,
            _common_args(rego_version, strict_builtin_errors, compile_flags),
            lim, to_json, inputs_at, batch_size, parallel, files, print_marker, trace_sink,
        )
        return [rows], rules_of, prints
    with tempfile.TemporaryDirectory(prefix="edgegate-opa-") as tmp:
        root = Path(tmp)
        ws = _Workspace(root, _write_modules(root, modules, print_marker))
        document = {_INTERNAL: {"jobs": [{"inputs": list(i), "data": d} for i, d in jobs]}}
        keys = []
        for _, d in jobs:
            bad = [k for k in d if not _KEY.match(k)]
            if bad:
                raise InputError(f"data key {bad[0]!r} is not a Rego identifier")
            keys.append(sorted(d))
        source, rules_of = _wrapper(modules, entrypoints, len(jobs), keys)
        (root / "run.rego").write_text(source, encoding="utf-8")
        _write_json(root / "data.json", document, to_json)
        args = _eval_args(ws, _common_args(rego_version, strict_builtin_errors, compile_flags), [root / "data.json"])
        code, out, err = run_opa(args, modules, ws, lim)
        value = _value(_parse(code, out, err, ws, modules), modules)
        prints = ws.scrub(err)
        if trace_sink is not None:
            from edgegate.policy._trace import run_trace

            run_trace(args, ws, modules, lim, trace_sink)
    return value, rules_of, prints


# --- one job, in batches --------------------------------------------------------------------------

BATCH_SIZE = 1000
"""Most inputs one ``opa eval`` takes when the inputs are not in `data`: OPA's memory is bounded
by a batch, not by the run."""
MIN_SPLIT = 250
"""Fewest inputs worth their own OPA process on another core (a process costs a compile)."""


def default_parallel() -> int:
    """How many OPA processes run at once: the CPUs this process may use, at most 4."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


def plan_batches(n: int, *, in_data: bool, parallel: int, batch_size: int = BATCH_SIZE) -> list[tuple[int, int]]:
    """The [start, end) input ranges of a run of `n` inputs: one per core for runs of at least
    `MIN_SPLIT` inputs per core, and, when the inputs are not in `data` (every process holds all of
    `data`), as many more as keep each at most `batch_size`. Never empty (no input: one empty batch,
    which still compiles the policies)."""
    parts = max(1, min(parallel, n // MIN_SPLIT))
    if not in_data:
        parts = max(parts, -(-n // max(1, batch_size)))
    size = max(1, -(-n // parts))
    return [(lo, min(n, lo + size)) for lo in range(0, n, size)] or [(0, 0)]


def _write_json(path: Path, value: Any, to_json: Any) -> None:
    # json.dumps, not json.dump: dump() encodes with the pure-Python encoder (ten times slower)
    path.write_text(json.dumps(value, default=to_json), encoding="utf-8")


def _eval_args(ws: _Workspace, common: Sequence[str], data_files: Sequence[Path]) -> list[str]:
    args = ["eval", "--format", "json", *common]
    for f in ws.files:
        args += ["-d", f]
    args += ["-d", str(ws.root / "run.rego")]
    for extra in data_files:
        args += ["-d", str(extra)]
    return [*args, f"data.{_RUN_PACKAGE}.results"]


def _value(doc: Any, modules: Sequence[Module]) -> Any:
    try:
        return doc["result"][0]["expressions"][0]["value"]
    except (KeyError, IndexError, TypeError):
        raise EngineError(f"OPA gave no result for {_policy_names(modules)}") from None


def _data_list(data: dict[str, Any], path: Sequence[str]) -> Any:
    value: Any = data
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _evaluate_batched(
    modules: Sequence[Module], inputs: Sequence[Any], data: dict[str, Any], entrypoints: Sequence[str],
    common: Sequence[str], limits: Limits, to_json: Any, inputs_at: Sequence[str] | None,
    batch_size: int | None, parallel: int | None, files: Sequence[Any] | None = None,
    print_marker: str | None = None, trace_sink: Callable[[str], None] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, list[str]], str]:
    # The inputs are data's own list only when it is that very list (else they are written out).
    # Not under --capabilities: indexing data's list needs numbers.range and minus, which a
    # user's capabilities file may leave out (the plain form needs only count, gte, union_n).
    in_data = bool(inputs_at) and all(_KEY.match(k) for k in inputs_at or ()) and \
        _data_list(data, inputs_at or ()) is inputs and len(inputs) > 0 and "--capabilities" not in common
    workers = parallel or default_parallel()
    batches = plan_batches(len(inputs), in_data=in_data, parallel=workers,
                           batch_size=batch_size or BATCH_SIZE)
    if in_data:
        ref = "data." + ".".join(inputs_at or ())
        over = (f"some i in numbers.range(data.{_INTERNAL}.lo, data.{_INTERNAL}.hi); d := {ref}[i]")
        file_of = f"data.{_INTERNAL}.files[i - data.{_INTERNAL}.lo]"
    else:
        # (`i` only when used: OPA's --strict refuses an unused variable in the generated module)
        over = f"some i, d in data.{_INTERNAL}.inputs" if files is not None else f"some d in data.{_INTERNAL}.inputs"
        file_of = f"data.{_INTERNAL}.files[i]"
    with tempfile.TemporaryDirectory(prefix="edgegate-opa-") as tmp:
        root = Path(tmp)
        ws = _Workspace(root, _write_modules(root, modules, print_marker))
        source, rules_of = _wrapper(modules, entrypoints, None, [], over, file_of if files is not None else None)
        (root / "run.rego").write_text(source, encoding="utf-8")
        _write_json(root / "data.json", data, to_json)
        arg_lists = []
        for k, (lo, hi) in enumerate(batches):
            own = root / f"batch{k}.json"
            part: dict[str, Any] = {"lo": lo, "hi": hi - 1} if in_data else {"inputs": list(inputs[lo:hi])}
            if files is not None:
                part["files"] = list(files[lo:hi])
            _write_json(own, {_INTERNAL: part}, to_json)
            arg_lists.append(_eval_args(ws, common, [root / "data.json", own]))
        runs = run_opa_many(arg_lists, modules, ws, limits, parallel=workers)
        rows: list[dict[str, Any]] = []
        prints = []
        for (lo, hi), (code, out, err) in zip(batches, runs, strict=True):
            value = _value(_parse(code, out, err, ws, modules), modules)
            if not isinstance(value, list) or len(value) != hi - lo:
                raise EngineError(f"OPA gave {len(value) if isinstance(value, list) else 'no'} results "
                                  f"for {hi - lo} inputs ({_policy_names(modules)})")
            rows.extend(value)
            prints.append(ws.scrub(err))
        if trace_sink is not None:
            from edgegate.policy._trace import run_trace

            for args in arg_lists:
                run_trace(args, ws, modules, limits, trace_sink)
    return rows, rules_of, "".join(prints)


# --- opa test ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TestOutcome:
    """One ``test_*`` rule as OPA's test runner reports it."""

    path: str
    line: int
    name: str
    result: str  # "pass", "fail", "error", "skip"
    message: str = ""

    __test__ = False


def run_tests(
    modules: Sequence[Module],
    data: dict[str, Any] | None = None,
    *,
    rego_version: str = "v1",
    limits: Limits | None = None,
) -> list[TestOutcome]:
    """Run every ``test_*`` rule with ``opa test`` (its ``with``, data and error semantics)."""
    lim = limits or Limits.from_env()
    with tempfile.TemporaryDirectory(prefix="edgegate-opa-") as tmp:
        root = Path(tmp)
        ws = _Workspace(root, _write_modules(root, modules))
        args = ["test", "--format", "json", *_common_args(rego_version, False)]
        if data:
            with open(root / "data.json", "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            args.append(str(root / "data.json"))
        args += list(ws.files)
        code, out, err = run_opa(args, modules, ws, lim)
        try:
            doc = json.loads(out) if out.strip() else None
        except ValueError:
            doc = None
        if isinstance(doc, dict) and doc.get("errors"):
            _raise_errors(list(doc["errors"]), ws, modules)
        if not isinstance(doc, list):
            if code == 0 and not out.strip():
                return []
            detail = ws.scrub(err.strip().splitlines()[0] if err.strip() else f"exit code {code}")
            raise EngineError(f"opa test failed on {_policy_names(modules)}: {detail[:300]}")
        outcomes = []
        for item in doc:
            loc = item.get("location") or {}
            package = str(item.get("package", "")).removeprefix("data.")
            name = f"{package}.{item.get('name')}"
            if item.get("error"):
                error = item["error"]
                msg = error.get("message") if isinstance(error, dict) else str(error)
                result, message = "error", ws.scrub(str(msg)).replace("\n", "; ")
            elif item.get("fail"):
                result, message = "fail", "the test evaluated to false or undefined"
            elif item.get("skip"):
                result, message = "skip", "skipped (todo_)"
            else:
                result, message = "pass", ""
            outcomes.append(TestOutcome(ws.shown(loc.get("file")) or "", int(loc.get("row") or 0),
                                        name, result, message))
    return sorted(outcomes, key=lambda o: (o.path, o.line))
