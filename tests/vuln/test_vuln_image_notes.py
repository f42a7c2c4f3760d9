"""``--image``: what the SBOM step could not read (EGS101 skipped layer entries, EGS102/EGS103 rpm
databases, EGS104 package.json) is packages not checked: the gate is an error unless
``--allow-unchecked``, and the notes stay in the findings."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from edgegate.findings import Status
from edgegate.vuln.scan import ScanInput, ScanSettings, scan

pytest.importorskip("edgegate.sbom.api")

OS_RELEASE = ("etc/os-release", 'ID=debian\nVERSION_ID="12"\n')
STATUS = ("var/lib/dpkg/status", "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\n"
          "Source: zlib\nVersion: 1:1.2.13.dfsg-1+deb12u1\n\n")
RECORD = {"id": "DSA-T-1", "modified": "2024-01-01T00:00:00Z", "affected": [{
    "package": {"ecosystem": "Debian:12", "name": "zlib"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:1.2.13.dfsg-1+deb12u1"}]}]}]}

BAD = {
    "EGS101": ("/usr/lib/python3/dist-packages/jinja2-2.10.dist-info/METADATA", "Name: Jinja2\nVersion: 2.10\n"),
    "EGS101..": ("usr/../var/lib/dpkg/status.d/x", "Package: x\nVersion: 1\n"),
    "EGS102": ("var/lib/rpm/Packages", "\0" * 4096),
    "EGS103": ("var/lib/rpm/rpmdb.sqlite", "not a sqlite database" * 10),
    "EGS104": ("usr/lib/node_modules/left-pad/package.json", "{not json"),
}


def _docker_archive(dest: Path, files: list[tuple[str, str]]) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, text in files:
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tf.addfile(info, io.BytesIO(text.encode()))
    layer = buf.getvalue()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}})
    with tarfile.open(dest, "w") as tf:
        for name, data in (("config.json", config.encode()), ("l0/layer.tar", layer),
                           ("manifest.json", json.dumps([{"Config": "config.json", "RepoTags": ["t:1"],
                                                          "Layers": ["l0/layer.tar"]}]).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return dest


@pytest.fixture
def osv(tmp_path: Path) -> Path:
    (tmp_path / "osv").mkdir()
    (tmp_path / "osv" / "r.json").write_text(json.dumps(RECORD))
    return tmp_path / "osv"


def _scan(image: Path, osv: Path, **kw: object):  # type: ignore[no-untyped-def]
    ref = f"docker-archive:{image}"
    return scan([ScanInput("image", ref=ref, shown=ref)], ScanSettings(db=osv, **kw))  # type: ignore[arg-type]


def test_a_clean_image_passes(osv: Path, tmp_path: Path) -> None:
    result = _scan(_docker_archive(tmp_path / "i.tar", [OS_RELEASE, STATUS]), osv)
    assert result.status is Status.PASSED and result.stats["unscannable"] == 0


@pytest.mark.parametrize("note", sorted(BAD))
def test_what_the_sbom_step_could_not_read_is_not_checked(note: str, osv: Path, tmp_path: Path) -> None:
    image = _docker_archive(tmp_path / "i.tar", [OS_RELEASE, STATUS, BAD[note]])
    result = _scan(image, osv)
    rule = note[:6]
    assert result.status is Status.ERROR
    assert [f.rule_id for f in result.findings] == [rule]
    assert result.stats["unscannable"] == 1 and result.stats["scanned"] == 1
    allowed = _scan(image, osv, allow_unchecked=True)
    assert allowed.status is Status.PASSED and [f.rule_id for f in allowed.findings] == [rule]


def test_the_cli_exits_2_and_1_with_allow_unchecked_when_vulnerable(cli, osv: Path, tmp_path: Path) -> None:
    status = (STATUS[0], STATUS[1].replace("+deb12u1", ""))
    image = _docker_archive(tmp_path / "i.tar", [OS_RELEASE, status, BAD["EGS102"]])
    args = ["vuln", "scan", "--image", f"docker-archive:{image}", "--db", osv, "--no-config"]
    assert cli(*args).exit_code == 2
    assert cli(*args, "--allow-unchecked").exit_code == 1


def test_skipped_entries_beyond_the_listed_ones_are_counted(osv: Path, tmp_path: Path) -> None:
    from edgegate.sbom.filesystem import MAX_SKIPPED

    bad = [(f"/opt/x{i}", "") for i in range(MAX_SKIPPED + 5)]
    result = _scan(_docker_archive(tmp_path / "i.tar", [OS_RELEASE, STATUS, *bad]), osv)
    assert result.status is Status.ERROR and result.stats["unscannable"] == MAX_SKIPPED + 5


def test_an_image_whose_packages_were_all_skipped_is_not_checked(osv: Path, tmp_path: Path) -> None:
    result = _scan(_docker_archive(tmp_path / "i.tar", [OS_RELEASE, ("/" + STATUS[0], STATUS[1])]), osv)
    assert result.status is Status.ERROR and [f.rule_id for f in result.findings] == ["EGS101"]
