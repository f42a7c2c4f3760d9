"""Python distribution metadata: names, purls, ``METADATA``/``PKG-INFO`` parsing, and the image
cataloger of installed distributions."""

from __future__ import annotations

import io
import re
from email.parser import HeaderParser
from typing import TYPE_CHECKING, BinaryIO

from packageurl import PackageURL

from edgegate.sbom.packages import Note, OSInfo, Package

if TYPE_CHECKING:
    from edgegate.sbom.filesystem import ImageFilesystem

MAX_EGG_PKG_INFO = 4 * 1024 * 1024
MAX_EGG_MEMBERS = 200_000
_PYTHON_ENDINGS = (".dist-info/METADATA", ".egg-info/PKG-INFO", ".egg-info", ".egg/EGG-INFO/PKG-INFO", ".egg")

_CLASSIFIER_LICENSE = re.compile(r"^License :: (?:OSI Approved :: )?(.+)$")


def normalize_pypi_name(name: str) -> str:
    """PEP 503 normalisation (what the pypi purl type requires)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pypi_purl_name(name: str) -> str:
    """The purl spec's pypi name: lowercased, ``_`` replaced by ``-`` (dots are kept)."""
    return name.lower().replace("_", "-")


def parse_python_metadata(text: str) -> tuple[str | None, str | None, list[str]]:
    """(name, version, licences) from a METADATA / PKG-INFO document."""
    msg = HeaderParser().parsestr(text, headersonly=True)
    name = msg.get("Name")
    version = msg.get("Version")
    licenses: list[str] = []
    expr = msg.get("License-Expression")
    if expr:
        licenses.append(str(expr).strip())
    else:
        lic = msg.get("License")
        if (
            lic
            and str(lic).strip()
            and str(lic).strip().upper() != "UNKNOWN"
            and "\n" not in str(lic).strip()
        ):
            licenses.append(str(lic).strip())
        if not licenses:
            for c in msg.get_all("Classifier") or []:
                m = _CLASSIFIER_LICENSE.match(str(c))
                if m:
                    licenses.append(m.group(1).strip())
    return (str(name).strip() if name else None), (str(version).strip() if version else None), licenses


def egg_pkg_info(data: bytes) -> bytes:
    """The ``EGG-INFO/PKG-INFO`` member of a zipped egg (`data`), read bounded through
    `edgegate.io.zipread` (never extracted, nothing in it run); b"" when `data` is not a readable
    zip or has no such member."""
    return egg_pkg_info_from(io.BytesIO(data), len(data))


def egg_pkg_info_from(fh: BinaryIO, size: int) -> bytes:
    """`egg_pkg_info` of the zipped egg open in `fh` (`size` bytes; only the central directory
    and that member are read)."""
    from edgegate.io import zipread

    try:
        view = zipread.read_zip(fh, size, max_members=MAX_EGG_MEMBERS)
        member = next((m for m in view.members if m.name == "EGG-INFO/PKG-INFO"), None)
        return b"" if member is None else zipread.read_member(fh, member, MAX_EGG_PKG_INFO)
    except zipread.ZipReadError:
        return b""


def catalog_python(fs: ImageFilesystem, os_info: OSInfo | None) -> tuple[list[Package], list[Note]]:
    """Installed Python distributions: ``*.dist-info/METADATA``, ``*.egg-info`` (file or folder),
    egg folders (``*.egg/EGG-INFO/PKG-INFO``) and zipped eggs (``*.egg``). A distribution without
    a ``Version`` is listed without one (Syft lists it as ``UNKNOWN``): the vuln gate reports it
    as not checkable instead of never seeing it."""
    out: list[Package] = []
    notes: list[Note] = []
    for path, node in fs.files_with_data():
        if not path.endswith(_PYTHON_ENDINGS):
            continue
        assert node.data is not None
        name, version, licenses = parse_python_metadata(node.data.decode("utf-8-sig", "replace"))
        if not name:
            if path.endswith(".egg"):
                notes.append(
                    Note("EGS106", "zipped egg without a readable EGG-INFO/PKG-INFO: not inventoried", path, node.layer)
                )
            continue
        out.append(
            Package(
                name=name,
                version=version or "",
                ecosystem="pypi",
                purl=PackageURL(type="pypi", name=pypi_purl_name(name), version=version).to_string(),
                location=path,
                layer=node.layer,
                licenses=licenses,
            )
        )
    return out, notes
