"""Python inputs: pip requirements files (includes followed), pyproject.toml (PEP 621), and the
Python environment edgegate runs in, as `Component`s."""

from __future__ import annotations

import optparse
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from edgegate.errors import InputError, NothingToCheckError
from edgegate.io.paths import excerpt
from edgegate.vuln.components import Component, pypi_component, pypi_name

MAX_REQUIREMENTS_BYTES = 8 * 1024 * 1024
_MAX_INCLUDE_DEPTH = 10


def _pinned(spec: Any) -> str | None:
    """The one version a specifier set pins (``==1.2`` / ``===1.2``), else None."""
    items = list(spec)
    if len(items) == 1 and items[0].operator in ("==", "===") and "*" not in items[0].version:
        return str(items[0].version)
    return None


def _requirement(text: str, source: str, line: int | None, pointer: str | None) -> Component:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        why = str(exc).splitlines()[0] if str(exc) else "not a PEP 508 requirement"
        raise InputError(f"invalid requirement {excerpt(text)!r}: {why}", source, line) from None
    if req.url:
        return pypi_component(req.name, None, source, line=line, pointer=pointer,
                              problem="installed from a URL, not a PyPI version")
    version = _pinned(req.specifier)
    problem = None if version else f"not pinned to one version ({text.strip()!r}): cannot tell whether it is affected"
    return pypi_component(req.name, version, source, line=line, pointer=pointer, problem=problem)


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw
        if not buf:
            start = n
        line = "" if re.match(r"^\s*#", line) else re.sub(r"\s+#.*$", "", line)
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            yield start, buf.strip()
        buf = ""
    if buf.strip():
        yield start, buf.strip()


# pip's requirements-file options (pip/_internal/req/req_file.py SUPPORTED_OPTIONS and
# SUPPORTED_OPTIONS_REQ), with pip's spellings: optparse then accepts what pip accepts (``-rFILE``,
# ``--requirement=FILE``, ``-r FILE``, unambiguous prefixes such as ``--req``) and refuses the rest.
_VALUE_OPTIONS: tuple[tuple[str, ...], ...] = (
    ("-i", "--index-url", "--pypi-url"), ("--extra-index-url",), ("-c", "--constraint"),
    ("-r", "--requirement"), ("-e", "--editable"), ("-f", "--find-links"), ("--no-binary",),
    ("--only-binary",), ("--all-releases",), ("--only-final",), ("--trusted-host",), ("--use-feature",),
    ("--hash",), ("-C", "--config-settings"),
)
_FLAG_OPTIONS = ("--no-index", "--prefer-binary", "--require-hashes", "--no-require-hashes", "--pre")


class _LineOptionError(Exception):
    """An option pip's parser would refuse (unknown, ambiguous, missing its value)."""


class _OptionParser(optparse.OptionParser):
    def error(self, msg: str) -> NoReturn:  # optparse would print usage and exit
        raise _LineOptionError(msg)


def _option_parser() -> optparse.OptionParser:
    parser = _OptionParser(add_help_option=False, usage=optparse.SUPPRESS_USAGE)
    for names in _VALUE_OPTIONS:
        parser.add_option(*names, dest=names[-1].lstrip("-").replace("-", "_"), action="append", default=[])
    for flag in _FLAG_OPTIONS:
        parser.add_option(flag, action="store_true")
    return parser


def _split_line(line: str) -> tuple[str, optparse.Values, list[str]]:
    """A logical line as pip splits it (``break_args_options``): the requirement (the words before
    the first one starting with ``-``), the options after it, and any stray words among them."""
    import shlex

    words = line.split()
    first = next((i for i, w in enumerate(words) if w.startswith("-")), len(words))
    try:
        opts, stray = _option_parser().parse_args(shlex.split(" ".join(words[first:])))
    except ValueError as exc:  # shlex: an unclosed quote
        raise _LineOptionError(f"could not split the options: {exc}") from None
    return " ".join(words[:first]), opts, stray


def read_requirements(
    path: Path, shown: str, _depth: int = 0, _seen: set[Path] | None = None, root: Path | None = None
) -> list[Component]:
    """Components of a pip requirements file, read as pip reads it: ``-r``/``-c`` includes followed
    (every spelling pip accepts), editables kept as not checkable, the other pip options skipped;
    an option pip refuses, or a word pip would drop, is an `InputError` naming the line.
    Includes must stay inside `root` (default: the file's project root, `project_root`)."""
    from edgegate.io.files import read_text_bounded
    from edgegate.io.paths import project_root

    root = root if root is not None else project_root(path)
    seen = _seen if _seen is not None else set()
    real = path.resolve()
    if real in seen:
        return []
    seen.add(real)
    text = read_text_bounded(path, MAX_REQUIREMENTS_BYTES)
    out: list[Component] = []
    for line_no, line in _logical_lines(text):
        try:
            req, opts, stray = _split_line(line)
        except _LineOptionError as exc:
            raise InputError(f"not a pip requirements line: {exc}", shown, line_no) from None
        if stray:  # pip drops them without a word: say so instead
            raise InputError(f"{excerpt(stray[0])!r} after an option: pip would not install it as a requirement",
                             shown, line_no)
        if req:  # pip reads a requirement line's -r/-c as nothing; its --hash/-C apply to it
            problem = "editable install: no released version to check" if opts.editable else None
            comp = _requirement(req, shown, line_no, None)
            out.append(replace(comp, problem=problem) if problem else comp)
            continue
        for edit in opts.editable:
            out.append(pypi_component(edit, None, shown, line=line_no,
                                      problem="editable install: no released version to check"))
        for inc in opts.requirement + opts.constraint:  # pip follows only the first; more is never less
            out += _include(path, shown, inc, line_no, _depth, seen, root)
    return out


def _include(path: Path, shown: str, name: str, line_no: int, depth: int, seen: set[Path],
             root: Path) -> list[Component]:
    from edgegate.io.paths import confine

    if depth >= _MAX_INCLUDE_DEPTH:
        raise InputError("requirements includes nested too deeply", shown, line_no)
    inc = path.parent / name
    try:
        confine(inc, root, f"the included requirements file {excerpt(name)!r}")
    except InputError as exc:
        raise InputError(exc.message, shown, line_no) from None
    if not inc.is_file():
        raise InputError(f"included requirements file {excerpt(name)!r} does not exist", shown, line_no)
    return read_requirements(inc, str(Path(shown).parent / name), depth + 1, seen, root)


def _dep_list(items: Any, shown: str, pointer: str) -> list[Component]:
    if not isinstance(items, list) or not all(isinstance(d, str) for d in items):
        raise InputError(f"{pointer} must be a list of requirement strings", shown)
    return [_requirement(dep, shown, None, f"{pointer}/{i}") for i, dep in enumerate(items)]


def _not_read(project: dict[str, Any], what: str, why: str, shown: str) -> Component:
    """An EGV001 entry for dependencies edgegate cannot read: never silently nothing."""
    name = project.get("name") if isinstance(project.get("name"), str) else "the project"
    return Component(f"{what} of {name}", None, "PyPI", shown, pointer="/project/dynamic",
                     problem=f"{what} are dynamic and {why}: not checked")


def _dynamic_files(spec: Any, path: Path, shown: str, pointer: str) -> list[Component] | None:
    """setuptools' ``{file = [...]}`` form read as requirements files (confined to the project,
    as includes are); None when `spec` is not that form."""
    from edgegate.io.paths import confine, project_root

    if not isinstance(spec, dict) or set(spec) != {"file"}:
        return None
    files = [spec["file"]] if isinstance(spec["file"], str) else spec["file"]
    if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        raise InputError(f"{pointer}: file must be a path or a list of paths", shown)
    root = project_root(path)
    out: list[Component] = []
    for name in files:
        target = path.parent / name
        try:
            confine(target, root, f"the dynamic dependencies file {excerpt(name)!r}")
        except InputError as exc:
            raise InputError(exc.message, shown) from None
        if not target.is_file():
            raise InputError(f"{pointer}: the file {excerpt(name)!r} does not exist", shown)
        out += read_requirements(target, str(Path(shown).parent / name), root=root)
    return out


def _dynamic(project: dict[str, Any], tool: Any, path: Path, shown: str) -> list[Component]:
    """``dynamic = ["dependencies", "optional-dependencies"]``: setuptools' file form is read,
    anything else (``attr:``, hatch hooks, poetry, ...) is one not-checked entry."""
    dynamic = project.get("dynamic") or []
    if not isinstance(dynamic, list):
        raise InputError("[project] dynamic must be a list", shown)
    st = _table(_table(_table(tool).get("setuptools")).get("dynamic"))
    out: list[Component] = []
    if "dependencies" in dynamic:
        got = _dynamic_files(st.get("dependencies"), path, shown, "/tool/setuptools/dynamic/dependencies")
        out += got if got is not None else [_not_read(project, "dependencies", _whence(tool), shown)]
    if "optional-dependencies" in dynamic:
        extras = st.get("optional-dependencies")
        if not isinstance(extras, dict) or not extras:
            return [*out, _not_read(project, "optional-dependencies", _whence(tool), shown)]
        for extra, spec in extras.items():
            got = _dynamic_files(spec, path, shown, f"/tool/setuptools/dynamic/optional-dependencies/{extra}")
            out += got if got is not None else [_not_read(project, f"optional-dependencies {extra!r}",
                                                          "not given as {file = [...]}", shown)]
    return out


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _whence(tool: Any) -> str:
    for key, where in (("poetry", "come from [tool.poetry]"), ("hatch", "come from a hatch metadata hook"),
                       ("pdm", "come from [tool.pdm]"), ("setuptools", "not given as {file = [...]}")):
        if key in _table(tool):
            return where
    return "their source is not one edgegate reads"


def read_pyproject(path: Path, shown: str) -> list[Component]:
    """Components of ``[project] dependencies`` and ``optional-dependencies`` (PEP 621), and of the
    files setuptools reads them from when they are ``dynamic``; dynamic ones edgegate cannot read
    (and ``[tool.poetry]`` without ``[project]``) are kept as not checked (EGV001)."""
    from edgegate.io.documents import load_documents

    docs = load_documents(path, parser="toml")
    data = docs[0].data if docs else {}  # an empty file has no document
    data = data if isinstance(data, dict) else {}
    project, tool = data.get("project"), data.get("tool")
    if not isinstance(project, dict):
        poetry = _table(tool).get("poetry")
        if isinstance(poetry, dict) and any(k in poetry for k in ("dependencies", "group", "dev-dependencies")):
            return [Component("dependencies of [tool.poetry]", None, "PyPI", shown, pointer="/tool/poetry",
                              problem="Poetry dependencies (no [project] table) are not read: not checked")]
        return []
    dynamic = project.get("dynamic") or []
    for key in ("dependencies", "optional-dependencies"):
        if isinstance(dynamic, list) and key in dynamic and key in project:
            raise InputError(f"[project] {key} is both listed and dynamic (PEP 621 forbids it)", shown)
    out = _dep_list(project.get("dependencies", []), shown, "/project/dependencies")
    optional = project.get("optional-dependencies", {})
    if not isinstance(optional, dict):
        raise InputError("/project/optional-dependencies must be a table", shown)
    for extra, items in optional.items():
        out += _dep_list(items, shown, f"/project/optional-dependencies/{extra}")
    return out + _dynamic(project, tool, path, shown)


def read_environment() -> list[Component]:
    """The distributions installed in the Python environment edgegate runs in (metadata only)."""
    import sys
    from importlib.metadata import distributions

    shown = f"<environment {sys.prefix}>"
    seen: set[str] = set()
    out: list[Component] = []
    for dist in distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if not name or pypi_name(name) in seen:
            continue
        seen.add(pypi_name(name))
        out.append(pypi_component(name, dist.version, shown))
    return sorted(out, key=lambda c: c.key)


def read_python_path(path: Path, shown: str) -> list[Component]:
    """A requirements file, a pyproject.toml, or a folder holding ``requirements*.txt`` and/or
    ``pyproject.toml`` (not recursive). No requirement at all is a `NothingToCheckError`."""
    found = _read_python_path(path, shown)
    if not found:
        raise NothingToCheckError("no requirements (no package is listed)", shown)
    return found


def _read_python_path(path: Path, shown: str) -> list[Component]:
    if path.is_dir():
        files = sorted(path.glob("requirements*.txt"))
        if (path / "pyproject.toml").is_file():
            files.append(path / "pyproject.toml")
        if not files:
            raise InputError("no requirements*.txt or pyproject.toml in this folder", shown)
        out: list[Component] = []
        for f in files:
            out += _read_python_path(f, str(Path(shown) / f.name))
        return out
    if not os.path.lexists(path):
        raise InputError("no such file or directory", shown)
    if path.name == "pyproject.toml" or path.suffix == ".toml":
        return read_pyproject(path, shown)
    if path.suffix.lower() in (".json", ".xml") or path.name.endswith(".cdx.json"):
        raise InputError("looks like an SBOM: pass it with --sbom", shown)
    return read_requirements(path, shown)
