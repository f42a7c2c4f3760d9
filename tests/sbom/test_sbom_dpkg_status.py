"""dpkg status stanzas in every state dpkg-query lists, and field names in any case.

The truth is `dpkg-query -W` on the same database (``--admindir``): every package whose
``${db:Status-Status}`` is neither ``not-installed`` nor ``config-files`` has its files on disk.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from sbom_helpers import OS_RELEASE, E, docker_archive, layer_tar

from edgegate.sbom.api import image_sbom


def _stanza(name: str, status: str | None, *, lower: bool = False) -> str:
    fields = [("Package", name)]
    if status is not None:
        fields.append(("Status", status))
    if status and status.endswith("triggers-pending"):
        fields.append(("Triggers-Pending", "ldconfig"))  # dpkg refuses the state without them
    if status and status.endswith("triggers-awaited"):
        fields.append(("Triggers-Awaited", "pkg-trigpend"))
    fields += [("Architecture", "amd64"), ("Version", "1.0-1"), ("Maintainer", "x <x@x>"), ("Description", "x")]
    return "".join(f"{k.lower() if lower else k}: {v}\n" for k, v in fields) + "\n"


STATES = {
    "pkg-installed": "install ok installed",
    "pkg-halfconf": "install ok half-configured",
    "pkg-unpacked": "install ok unpacked",
    "pkg-halfinst": "install reinstreq half-installed",
    "pkg-trigpend": "install ok triggers-pending",
    "pkg-trigawait": "install ok triggers-awaited",
    "pkg-hold": "hold ok installed",
    "pkg-deinstall": "deinstall ok installed",
    "pkg-configfiles": "deinstall ok config-files",
    "pkg-notinst": "purge ok not-installed",
}
STATUS = "".join(_stanza(n, s) for n, s in STATES.items()) + _stanza(
    "pkg-lowercase", "install ok unpacked", lower=True
)
LISTED = {n for n, s in STATES.items() if not s.endswith(("config-files", "not-installed"))} | {"pkg-lowercase"}


def _debs(out: Path) -> set[str]:
    doc = json.loads(out.read_text())
    return {c["name"] for c in doc.get("components", []) if c.get("purl", "").startswith("pkg:deb/")}


def test_packages_in_every_state_with_files_on_disk_are_listed(tmp_path: Path) -> None:
    img = docker_archive(
        tmp_path / "img.tar", [layer_tar([E("etc/os-release", data=OS_RELEASE), E("var/lib/dpkg/status", data=STATUS)])]
    )
    out = tmp_path / "s.json"
    image_sbom(str(img), out)
    assert _debs(out) == LISTED


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="no dpkg-query")
def test_the_state_rule_is_dpkg_querys(tmp_path: Path) -> None:
    """dpkg-query agrees: what it lists outside not-installed/config-files is `LISTED`."""
    admin = tmp_path / "admin"
    admin.mkdir()
    (admin / "status").write_text(STATUS)
    shown = subprocess.run(
        ["dpkg-query", f"--admindir={admin}", "-W", "--showformat=${Package} ${db:Status-Status}\n"],
        capture_output=True, text=True, check=True,
    ).stdout.split("\n")
    dpkg = {line.split()[0] for line in shown if line and line.split()[1] not in ("not-installed", "config-files")}
    assert dpkg == LISTED
    root = tmp_path / "rootfs"
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(STATUS)
    out = tmp_path / "s.json"
    image_sbom(str(root), out)
    assert _debs(out) == dpkg


def test_a_stanza_without_status_is_listed(tmp_path: Path) -> None:
    """Trivy and Syft list a stanza without a Status field (a hand-written distroless entry)."""
    layer = layer_tar([E("etc/os-release", data=OS_RELEASE), E("var/lib/dpkg/status.d/x", data=_stanza("x", None))])
    out = tmp_path / "s.json"
    image_sbom(str(docker_archive(tmp_path / "img.tar", [layer])), out)
    assert _debs(out) == {"x"}
