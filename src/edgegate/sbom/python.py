"""Python project SBOMs: a virtual environment, ``poetry.lock``/``uv.lock``, ``requirements*.txt``
or ``pyproject.toml``.

Nothing is installed, imported or executed: requirements are parsed with `packaging`, an
environment is read from its ``*.dist-info/METADATA`` files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgegate.errors import InputError
from edgegate.io.files import read_text_bounded
from edgegate.io.parse import loads_toml
from edgegate.sbom.packages import Package
from edgegate.sbom.pymeta import normalize_pypi_name, parse_python_metadata, pypi_purl_name

MAX_INCLUDE_DEPTH = 10
MAX_METADATA = 4 * 1024 * 1024


@dataclass
class PythonProject:
    """What was inventoried: the kind of input, its packages, and notes."""

    source: Path
    kind: str
    name: str
    version: str | None = None
    packages: list[Package] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _package(name: str, version: str | None, location: str, licenses: list[str] | None = None) -> Package:
    from packageurl import PackageURL

    return Package(
        name=name,
        version=version or "",
        ecosystem="pypi",
        purl=PackageURL(type="pypi", name=pypi_purl_name(name), version=version).to_string(),
        location=location,
        licenses=licenses or [],
    )


def _logical_lines(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    buf = ""
    start = 0
    for no, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not buf:
            start = no
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            out.append((start, buf.strip()))
        buf = ""
    if buf.strip():
        out.append((start, buf.strip()))
    return out


def parse_requirements(
    path: Path, project: PythonProject, depth: int = 0, seen: set[Path] | None = None, root: Path | None = None
) -> None:
    """Add the requirements of a pip requirements file (following ``-r``/``-c`` includes, which
    must stay inside `root`: default the file's project root)."""
    from packaging.requirements import InvalidRequirement, Requirement

    from edgegate.io.paths import confine, excerpt, project_root

    root = root if root is not None else project_root(path)
    seen = seen if seen is not None else set()
    real = path.resolve()
    if real in seen:
        return
    seen.add(real)
    if depth > MAX_INCLUDE_DEPTH:
        raise InputError("requirements includes nested too deeply", path)
    text = read_text_bounded(path)
    for line_no, line in _logical_lines(text):
        if line.startswith(("-r ", "--requirement ", "-r", "--requirement=")):
            target = re.sub(r"^(-r|--requirement)[ =]?", "", line).strip()
            try:
                confine(path.parent / target, root, f"the included requirements file {excerpt(target)!r}")
            except InputError as exc:
                raise InputError(exc.message, path, line_no) from None
            parse_requirements(path.parent / target, project, depth + 1, seen, root)
            continue
        if line.startswith(("-e", "--editable")):
            project.warnings.append(f"{path}:{line_no}: editable requirement not inventoried: {excerpt(line)}")
            continue
        if line.startswith("-"):
            continue  # options: -c, --index-url, --hash on their own, ...
        spec = line.split(" --hash", 1)[0].split(" --", 1)[0].strip()
        if "://" in spec or spec.startswith((".", "/")):
            project.warnings.append(f"{path}:{line_no}: URL or path requirement not inventoried: {spec}")
            continue
        try:
            req = Requirement(spec)
        except InvalidRequirement as exc:
            raise InputError(
                f"invalid requirement {excerpt(spec)!r}: {str(exc).splitlines()[0]}", path, line_no
            ) from None
        version = None
        for s in req.specifier:
            if s.operator in ("==", "===") and "*" not in s.version:
                version = s.version
        if version is None:
            project.warnings.append(f"{path}:{line_no}: {req.name} is not pinned (no exact version)")
        project.packages.append(_package(req.name, version, f"{path.name}:{line_no}"))


def _site_packages(env: Path) -> list[Path]:
    found = sorted(env.glob("lib/python3*/site-packages")) + sorted(env.glob("lib64/python3*/site-packages"))
    found += sorted(env.glob("Lib/site-packages"))
    return found


def _is_local_install(dist_info: Path) -> bool:
    """PEP 610: a ``direct_url.json`` naming a ``file://`` URL (a local path or editable install)."""
    import json

    direct = dist_info / "direct_url.json"
    if not direct.is_file():
        return False
    try:
        doc = json.loads(read_text_bounded(direct, 1024 * 1024))
    except (ValueError, InputError):
        return False
    return isinstance(doc, dict) and str(doc.get("url", "")).startswith("file:")


def _pth_entries(sp: Path, project: PythonProject) -> list[Path]:
    """The folders and eggs the ``*.pth`` files of `sp` put on ``sys.path``, as `site.addpackage`
    reads them: one path a line, relative to `sp`, blank and ``#`` lines skipped, only paths that
    exist. ``import`` lines are code: never run (they add no metadata folder of their own)."""
    out: list[Path] = []
    for pth in sorted(sp.glob("*.pth")):
        try:
            text = read_text_bounded(pth, MAX_METADATA)
        except InputError as exc:
            project.warnings.append(f"{pth}: not read ({exc.message}): the paths it adds are not inventoried")
            continue
        for line in text.splitlines():
            if not line.strip() or line.startswith("#") or line.startswith(("import ", "import\t")):
                continue
            entry = sp / line.rstrip()
            if entry.exists():
                out.append(entry)
    return out


def _metadata_files(entry: Path) -> list[tuple[Path, Path | None]]:
    """(distribution path, its metadata file or None) for each distribution importlib.metadata
    finds on path entry `entry`: ``*.dist-info`` / ``*.egg-info`` children (folder or file), and
    ``EGG-INFO`` when `entry` is an egg folder. A zipped egg is read by `_zipped_egg`."""
    out: list[tuple[Path, Path | None]] = []
    if entry.name.endswith(".egg") and (entry / "EGG-INFO").is_dir():
        out.append((entry, _first_file(entry / "EGG-INFO")))
    try:
        children = sorted(entry.iterdir())
    except OSError:
        return out
    for child in children:
        if child.name.lower().endswith((".dist-info", ".egg-info")):
            out.append((child, _first_file(child) if child.is_dir() else child))
    return out


def _first_file(info: Path) -> Path | None:
    """importlib.metadata's choice: METADATA, else PKG-INFO."""
    return next((f for f in (info / "METADATA", info / "PKG-INFO") if f.is_file()), None)


def _zipped_egg(egg: Path) -> str:
    from edgegate.sbom.pymeta import egg_pkg_info_from

    try:
        with egg.open("rb") as fh:
            return egg_pkg_info_from(fh, egg.stat().st_size).decode("utf-8", "replace")
    except OSError:
        return ""


def scan_environment(env: Path, project: PythonProject) -> None:
    """Installed distributions of a virtual environment (or a site-packages folder): what
    importlib.metadata lists on its path (site-packages and what its ``*.pth`` files add), every
    version of a name that has two."""
    dirs = _site_packages(env) if not env.name.endswith("site-packages") else [env]
    if not dirs:
        raise InputError("no site-packages folder in this environment", env)
    entries: list[Path] = []
    sites = list(dict.fromkeys(d.resolve() for d in dirs))  # lib64 is often a link to lib
    for sp in sites:
        entries += [sp, *_pth_entries(sp, project)]
    seen: set[tuple[str, str]] = set()
    for entry in dict.fromkeys(entries):
        found: list[tuple[Path, Path | None]]
        if entry.is_file():
            found = [(entry, None)] if entry.name.endswith(".egg") else []
        else:
            found = _metadata_files(entry)
        for dist, meta in found:
            if meta is not None:
                text = read_text_bounded(meta, MAX_METADATA)
            else:
                text = _zipped_egg(dist) if dist.is_file() and dist.name.endswith(".egg") else ""
            name, version, licenses = parse_python_metadata(text)
            if not name:
                project.warnings.append(f"{dist}: no Name in its metadata: not inventoried")
                continue
            if not version:
                project.warnings.append(f"{dist}: {name} has no Version: listed without one")
            key = (normalize_pypi_name(name), version or "")
            if key in seen:
                continue
            seen.add(key)
            pkg = _package(name, version, _where(dist, sites), licenses)
            if dist.is_dir() and _is_local_install(dist):
                pkg.purl = None  # a local directory install is not the PyPI package of that name
                pkg.properties["edgegate:python:local-install"] = "true"
            project.packages.append(pkg)


def _where(dist: Path, sites: list[Path]) -> str:
    """`dist` relative to its site-packages folder, else (a ``.pth`` entry elsewhere) as is."""
    for sp in sites:
        if dist.is_relative_to(sp):
            return str(dist.relative_to(sp))
    return str(dist)


def scan_pyproject(path: Path, project: PythonProject) -> None:
    """``[project]`` dependencies and optional dependencies of a pyproject.toml (PEP 621)."""
    from packaging.requirements import InvalidRequirement, Requirement

    data: dict[str, Any] = loads_toml(read_text_bounded(path), path)
    proj = data.get("project")
    if not isinstance(proj, dict):
        raise InputError("no [project] table (PEP 621) in pyproject.toml", path)
    if isinstance(proj.get("name"), str):
        project.name = proj["name"]
    if isinstance(proj.get("version"), str):
        project.version = proj["version"]
    specs = _string_list(proj.get("dependencies", []), "project.dependencies", path)
    optional = proj.get("optional-dependencies", {})
    if not isinstance(optional, dict):
        raise InputError("project.optional-dependencies is not a table of lists", path)
    for extra, deps in optional.items():
        specs += _string_list(deps, f"project.optional-dependencies.{extra}", path)
    dynamic = _string_list(proj.get("dynamic", []), "project.dynamic", path)
    for key in ("dependencies", "optional-dependencies"):
        if key in dynamic:
            _dynamic_dependencies(data, key, path, project)
    names: set[str] = set()
    for spec in specs:
        try:
            req = Requirement(spec)
        except InvalidRequirement as exc:
            raise InputError(f"invalid dependency {spec!r}: {str(exc).splitlines()[0]}", path) from None
        key = normalize_pypi_name(req.name)
        if key in names:
            continue
        names.add(key)
        version = next((s.version for s in req.specifier if s.operator in ("==", "===")), None)
        if version is None:
            project.warnings.append(f"{path}: {req.name} is not pinned (no exact version)")
        project.packages.append(_package(req.name, version, path.name))


def _dynamic_dependencies(data: dict[str, Any], key: str, path: Path, project: PythonProject) -> None:
    """`project.<key>` is set by the build backend: setuptools' ``[tool.setuptools.dynamic]``
    ``<key> = {file = [...]}`` files (inside the project) are read as requirements files; anything
    else is a warning naming what was not read, never silently nothing."""
    from edgegate.io.paths import confine

    tool = data.get("tool")
    setuptools = tool.get("setuptools") if isinstance(tool, dict) else None
    table = setuptools.get("dynamic") if isinstance(setuptools, dict) else None
    entry = table.get(key) if isinstance(table, dict) else None
    if key == "dependencies":
        groups = {"": entry} if entry is not None else {}
    else:
        groups = dict(entry) if isinstance(entry, dict) else {}
    if not groups:
        project.warnings.append(
            f"{path}: project.{key} is dynamic (set by the build backend) and not read: its packages are "
            "not inventoried (only [tool.setuptools.dynamic] file = [...] lists are read)"
        )
        return
    root = path.parent.resolve()
    for extra, spec in groups.items():
        where = f"tool.setuptools.dynamic.{key}" + (f".{extra}" if extra else "")
        files = spec.get("file") if isinstance(spec, dict) else None
        if isinstance(files, str):
            files = [files]
        names = _string_list(files, f"{where}.file", path) if files is not None else []
        if not names:
            project.warnings.append(f"{path}: {where} names no file: its packages are not inventoried")
        for name in names:
            target = confine(path.parent / name, root, f"the {where} file {name!r}", path)
            parse_requirements(target, project, root=root)


def _string_list(value: object, key: str, path: Path) -> list[str]:
    """`value` when it is a list of strings; anything else is an input error naming `key`."""
    if not isinstance(value, list) or not all(isinstance(d, str) for d in value):
        raise InputError(f"{key} is not a list of strings", path)
    return list(value)


LOCK_FILES = ("poetry.lock", "uv.lock")


def _local_source(source: object) -> str | None:
    """What a lock entry's source says: "project" (uv ``editable``/``virtual``: the project or a
    workspace member), "directory" (a local folder), "file" (a local wheel or sdist: uv ``path``,
    poetry ``type = "file"``), or None (an index, URL or VCS)."""
    if not isinstance(source, dict):
        return None
    if "editable" in source or "virtual" in source:
        return "project"
    if source.get("type") == "directory" or "directory" in source:
        return "directory"
    if source.get("type") == "file" or "path" in source:
        return "file"
    return None


def scan_lock(path: Path, project: PythonProject) -> None:
    """Locked packages of a ``poetry.lock`` or ``uv.lock`` (``[[package]]`` name/version); editable
    and virtual packages (the project itself, workspace members) are left out. A local wheel or
    sdist keeps its pypi purl (it is that release's code: the vuln gate can match the version); a
    local folder has none."""
    data: dict[str, Any] = loads_toml(read_text_bounded(path), path)
    packages = data.get("package")
    if not isinstance(packages, list):
        raise InputError("no [[package]] entries", path)
    seen: set[tuple[str, str]] = set()
    for i, entry in enumerate(packages, 1):
        if not isinstance(entry, dict):
            raise InputError(f"[[package]] entry {i} is not a table", path)
        name, version = entry.get("name"), entry.get("version")
        if not isinstance(name, str) or not name:
            raise InputError(f"[[package]] entry {i}: name is missing or not a string", path)
        local = _local_source(entry.get("source"))
        if local == "project":
            continue  # the project itself or a workspace member (uv leaves out a dynamic version)
        if local == "directory" and not (isinstance(version, str) and version):
            version = None
            project.warnings.append(f"{path}: {name} (a local folder) has no locked version")
        elif not isinstance(version, str) or not version:
            raise InputError(f"[[package]] entry {i} ({name}): version is missing or not a string", path)
        key = (normalize_pypi_name(name), version or "")
        if key in seen:
            continue
        seen.add(key)
        pkg = _package(name, version, path.name)
        if local == "directory":
            pkg.purl = None  # a local folder is not the PyPI release of that name
            pkg.properties["edgegate:python:local-install"] = "true"
        elif local == "file":
            pkg.properties["edgegate:python:local-file"] = "true"  # that release's wheel or sdist
        project.packages.append(pkg)
    pyproject = path.parent / "pyproject.toml"
    if pyproject.is_file():
        try:
            meta = loads_toml(read_text_bounded(pyproject), pyproject)
        except InputError:
            return
        tool = meta.get("tool")
        table = meta.get("project") or (tool.get("poetry") if isinstance(tool, dict) else None) or {}
        if isinstance(table, dict):
            if isinstance(table.get("name"), str):
                project.name = table["name"]
            if isinstance(table.get("version"), str):
                project.version = table["version"]


def scan_python(source: Path) -> PythonProject:
    """Pick the input kind from `source` and inventory it."""
    if not source.exists():
        raise InputError("no such file or directory", source)
    name = source.resolve().name if source.is_dir() else source.resolve().parent.name
    if source.is_file():
        if source.name in LOCK_FILES:
            project = PythonProject(source, source.name, name)
            scan_lock(source, project)
        elif source.name == "pyproject.toml":
            project = PythonProject(source, "pyproject", name)
            scan_pyproject(source, project)
        else:
            project = PythonProject(source, "requirements", name)
            parse_requirements(source, project)
        return project
    if (source / "pyvenv.cfg").is_file() or source.name.endswith("site-packages"):
        project = PythonProject(source, "environment", name)
        scan_environment(source, project)
        return project
    for lock in LOCK_FILES:
        if (source / lock).is_file():
            project = PythonProject(source, lock, name)
            scan_lock(source / lock, project)
            return project
    reqs = sorted(source.glob("requirements*.txt"))
    if reqs:
        project = PythonProject(source, "requirements", name)
        seen: set[Path] = set()
        for req in reqs:
            parse_requirements(req, project, seen=seen)
        return project
    if (source / "pyproject.toml").is_file():
        project = PythonProject(source, "pyproject", name)
        scan_pyproject(source / "pyproject.toml", project)
        return project
    raise InputError(
        "no poetry.lock, uv.lock, requirements*.txt, pyproject.toml or virtual environment (pyvenv.cfg) here",
        source,
    )


def python_bom(project: PythonProject) -> Any:
    """The CycloneDX BOM of a Python project."""
    from cyclonedx.model.component import Component, ComponentType

    from edgegate.sbom.bom import add_packages, new_bom, properties

    subject = Component(
        type=ComponentType.APPLICATION,
        name=project.name,
        version=project.version,
        bom_ref="project",
        properties=properties({"edgegate:python:source-kind": project.kind}),
    )
    bom = new_bom(subject)
    add_packages(bom, project.packages, subject)
    return bom
