"""What a scan checks: `Component`s from a CycloneDX SBOM (whose purls name the OSV ecosystem and,
for distributions, the release), plus the CycloneDX VEX statements an SBOM or VEX file carries.
Python inputs (requirements files, pyproject.toml, the running environment) are in
`edgegate.vuln.requirements`."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgegate.errors import InputError, NothingToCheckError
from edgegate.io.paths import excerpt

MAX_SBOM_BYTES = 256 * 1024 * 1024

_DEBIAN_CODENAMES = {
    "jessie": "8", "stretch": "9", "buster": "10", "bullseye": "11", "bookworm": "12", "trixie": "13",
    "forky": "14",
}


@dataclass(frozen=True)
class Component:
    """One package to look up. `ecosystem` is an OSV ecosystem base (``PyPI``, ``npm``,
    ``Debian``, ``Ubuntu``, ``Alpine``) or None when edgegate cannot match the type; `problem`
    says why a component cannot be scanned (no version, unsupported type, not pinned)."""

    name: str
    version: str | None
    ecosystem: str | None
    source: str
    lookup_name: str = ""
    release: str | None = None
    purl: str | None = None
    bom_ref: str | None = None
    line: int | None = None
    pointer: str | None = None
    problem: str | None = None

    @property
    def key(self) -> str:
        return self.lookup_name or self.name

    @property
    def shown(self) -> str:
        return f"{self.name} {self.version}" if self.version else self.name


@dataclass(frozen=True)
class VexStatement:
    """A CycloneDX ``vulnerabilities[]`` entry: advisory id, the refs it applies to, its state."""

    id: str
    refs: frozenset[str]
    state: str
    justification: str | None
    source: str
    pointer: str


@dataclass
class Inventory:
    """Components and VEX statements read from the inputs."""

    components: list[Component] = field(default_factory=list)
    vex: list[VexStatement] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    """(source, message) warnings from reading the inputs."""
    unread: int = 0
    """Package databases or layer entries the inventory could not read (an image's SBOM notes):
    packages not checked, counted as unscannable."""


# --- purls ---------------------------------------------------------------------------------------


def pypi_name(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def _release(kind: str, distro: str | None) -> str | None:
    if not distro:
        return None
    d = distro.strip().lower()
    for prefix in ("debian-", "ubuntu-", "alpine-"):
        if d.startswith(prefix):
            d = d[len(prefix):]
    if kind == "Debian":
        if d in _DEBIAN_CODENAMES:
            return _DEBIAN_CODENAMES[d]
        m = re.match(r"(\d+)", d)
        return m.group(1) if m else None
    if kind == "Ubuntu":
        m = re.match(r"(\d+\.\d+)", d)
        return m.group(1) if m else None
    if kind == "Alpine":
        m = re.match(r"v?(\d+)\.(\d+)", d)
        return f"v{m.group(1)}.{m.group(2)}" if m else None
    return None


def _source_name(value: str | None) -> str | None:
    """``openssl (3.0.11-1)`` / ``openssl@3.0.11-1`` / ``openssl`` → ``openssl``."""
    if not value:
        return None
    return re.split(r"[\s@(]", value.strip(), maxsplit=1)[0] or None


def _source_version(value: str | None) -> str | None:
    """The source package's own version when the qualifier names one: dpkg writes
    ``Source: openssl (3.0.11-1)`` when it differs from the binary's (binNMUs); syft writes
    ``upstream=openssl@3.0.11-1``."""
    if not value:
        return None
    m = re.match(r"^[^\s@(]+\s*(?:\(\s*([^)\s]+)\s*\)|@(\S+))\s*$", value.strip())
    return (m.group(1) or m.group(2)) if m else None


_TRIVY = "aquasecurity:trivy:"


def _trivy_source(props: Mapping[str, str], binary_version: str | None) -> tuple[str | None, str | None, str | None]:
    """The source package Trivy records in component properties (its deb and apk purls carry no
    ``upstream``): (name, version, problem). The version is joined as Trivy's ``FormatSrcVersion``
    does: ``[SrcEpoch:]SrcVersion[-SrcRelease]`` (apk: SrcVersion is the whole ``1.2-r0``, no
    release); without a SrcVersion, the binary's (Trivy's SBOM decoder does the same)."""
    name = props.get(_TRIVY + "SrcName", "").strip() or None
    version = props.get(_TRIVY + "SrcVersion", "").strip()
    if name is None and not version:
        return None, None, None
    if not version:
        return name, binary_version, None
    release = props.get(_TRIVY + "SrcRelease", "").strip()
    epoch = props.get(_TRIVY + "SrcEpoch", "").strip() or "0"
    if not epoch.isdigit():
        return name, None, f"{_TRIVY}SrcEpoch {excerpt(epoch)!r} is not a number: the source version is unknown"
    joined = f"{version}-{release}" if release else version
    return name, f"{int(epoch)}:{joined}" if int(epoch) else joined, None


def component_from_purl(
    purl: str, source: str, *, pointer: str | None = None, bom_ref: str | None = None,
    version: str | None = None, line: int | None = None, properties: Mapping[str, str] | None = None,
) -> Component:
    """A component from a package URL. Unsupported types and missing versions are kept with a
    `problem`, never dropped. `properties` (the CycloneDX component's, name → value) give the
    source package of a deb/apk purl without an ``upstream`` qualifier (Trivy's)."""
    from packageurl import PackageURL

    try:
        p = PackageURL.from_string(purl)
    except ValueError as exc:
        return Component(purl, version, None, source, purl=purl, bom_ref=bom_ref, pointer=pointer, line=line,
                         problem=f"invalid purl: {exc}")
    quals = p.qualifiers if isinstance(p.qualifiers, dict) else {}
    ver = p.version or version
    kind: str | None
    lookup = p.name
    release = None
    shown = p.name
    if p.type == "pypi":
        kind, lookup = "PyPI", pypi_name(p.name)
    elif p.type == "npm":
        kind = "npm"
        lookup = shown = f"{p.namespace}/{p.name}" if p.namespace else p.name
    elif p.type in ("deb", "apk"):
        if p.type == "deb":
            kind = "Ubuntu" if (p.namespace or "").lower() == "ubuntu" else "Debian"
        else:
            kind = "Alpine"
        release = _release(kind, quals.get("distro"))
        epoch = quals.get("epoch")
        if p.type == "deb" and ver and epoch and ":" not in ver:
            ver = f"{epoch}:{ver}"
        # Advisories are about source packages and versions: the purl's `upstream` first, else
        # Trivy's properties, else the binary.
        upstream = quals.get("upstream")
        if upstream:
            lookup = _source_name(upstream) or p.name
            if p.type == "deb":
                ver = _source_version(upstream) or ver
        else:
            src_name, src_version, src_problem = _trivy_source(properties or {}, ver)
            lookup = src_name or p.name
            ver = src_version or ver
            if src_problem:
                return Component(shown, ver, kind, source, lookup_name=lookup, release=release, purl=purl,
                                 bom_ref=bom_ref, pointer=pointer, line=line, problem=src_problem)
    else:
        kind = None
        shown = f"{p.namespace}/{p.name}" if p.namespace else p.name
    problem = None
    if kind is None:
        problem = f"purl type {p.type!r} is not matched by edgegate (PyPI, npm, deb, apk are)"
    elif not ver:
        problem = "no version: cannot tell whether it is affected"
    return Component(shown, ver, kind, source, lookup_name=lookup, release=release, purl=purl,
                     bom_ref=bom_ref, pointer=pointer, line=line, problem=problem)


def pypi_component(name: str, version: str | None, source: str, *, line: int | None = None,
                   pointer: str | None = None, problem: str | None = None) -> Component:
    purl = f"pkg:pypi/{pypi_name(name)}@{version}" if version else f"pkg:pypi/{pypi_name(name)}"
    return Component(name, version, "PyPI", source, lookup_name=pypi_name(name), purl=purl, line=line,
                     pointer=pointer, problem=problem)


# --- CycloneDX -----------------------------------------------------------------------------------


def _load_cyclonedx(path: Path, shown: str) -> dict[str, Any]:
    from edgegate.io.files import read_text_bounded

    text = read_text_bounded(path, MAX_SBOM_BYTES)
    if text.lstrip().startswith("<"):
        raise InputError("CycloneDX XML is not supported; give the CycloneDX JSON form", shown)
    import json

    from edgegate.io.parse import DuplicateKeyError, unique_keys

    try:
        data = json.loads(text, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as exc:
        raise InputError(f"not a CycloneDX JSON SBOM: malformed JSON ({exc.msg})", shown, exc.lineno) from None
    except RecursionError:
        raise InputError("not a CycloneDX JSON SBOM: nested too deeply", shown) from None
    except DuplicateKeyError as exc:  # which one a reader keeps differs: the SBOM says two things
        raise InputError(f"not a CycloneDX JSON SBOM: {exc}", shown) from None
    except ValueError:
        raise InputError("not a CycloneDX JSON SBOM: a number with too many digits", shown) from None
    if not isinstance(data, dict) or data.get("bomFormat") != "CycloneDX":
        hint = " (an SPDX document?)" if isinstance(data, dict) and "spdxVersion" in data else ""
        raise InputError(f"not a CycloneDX SBOM: no \"bomFormat\": \"CycloneDX\"{hint}", shown)
    if not isinstance(data.get("specVersion"), str):
        raise InputError("not a CycloneDX SBOM: no specVersion", shown)
    return data


def _walk_components(items: Any, pointer: str, shown: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every component, nested ones too. `components` that is not a list, or an entry that is not
    an object, is an `InputError` (read as "no components", the SBOM would pass unchecked)."""
    if items is None:
        return
    if not isinstance(items, list):
        raise InputError(f"not a CycloneDX SBOM: {pointer} must be a list", shown)
    stack = [(f"{pointer}/{i}", c) for i, c in enumerate(items)]
    stack.reverse()
    while stack:
        ptr, comp = stack.pop()
        if not isinstance(comp, Mapping):
            raise InputError(f"not a CycloneDX SBOM: {ptr} must be an object", shown)
        yield ptr, comp
        children = comp.get("components")
        if children is None:
            continue
        if not isinstance(children, list):
            raise InputError(f"not a CycloneDX SBOM: {ptr}/components must be a list", shown)
        stack.extend(reversed([(f"{ptr}/components/{i}", c) for i, c in enumerate(children)]))


def _vex_of(data: Mapping[str, Any], shown: str) -> list[VexStatement]:
    out: list[VexStatement] = []
    vulns = data.get("vulnerabilities")
    for i, v in enumerate(vulns if isinstance(vulns, list) else []):
        if not isinstance(v, Mapping) or not isinstance(v.get("id"), str):
            continue
        raw_analysis = v.get("analysis")
        analysis: Mapping[str, Any] = raw_analysis if isinstance(raw_analysis, Mapping) else {}
        state = analysis.get("state")
        if not isinstance(state, str):
            continue
        refs: set[str] = set()
        affects = v.get("affects")
        for a in affects if isinstance(affects, list) else []:
            if isinstance(a, Mapping) and isinstance(a.get("ref"), str):
                refs.add(a["ref"])
        just = analysis.get("justification")
        out.append(VexStatement(v["id"], frozenset(refs), state, just if isinstance(just, str) else None,
                                shown, f"/vulnerabilities/{i}"))
    return out


def _properties(comp: Mapping[str, Any]) -> dict[str, str]:
    """A component's ``properties`` as name → value (the first of a repeated name)."""
    out: dict[str, str] = {}
    props = comp.get("properties")
    for prop in props if isinstance(props, list) else []:
        if isinstance(prop, Mapping) and isinstance(prop.get("name"), str) and isinstance(prop.get("value"), str):
            out.setdefault(prop["name"], prop["value"])
    return out


def read_sbom(path: Path, shown: str) -> Inventory:
    """Components (with purls) and VEX statements of a CycloneDX JSON SBOM."""
    data = _load_cyclonedx(path, shown)
    inv = Inventory()
    if not data.get("components"):
        raise NothingToCheckError("the SBOM lists no components", shown)
    for ptr, comp in _walk_components(data.get("components"), "/components", shown):
        purl = comp.get("purl")
        name = str(comp["name"]) if isinstance(comp.get("name"), str) else "?"
        version = comp.get("version") if isinstance(comp.get("version"), str) else None
        ref = comp.get("bom-ref") if isinstance(comp.get("bom-ref"), str) else None
        ctype = comp.get("type")
        if isinstance(purl, str) and purl:
            inv.components.append(component_from_purl(purl, shown, pointer=ptr, bom_ref=ref, version=version,
                                                      properties=_properties(comp)))
        elif ctype in ("library", "framework", "application", "operating-system", "container", "platform",
                       "device", "firmware", "file", None):
            if ctype in ("operating-system", "file"):
                continue  # not a package: nothing to look up by name
            inv.components.append(Component(
                name, version, None, shown, bom_ref=ref, pointer=ptr,
                problem="no purl: edgegate matches components by package URL",
            ))
    if not inv.components:  # only the operating system, files, models, ...: no package was checked
        raise NothingToCheckError("the SBOM lists no packages", shown)
    inv.vex = _vex_of(data, shown)
    return inv


def read_vex(path: Path, shown: str) -> list[VexStatement]:
    """The VEX statements of a CycloneDX VEX (or SBOM) JSON document."""
    return _vex_of(_load_cyclonedx(path, shown), shown)
