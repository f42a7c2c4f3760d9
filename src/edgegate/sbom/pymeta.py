"""Python distribution metadata: names, purls, ``METADATA``/``PKG-INFO`` parsing, and the image
cataloger of installed distributions."""

from __future__ import annotations

import re
from email.parser import HeaderParser

from packageurl import PackageURL

from edgegate.sbom.filesystem import ImageFilesystem
from edgegate.sbom.packages import Note, OSInfo, Package

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


def catalog_python(fs: ImageFilesystem, os_info: OSInfo | None) -> tuple[list[Package], list[Note]]:
    """Installed Python distributions (``*.dist-info/METADATA``, ``*.egg-info``)."""
    out: list[Package] = []
    for path, node in fs.files_with_data():
        if not (
            path.endswith(".dist-info/METADATA")
            or path.endswith(".egg-info/PKG-INFO")
            or path.endswith(".egg-info")
        ):
            continue
        assert node.data is not None
        name, version, licenses = parse_python_metadata(node.data.decode("utf-8", "replace"))
        if not name or not version:
            continue
        out.append(
            Package(
                name=name,
                version=version,
                ecosystem="pypi",
                purl=PackageURL(type="pypi", name=pypi_purl_name(name), version=version).to_string(),
                location=path,
                layer=node.layer,
                licenses=licenses,
            )
        )
    return out, []
