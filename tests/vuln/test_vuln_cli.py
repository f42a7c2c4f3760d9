"""``edgegate vuln scan`` / ``vuln db build|info`` / ``edgegate check`` with [vuln]: exit codes,
formats, config, and bad input (never a traceback, never a silent pass)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from vuln_records import write_records, write_sbom

VULNERABLE = "jinja2==2.10\nurllib3==2.0.3\n"
FIXED = "jinja2==3.1.4\nurllib3==2.0.7\npyyaml==6.0.1\n"


def _req(tmp_path: Path, text: str, name: str = "requirements.txt") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _json(out: str) -> dict:  # type: ignore[type-arg]
    data = json.loads(out)
    return data["gates"][0]


def _one_line_error(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert stderr.startswith("edgegate: error: ") and stderr.count("\n") == 1, stderr


def test_vulnerable_pins_fail_fixed_pins_pass(cli, pypa_db: Path, tmp_path: Path) -> None:
    bad = cli("vuln", "scan", _req(tmp_path, VULNERABLE), "--db", pypa_db, "--no-config", "-f", "json")
    assert bad.exit_code == 1, bad.stderr
    result = _json(bad.stdout)
    ids = sorted(f["rule_id"] for f in result["findings"] if f["blocking"])
    assert ids == ["PYSEC-2019-217", "PYSEC-2021-66", "PYSEC-2023-192", "PYSEC-2023-212"]
    assert result["stats"]["mode"] == "offline"
    good_dir = tmp_path / "fixed"
    good_dir.mkdir()
    good = cli("vuln", "scan", _req(good_dir, FIXED), "--db", pypa_db, "--no-config")
    assert good.exit_code == 0, good.stdout + good.stderr


def test_text_report_groups_by_component_with_fix(cli, pypa_db: Path, tmp_path: Path) -> None:
    out = cli("vuln", "scan", _req(tmp_path, VULNERABLE), "--db", pypa_db, "--no-config")
    assert out.exit_code == 1
    assert "Vulnerable components" in out.stdout
    assert "2.11.3" in out.stdout and "2.0.7" in out.stdout  # the fix per component


def test_fail_on_threshold(cli, pypa_db: Path, tmp_path: Path) -> None:
    req = _req(tmp_path, "jinja2==2.10\n")  # two advisories without severity in the data
    assert cli("vuln", "scan", req, "--db", pypa_db, "--no-config", "--fail-on", "critical").exit_code == 0
    assert cli("vuln", "scan", req, "--db", pypa_db, "--no-config", "--fail-on", "high").exit_code == 1
    assert cli("vuln", "scan", req, "--db", pypa_db, "--no-config", "--fail-on", "high",
               "--unknown-severity", "medium").exit_code == 0
    bad = cli("vuln", "scan", req, "--db", pypa_db, "--no-config", "--fail-on", "severe")
    assert bad.exit_code == 2
    _one_line_error(bad.stderr)


def test_ignore_on_command_line_by_alias(cli, pypa_db: Path, tmp_path: Path) -> None:
    req = _req(tmp_path, "jinja2==2.10\n")
    out = cli("vuln", "scan", req, "--db", pypa_db, "--no-config", "--ignore", "CVE-2019-10906",
              "--ignore", "GHSA-g3rq-g295-4j3m", "-f", "json")
    assert out.exit_code == 0, out.stdout
    assert _json(out.stdout)["stats"]["suppressed"] == 2


def test_config_ignores_with_expiry_and_check(cli, pypa_db: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEGATE_ALLOWED_PATHS", str(pypa_db.parent))  # a db outside the project
    proj = tmp_path / "proj"
    proj.mkdir()
    _req(proj, "jinja2==2.10\n")
    (proj / "edgegate.toml").write_text(f"""
[vuln]
requirements = ["requirements.txt"]
db = "{pypa_db}"
fail-on = "low"

[[vuln.ignore]]
id = "PYSEC-2019-217"
reason = "sandbox not used"
expires = 2999-01-01

[[vuln.ignore]]
id = "CVE-2020-28493"
reason = "we only render trusted templates"
expires = "2020-01-01"
""", encoding="utf-8")
    out = cli("check", proj, "-f", "json")
    assert out.exit_code == 1, out.stdout + out.stderr
    vuln = next(r for r in json.loads(out.stdout)["gates"] if r["gate"] == "vuln")
    assert [f["rule_id"] for f in vuln["findings"] if f["blocking"]] == ["PYSEC-2021-66"]
    expired = [f for f in vuln["findings"] if f["rule_id"] == "EGV004"]
    assert len(expired) == 1 and "CVE-2020-28493" in expired[0]["message"]
    # The same config applies to `vuln scan PATH` (found from the file's folder).
    scan = cli("vuln", "scan", proj / "requirements.txt", "-f", "json")
    assert scan.exit_code == 1
    assert _json(scan.stdout)["stats"]["suppressed"] == 1


def test_config_errors_are_one_line(cli, tmp_path: Path) -> None:
    (tmp_path / "edgegate.toml").write_text('[vuln]\nrequirements = ["r.txt"]\nfail-on = "huge"\n')
    out = cli("check", tmp_path)
    assert out.exit_code == 2
    assert "fail-on" in out.stderr and "Traceback" not in out.stderr
    (tmp_path / "edgegate.toml").write_text('[vuln]\nrequirements = ["r.txt"]\n[[vuln.ignore]]\nid = "X"\n')
    out = cli("check", tmp_path)
    assert out.exit_code == 2 and "reason" in out.stderr


def test_sbom_scan_and_non_cyclonedx(cli, tmp_path: Path) -> None:
    osv = write_records(tmp_path / "osv")
    sbom = write_sbom(tmp_path / "app.cdx.json")
    out = cli("vuln", "scan", "--sbom", sbom, "--db", osv, "--no-config", "-f", "json")
    assert out.exit_code == 2  # components it could not check: never a verdict on the whole
    rules = {f["rule_id"] for f in _json(out.stdout)["findings"]}
    assert {"DSA-0001-1", "ALPINE-0001", "EGV001"} <= rules
    out = cli("vuln", "scan", "--sbom", sbom, "--db", osv, "--no-config", "-f", "json", "--allow-unchecked")
    assert out.exit_code == 1
    spdx = tmp_path / "spdx.json"
    spdx.write_text(json.dumps({"spdxVersion": "SPDX-2.3", "packages": []}))
    bad = cli("vuln", "scan", "--sbom", spdx, "--db", osv, "--no-config")
    assert bad.exit_code == 2
    _one_line_error(bad.stderr)
    assert "not a CycloneDX SBOM" in bad.stderr and "SPDX" in bad.stderr
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    assert cli("vuln", "scan", "--sbom", garbage, "--db", osv, "--no-config").exit_code == 2
    # a key given twice (re-review): Python keeps the last "components", other readers the first,
    # so the scan would judge a different SBOM than another tool reads; an input error
    text = Path(sbom).read_text()
    doc = json.loads(text)
    twice = tmp_path / "twice.json"
    twice.write_text(text.rstrip().rstrip("}") + ', "components": []}' if doc.get("components") else text)
    dup = cli("vuln", "scan", "--sbom", twice, "--db", osv, "--no-config")
    assert dup.exit_code == 2 and "twice" in dup.stderr
    _one_line_error(dup.stderr)


def test_online_mode_refuses_non_python_components(cli, tmp_path: Path) -> None:
    sbom = write_sbom(tmp_path / "app.cdx.json")
    out = cli("vuln", "scan", "--sbom", sbom, "--no-config", "--osv-url", "http://127.0.0.1:9/v1/query")
    assert out.exit_code == 2
    _one_line_error(out.stderr)
    assert "need an offline database" in out.stderr


def test_online_service_unreachable_is_exit_2(cli, tmp_path: Path) -> None:
    req = _req(tmp_path, "jinja2==2.10\n")
    out = cli("vuln", "scan", req, "--no-config", "--osv-url", "http://127.0.0.1:9/v1/query")
    assert out.exit_code == 2
    _one_line_error(out.stderr)


def test_malformed_records_are_skipped_with_a_warning_naming_the_file(cli, tmp_path: Path) -> None:
    osv = write_records(tmp_path / "osv")
    (osv / "BROKEN-1.json").write_text("{\"id\": \"BROKEN-1\", \"affected\": [")
    (osv / "BROKEN-2.yaml").write_text("id: BROKEN-2\naffected:\n- package: {ecosystem: PyPI}\n")
    (osv / "BROKEN-3.json").write_text(json.dumps({"id": "BROKEN-3", "affected": [
        {"package": {"ecosystem": "PyPI", "name": "x"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"fixed": "1"}]}]}]}))
    db = tmp_path / "v.db"
    built = cli("vuln", "db", "build", osv, "--db", db, "-f", "json")
    assert built.exit_code == 0, built.stderr
    res = _json(built.stdout)
    skipped = sorted(Path(f["location"]["path"]).name for f in res["findings"] if f["rule_id"] == "EGV002")
    assert skipped == ["BROKEN-1.json", "BROKEN-2.yaml", "BROKEN-3.json"]
    assert res["stats"]["advisories"] == 10 and res["stats"]["skipped"] == 3
    sbom = write_sbom(tmp_path / "app.cdx.json")
    for source in (osv, db):
        out = cli("vuln", "scan", "--sbom", sbom, "--db", source, "--no-config", "-f", "json", "--allow-unchecked")
        assert out.exit_code == 1
        notes = [f for f in _json(out.stdout)["findings"] if f["rule_id"] == "EGV002"]
        assert len(notes) == 3 and all(not f["blocking"] for f in notes)
        assert any("BROKEN-2.yaml" in f["message"] and "package.name" in f["message"] for f in notes)


def test_db_from_a_newer_edgegate_is_refused(cli, tmp_path: Path) -> None:
    osv = write_records(tmp_path / "osv")
    db = tmp_path / "v.db"
    assert cli("vuln", "db", "build", osv, "--db", db).exit_code == 0
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    req = _req(tmp_path, "jinja2==2.10\n")
    for args in (("vuln", "scan", req, "--db", db, "--no-config"), ("vuln", "db", "info", db)):
        out = cli(*args)
        assert out.exit_code == 2
        _one_line_error(out.stderr)
        assert "newer edgegate" in out.stderr


def test_not_a_database(cli, tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"\x00\x01not sqlite")
    req = _req(tmp_path, "jinja2==2.10\n")
    out = cli("vuln", "scan", req, "--db", junk, "--no-config")
    assert out.exit_code == 2
    _one_line_error(out.stderr)
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    out = cli("vuln", "scan", req, "--db", other, "--no-config")
    assert out.exit_code == 2 and "not an edgegate vulnerability database" in out.stderr
    assert cli("vuln", "scan", req, "--db", tmp_path / "missing", "--no-config").exit_code == 2


def test_db_info_age_and_counts(cli, pypa_db: Path) -> None:
    out = cli("vuln", "db", "info", pypa_db, "-f", "json")
    assert out.exit_code == 0, out.stderr
    res = _json(out.stdout)
    assert res["stats"]["advisories"] == 2651 and res["stats"]["withdrawn"] == 10
    assert res["stats"]["tables"][1]["rows"] == [["PyPI", 2651]]
    assert ["advisories", 2651] in res["stats"]["tables"][0]["rows"]
    assert not [f for f in res["findings"] if f["rule_id"] == "EGV003"]
    stale = cli("vuln", "db", "info", pypa_db, "--max-age-days", "0")
    assert stale.exit_code == 0  # a warning, not a failure
    assert "EGV003" in stale.stdout and "rebuild" in stale.stdout


def test_stale_db_warns_during_scan(cli, pypa_db: Path, tmp_path: Path) -> None:
    req = _req(tmp_path, FIXED)
    out = cli("vuln", "scan", req, "--db", pypa_db, "--no-config", "--max-db-age-days", "0", "-f", "json")
    assert out.exit_code == 0
    assert [f["rule_id"] for f in _json(out.stdout)["findings"]] == ["EGV003"]


def test_unpinned_and_invalid_requirements(cli, pypa_db: Path, tmp_path: Path) -> None:
    req = _req(tmp_path, "jinja2>=2.0\nrequests\n-e ./local\n--index-url https://example.invalid/simple\n")
    out = cli("vuln", "scan", req, "--db", pypa_db, "--no-config", "-f", "json")
    # a review: three requirements not checked and exit 0; pip-audit --no-deps refuses unpinned ones
    assert out.exit_code == 2
    notes = _json(out.stdout)["findings"]
    assert sorted(f["location"].get("line") for f in notes) == [1, 2, 3]
    assert all(f["rule_id"] == "EGV001" and not f["blocking"] for f in notes)
    accepted = cli("vuln", "scan", req, "--db", pypa_db, "--no-config", "-f", "json", "--allow-unchecked")
    assert accepted.exit_code == 0 and _json(accepted.stdout)["findings"] == notes
    bad = _req(tmp_path, "jinja2==2.10\nthis is not a requirement!!\n", "requirements-bad.txt")
    out = cli("vuln", "scan", bad, "--db", pypa_db, "--no-config")
    assert out.exit_code == 2
    _one_line_error(out.stderr)
    assert "requirements-bad.txt:2" in out.stderr


def test_folder_with_requirements_and_pyproject(cli, pypa_db: Path, tmp_path: Path) -> None:
    _req(tmp_path, "-r requirements-base.txt\nurllib3==2.0.3 --hash=sha256:abc\n")
    _req(tmp_path, "jinja2==2.10 \\\n    --hash=sha256:def\n", "requirements-base.txt")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "1"\ndependencies = ["pyyaml==5.3", "click>=8"]\n')
    assert cli("vuln", "scan", tmp_path, "--db", pypa_db, "--no-config").exit_code == 2  # click>=8: not checked
    out = cli("vuln", "scan", tmp_path, "--db", pypa_db, "--no-config", "-f", "json", "--allow-unchecked")
    assert out.exit_code == 1
    res = _json(out.stdout)
    got = {(f["details"]["component"], f["rule_id"]) for f in res["findings"] if f["blocking"]}
    assert {c for c, _ in got} == {"jinja2", "urllib3", "pyyaml"}
    srcs = {f["details"]["component"]: f["location"]["path"] for f in res["findings"] if f["blocking"]}
    assert Path(srcs["jinja2"]).name == "requirements-base.txt"
    assert Path(srcs["pyyaml"]).name == "pyproject.toml"
    unpinned = [f for f in res["findings"] if f["rule_id"] == "EGV001"]
    assert [f["details"]["component"] for f in unpinned] == ["click"]


def test_current_environment(cli, pypa_db: Path) -> None:
    out = cli("vuln", "scan", "--db", pypa_db, "--no-config", "-f", "json")
    assert out.exit_code in (0, 1), out.stderr
    res = _json(out.stdout)
    assert res["stats"]["components"] > 50  # the .venv edgegate runs in
    assert res["stats"]["scanned"] == res["stats"]["components"]


@pytest.mark.parametrize("args", [("vuln", "--help"), ("vuln", "scan", "--help"), ("vuln", "db", "--help")])
def test_help(cli, args: tuple[str, ...]) -> None:
    out = cli(*args)
    assert out.exit_code == 0 and "Usage" in out.stdout


def test_yaml_merge_key_bomb_is_refused(cli, tmp_path: Path) -> None:
    osv = write_records(tmp_path / "osv")
    lines = ["a0: &a0 {x: 1, y: 2}"]
    for i in range(1, 30):
        lines.append(f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}], k{i}: {i}}}")
    lines.append("id: BOMB-1\nsummary: *a29")
    (osv / "BOMB-1.yaml").write_text("\n".join(lines) + "\n")
    out = cli("vuln", "db", "build", osv, "--db", tmp_path / "v.db", "-f", "json")
    assert out.exit_code == 0
    notes = [f for f in _json(out.stdout)["findings"] if f["rule_id"] == "EGV002"]
    assert len(notes) == 1 and "merge key" in notes[0]["message"] and "BOMB-1.yaml" in notes[0]["message"]


def test_sources_without_valid_records(cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = cli("vuln", "db", "build", empty, "--db", tmp_path / "v.db")
    assert out.exit_code == 2 and "no OSV records" in out.stderr
    _one_line_error(out.stderr)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.json").write_text('{"not": "osv"}')
    out = cli("vuln", "scan", _req(tmp_path, "jinja2==2.10\n"), "--db", junk, "--no-config")
    assert out.exit_code == 2 and "holds a valid OSV record" in out.stderr
    assert not (tmp_path / "v.db").exists()


def test_truncated_database(cli, tmp_path: Path) -> None:
    osv = write_records(tmp_path / "osv")
    db = tmp_path / "odd name?#.db"
    assert cli("vuln", "db", "build", osv, "--db", db).exit_code == 0
    ok = cli("vuln", "scan", "--sbom", write_sbom(tmp_path / "s.json"), "--db", db, "--no-config", "--allow-unchecked")
    assert ok.exit_code == 1, ok.stderr  # a path with URI characters opens
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3])
    out = cli("vuln", "scan", "--sbom", tmp_path / "s.json", "--db", db, "--no-config")
    assert out.exit_code == 2
    _one_line_error(out.stderr)
    assert "corrupt vulnerability database" in out.stderr or "not an edgegate" in out.stderr


def test_symlinks_in_an_osv_folder_are_not_followed(cli, tmp_path: Path) -> None:
    osv = write_records(tmp_path / "osv")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "X-1.json").write_text(json.dumps({"id": "X-1", "affected": []}))
    (osv / "link.json").symlink_to(outside / "X-1.json")
    (osv / "loop").symlink_to(osv)
    out = cli("vuln", "db", "build", osv, "--db", tmp_path / "v.db", "-f", "json")
    assert out.exit_code == 0
    res = _json(out.stdout)
    assert res["stats"]["advisories"] == 10
    msgs = sorted(f["message"] for f in res["findings"] if f["rule_id"] == "EGV002")
    assert len(msgs) == 2 and "link.json" in msgs[0] + msgs[1] and "loop" in msgs[0] + msgs[1]


def test_real_process_exit_codes(cli_subprocess, tmp_path: Path) -> None:
    osv = write_records(tmp_path / "osv")
    sbom = write_sbom(tmp_path / "app.cdx.json")
    out = cli_subprocess("vuln", "scan", "--sbom", sbom, "--db", osv, "--no-config", "-f", "json", "--allow-unchecked")
    assert out.exit_code == 1, out.stderr
    assert json.loads(out.stdout)["gates"][0]["stats"]["vulnerabilities"] == 6
    (tmp_path / "x.json").write_text("[]")
    bad = cli_subprocess("vuln", "scan", "--sbom", tmp_path / "x.json", "--db", osv, "--no-config")
    assert bad.exit_code == 2
    _one_line_error(bad.stderr)


def test_check_with_unchecked_components_is_an_error_unless_accepted(cli, pypa_db: Path, tmp_path: Path) -> None:
    import shutil

    (tmp_path / ".git").mkdir()
    shutil.copy(pypa_db, tmp_path / "pypa.db")
    _req(tmp_path, "jinja2>=2.0\nurllib3\n")
    base = '[vuln]\nrequirements = ["requirements.txt"]\ndb = "pypa.db"\n'
    (tmp_path / "edgegate.toml").write_text(base)
    out = cli("check", tmp_path, "-f", "json")
    assert out.exit_code == 2 and json.loads(out.stdout)["gates"][0]["status"] == "error"
    (tmp_path / "edgegate.toml").write_text(base + "allow-unchecked = true\n")
    assert cli("check", tmp_path).exit_code == 0
