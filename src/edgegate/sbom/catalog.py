"""Package catalogers: read package databases out of an `ImageFilesystem` into `Package` records.

One function per ecosystem (dpkg, apk, rpm, Python, Node), each taking the filesystem and the
detected OS and returning packages plus notes (databases found and not read). Parsing is
bounded: inputs were already size-capped when read out of the layers.
"""

from __future__ import annotations

import json
import re
import sqlite3
import struct
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from packageurl import PackageURL

from edgegate.sbom.filesystem import ImageFilesystem, Node
from edgegate.sbom.packages import Note, OSInfo, Package
from edgegate.sbom.pymeta import catalog_python, normalize_pypi_name, parse_python_metadata, pypi_purl_name

__all__ = ["Note", "OSInfo", "Package", "catalog_python", "normalize_pypi_name", "parse_python_metadata",
           "pypi_purl_name"]  # moved to packages.py / pymeta.py; importable from here as before


def parse_os_release(text: str) -> dict[str, str]:
    """``KEY=value`` lines of an os-release file (quotes removed)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key.strip()] = value.replace('\\"', '"')
    return out


def detect_os(fs: ImageFilesystem) -> OSInfo | None:
    """The OS named by ``etc/os-release`` (or ``usr/lib/os-release``)."""
    for path in ("etc/os-release", "usr/lib/os-release"):
        node = fs.get(path)
        if node is not None and node.data is not None:
            fields = parse_os_release(node.data.decode("utf-8", "replace"))
            if fields.get("ID"):
                return OSInfo(
                    id=fields["ID"].lower(),
                    version_id=fields.get("VERSION_ID"),
                    pretty_name=fields.get("PRETTY_NAME"),
                    version_codename=fields.get("VERSION_CODENAME"),
                    layer=node.layer,
                )
    return None


# --------------------------------------------------------------------------- dpkg


def iter_stanzas(text: str) -> Iterator[dict[str, str]]:
    """RFC 822-style stanzas (dpkg status, DEP-5 copyright; apk installed has its own format).

    Field names are case-insensitive (Debian policy 5.1; dpkg reads ``package:`` as ``Package:``):
    the keys are lowercased."""
    fields: dict[str, str] = {}
    key: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, key = {}, None
            continue
        if line[0] in " \t":
            if key is not None:
                fields[key] += "\n" + line.strip()
            continue
        k, sep, v = line.partition(":")
        if not sep:
            continue
        key = k.strip().lower()
        fields[key] = v.strip()
    if fields:
        yield fields


_DPKG_SOURCE = re.compile(r"^(\S+)(?:\s+\(([^()\s]+)\))?\s*$")


def parse_dpkg_source(value: str) -> tuple[str | None, str | None]:
    """dpkg's ``Source:`` field, ``name`` or ``name (version)`` → (name, version or None)."""
    m = _DPKG_SOURCE.match(value.strip())
    if m is None:
        return None, None
    return m.group(1), m.group(2)


def _dpkg_purl(
    name: str,
    version: str,
    arch: str | None,
    os_info: OSInfo | None,
    source: str | None,
    source_version: str | None = None,
) -> str:
    """``pkg:deb/...``; ``upstream`` as Syft writes it: ``source@version`` when dpkg records a
    source version (it does when it differs from the binary's), else ``source`` (when dpkg
    records a Source field at all)."""
    qualifiers: dict[str, str] = {}
    if arch:
        qualifiers["arch"] = arch
    if os_info is not None:
        qualifiers["distro"] = os_info.distro
    if source:
        qualifiers["upstream"] = f"{source}@{source_version}" if source_version else source
    namespace = os_info.id if os_info is not None else "debian"
    return PackageURL(
        type="deb", namespace=namespace, name=name, version=version, qualifiers=qualifiers
    ).to_string()


_DEBIAN_TO_SPDX = {
    "gpl-1": "GPL-1.0-only",
    "gpl-1+": "GPL-1.0-or-later",
    "gpl-2": "GPL-2.0-only",
    "gpl-2+": "GPL-2.0-or-later",
    "gpl-3": "GPL-3.0-only",
    "gpl-3+": "GPL-3.0-or-later",
    "lgpl-2": "LGPL-2.0-only",
    "lgpl-2+": "LGPL-2.0-or-later",
    "lgpl-2.1": "LGPL-2.1-only",
    "lgpl-2.1+": "LGPL-2.1-or-later",
    "lgpl-3": "LGPL-3.0-only",
    "lgpl-3+": "LGPL-3.0-or-later",
    "agpl-3": "AGPL-3.0-only",
    "agpl-3+": "AGPL-3.0-or-later",
    "gfdl-1.2": "GFDL-1.2-only",
    "gfdl-1.2+": "GFDL-1.2-or-later",
    "gfdl-1.3": "GFDL-1.3-only",
    "gfdl-1.3+": "GFDL-1.3-or-later",
    "expat": "MIT",
    "mit": "MIT",
    "zlib": "Zlib",
    "isc": "ISC",
    "bsd-2-clause": "BSD-2-Clause",
    "bsd-3-clause": "BSD-3-Clause",
    "bsd-4-clause": "BSD-4-Clause",
    "apache-2.0": "Apache-2.0",
    "apache-2": "Apache-2.0",
    "mpl-1.1": "MPL-1.1",
    "mpl-2.0": "MPL-2.0",
    "artistic": "Artistic-1.0-Perl",
    "artistic-2.0": "Artistic-2.0",
    "cc0-1.0": "CC0-1.0",
    "cc0": "CC0-1.0",
    "curl": "curl",
    "openssl": "OpenSSL",
    "psf-2": "PSF-2.0",
    "unicode-dfs-2016": "Unicode-DFS-2016",
}
_COMMON_LICENSES = re.compile(r"/usr/share/common-licenses/([A-Za-z0-9][A-Za-z0-9.+_-]*[A-Za-z0-9+])")


def _debian_license(name: str) -> str:
    return _DEBIAN_TO_SPDX.get(name.lower(), name)


def parse_debian_copyright(text: str) -> list[str]:
    """Licences named by a Debian copyright file: the ``License:`` fields of a machine-readable
    (DEP-5) file, else the ``/usr/share/common-licenses/NAME`` files it points to. Debian short
    names are mapped to SPDX ids where they have one; others are kept as written."""
    out: list[str] = []
    if text.startswith("Format:") and "copyright-format" in text.split("\n", 1)[0]:
        for stanza in iter_stanzas(text):
            value = stanza.get("license", "").split("\n", 1)[0].strip()
            if not value:
                continue
            for part in re.split(r"\s+(?:or|and)\s+|\s*\|\s*|,\s*", value):
                part = part.strip()
                if part and part not in ("", "."):
                    out.append(_debian_license(part))
    else:
        for m in _COMMON_LICENSES.finditer(text):
            out.append(_debian_license(m.group(1).rstrip(".")))
    seen: set[str] = set()
    return [x for x in out if not (x in seen or seen.add(x))]  # type: ignore[func-returns-value]


def _dpkg_licenses(fs: ImageFilesystem, name: str) -> list[str]:
    node = fs.get(f"usr/share/doc/{name}/copyright")
    if node is None or node.data is None:
        return []
    return parse_debian_copyright(node.data.decode("utf-8", "replace"))


def _databases(fs: ImageFilesystem, paths: tuple[str, ...]) -> list[tuple[str, Node]]:
    """(real path, node) of each database file at `paths`, symlinks inside the image followed,
    each real file once (``lib/apk/db`` is often a link to ``usr/lib/apk/db``)."""
    out: dict[str, Node] = {}
    for path in paths:
        real = fs.resolve(path)
        node = fs.nodes.get(real) if real is not None else None
        if real is not None and node is not None and node.kind == "file" and node.data is not None:
            out.setdefault(real, node)
    return list(out.items())


_DPKG_GONE = frozenset({"not-installed", "config-files"})


def _dpkg_on_disk(status: str | None) -> bool:
    """Whether a package's files are on disk by its ``Status:`` (want, flag, status).

    dpkg's ``${db:Status-Status}``: only ``not-installed`` and ``config-files`` (conffiles left
    after a remove) have no files; ``half-installed``, ``unpacked``, ``half-configured`` and
    ``triggers-*`` do, and the want word (``deinstall``, ``hold``) is a wish, not a state. No
    Status field at all (hand-written distroless entries) counts as installed, as Trivy and Syft
    read it."""
    if status is None:
        return True
    words = status.split()
    return not (len(words) == 3 and words[2] in _DPKG_GONE)


def catalog_dpkg(fs: ImageFilesystem, os_info: OSInfo | None) -> tuple[list[Package], list[Note]]:
    """Packages on disk (`_dpkg_on_disk`) of ``var/lib/dpkg/status`` and distroless ``status.d/*``."""
    out: list[Package] = []
    status_d = f"{fs.resolve('var/lib/dpkg/status.d')}/"  # through symlinks inside the image
    files = _databases(fs, ("var/lib/dpkg/status",))
    files += [(p, n) for p, n in fs.files_with_data() if p.startswith(status_d) and "/" not in p[len(status_d) :]]
    for path, node in files:
        assert node.data is not None
        for st in iter_stanzas(node.data.decode("utf-8", "replace")):
            name = st.get("package")
            version = st.get("version")
            if not name or not version or not _dpkg_on_disk(st.get("status")):
                continue
            arch = st.get("architecture")
            source, source_version = parse_dpkg_source(st.get("source") or "")
            props = {"edgegate:dpkg:source": source} if source else {}
            if source_version:
                props["edgegate:dpkg:source-version"] = source_version
            out.append(
                Package(
                    name=name,
                    version=version,
                    ecosystem="deb",
                    purl=_dpkg_purl(name, version, arch, os_info, source, source_version),
                    location=path,
                    layer=node.layer,
                    arch=arch,
                    supplier=st.get("maintainer"),
                    licenses=_dpkg_licenses(fs, name),
                    properties=props,
                )
            )
    return out, []


# --------------------------------------------------------------------------- apk


def catalog_apk(fs: ImageFilesystem, os_info: OSInfo | None) -> tuple[list[Package], list[Note]]:
    """Alpine's ``lib/apk/db/installed`` (``P:``/``V:``/``A:``/``L:`` records)."""
    out: list[Package] = []
    for path, node in _databases(fs, ("lib/apk/db/installed", "usr/lib/apk/db/installed")):
        assert node.data is not None
        record: dict[str, str] = {}
        for line in [*node.data.decode("utf-8", "replace").splitlines(), ""]:
            if line.strip():
                if len(line) > 2 and line[1] == ":" and line[0] not in record:
                    record[line[0]] = line[2:]
                continue
            if record.get("P") and record.get("V"):
                qualifiers = {}
                if record.get("A"):
                    qualifiers["arch"] = record["A"]
                if os_info is not None:
                    qualifiers["distro"] = os_info.distro
                if record.get("o") and record["o"] != record["P"]:
                    qualifiers["upstream"] = record["o"]
                namespace = os_info.id if os_info is not None else "alpine"
                out.append(
                    Package(
                        name=record["P"],
                        version=record["V"],
                        ecosystem="apk",
                        purl=PackageURL(
                            type="apk",
                            namespace=namespace,
                            name=record["P"],
                            version=record["V"],
                            qualifiers=qualifiers,
                        ).to_string(),
                        location=path,
                        layer=node.layer,
                        licenses=[record["L"]] if record.get("L") else [],
                        arch=record.get("A"),
                        supplier=record.get("m"),
                    )
                )
            record = {}
    return out, []


# --------------------------------------------------------------------------- rpm

_RPM_TAGS = {
    1000: "name",
    1001: "version",
    1002: "release",
    1003: "epoch",
    1014: "license",
    1011: "vendor",
    1022: "arch",
    1044: "sourcerpm",
}
_MAX_RPM_ROWS = 200_000


class RpmHeaderError(ValueError):
    """A malformed rpm header blob."""


def parse_rpm_header(blob: bytes) -> dict[str, str]:
    """The few tags the SBOM needs from an rpmdb header blob (index count, data length, index
    entries of tag/type/offset/count, then the data store)."""
    if len(blob) < 8:
        raise RpmHeaderError("header too short")
    il, dl = struct.unpack(">II", blob[:8])
    base = 8 + 16 * il
    if il > 100_000 or base + dl > len(blob):
        raise RpmHeaderError("header sizes out of range")
    store = blob[base : base + dl]
    out: dict[str, str] = {}
    for i in range(il):
        tag, typ, off, count = struct.unpack(">iIiI", blob[8 + 16 * i : 24 + 16 * i])
        key = _RPM_TAGS.get(tag)
        if key is None or off < 0 or off >= dl:
            continue
        if typ == 4 and count >= 1 and off + 4 <= dl:  # INT32
            out[key] = str(struct.unpack(">I", store[off : off + 4])[0])
        elif typ in (6, 8, 9):  # STRING, STRING_ARRAY, I18NSTRING: first string
            end = store.find(b"\x00", off)
            if end == -1:
                raise RpmHeaderError(f"unterminated string for tag {tag}")
            out[key] = store[off:end].decode("utf-8", "replace")
    return out


def catalog_rpm(fs: ImageFilesystem, os_info: OSInfo | None) -> tuple[list[Package], list[Note]]:
    """rpm's sqlite database; a BerkeleyDB or NDB database is reported as not read."""
    out: list[Package] = []
    notes: list[Note] = []
    for bdb in (
        "var/lib/rpm/Packages",
        "usr/lib/sysimage/rpm/Packages",
        "var/lib/rpm/Packages.db",
        "usr/lib/sysimage/rpm/Packages.db",
    ):
        node = fs.nodes.get(bdb)
        if node is not None and node.kind == "file":
            fmt = "NDB" if bdb.endswith(".db") else "BerkeleyDB"
            notes.append(
                Note(
                    "EGS102",
                    f"rpm {fmt} database found and not read: its packages are missing from the SBOM",
                    bdb,
                    node.layer,
                )
            )
    for path, node in _databases(fs, ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite")):
        assert node.data is not None
        try:
            rows = _rpm_sqlite_rows(node.data)
        except (sqlite3.Error, RpmHeaderError) as exc:
            notes.append(Note("EGS103", f"rpm sqlite database could not be read: {exc}", path, node.layer))
            continue
        for blob in rows:
            try:
                tags = parse_rpm_header(blob)
            except RpmHeaderError as exc:
                notes.append(Note("EGS103", f"malformed rpm header: {exc}", path, node.layer))
                continue
            name, ver, rel = tags.get("name"), tags.get("version"), tags.get("release")
            if not name or not ver or name == "gpg-pubkey":
                continue
            version = f"{ver}-{rel}" if rel else ver
            qualifiers = {}
            if tags.get("arch"):
                qualifiers["arch"] = tags["arch"]
            if tags.get("epoch"):
                qualifiers["epoch"] = tags["epoch"]
            if os_info is not None:
                qualifiers["distro"] = os_info.distro
            if tags.get("sourcerpm"):
                qualifiers["upstream"] = tags["sourcerpm"]
            namespace = os_info.id if os_info is not None else (tags.get("vendor") or "rpm").lower()
            out.append(
                Package(
                    name=name,
                    version=(f"{tags['epoch']}:{version}" if tags.get("epoch") else version),
                    ecosystem="rpm",
                    purl=PackageURL(
                        type="rpm", namespace=namespace, name=name, version=version, qualifiers=qualifiers
                    ).to_string(),
                    location=path,
                    layer=node.layer,
                    licenses=[tags["license"]] if tags.get("license") else [],
                    arch=tags.get("arch"),
                    supplier=tags.get("vendor"),
                )
            )
    return out, notes


def _rpm_sqlite_rows(data: bytes) -> list[bytes]:
    with tempfile.TemporaryDirectory(prefix="edgegate-rpmdb-") as tmp:
        db = Path(tmp) / "rpmdb.sqlite"
        db.write_bytes(data)
        con = sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True)
        try:
            cur = con.execute("SELECT blob FROM Packages LIMIT ?", (_MAX_RPM_ROWS + 1,))
            rows = [bytes(r[0]) for r in cur.fetchall() if r and r[0] is not None]
        finally:
            con.close()
    if len(rows) > _MAX_RPM_ROWS:
        raise RpmHeaderError(f"more than {_MAX_RPM_ROWS} packages")
    return rows


# --------------------------------------------------------------------------- Node


def catalog_npm(fs: ImageFilesystem, os_info: OSInfo | None) -> tuple[list[Package], list[Note]]:
    """Packages installed under ``node_modules`` (each package's own ``package.json``)."""
    out: list[Package] = []
    notes: list[Note] = []
    for path, node in fs.files_with_data():
        if not path.endswith("/package.json") or "node_modules/" not in path:
            continue
        assert node.data is not None
        try:
            doc = json.loads(node.data)
        except (ValueError, UnicodeDecodeError, RecursionError):
            notes.append(Note("EGS104", "package.json is not valid JSON", path, node.layer))
            continue
        if not isinstance(doc, dict):
            continue
        name, version = doc.get("name"), doc.get("version")
        if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
            continue
        namespace, _, short = name.rpartition("/")
        lic = doc.get("license")
        licenses: list[str] = []
        if isinstance(lic, str) and lic:
            licenses.append(lic)
        elif isinstance(lic, dict) and isinstance(lic.get("type"), str):
            licenses.append(lic["type"])
        out.append(
            Package(
                name=name,
                version=version,
                ecosystem="npm",
                purl=PackageURL(
                    type="npm", namespace=namespace or None, name=short, version=version
                ).to_string(),
                location=path,
                layer=node.layer,
                licenses=licenses,
            )
        )
    return out, notes


Cataloger = Callable[[ImageFilesystem, "OSInfo | None"], "tuple[list[Package], list[Note]]"]

CATALOGERS: dict[str, Cataloger] = {
    "dpkg": catalog_dpkg,
    "apk": catalog_apk,
    "rpm": catalog_rpm,
    "python": catalog_python,
    "npm": catalog_npm,
}


def catalog_all(fs: ImageFilesystem) -> tuple[OSInfo | None, list[Package], list[Note]]:
    """Run every cataloger over `fs`."""
    os_info = detect_os(fs)
    packages: list[Package] = []
    notes: list[Note] = []
    for fn in CATALOGERS.values():
        pk, nt = fn(fs, os_info)
        packages.extend(pk)
        notes.extend(nt)
    return os_info, packages, notes
