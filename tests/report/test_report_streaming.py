"""Reports over many findings (issue 15): the streamed formats write the same bytes as before,
whether their indexes stay in memory or spill to the temporary database; a real scan with
thousands of findings gives valid JSON/SARIF/text; and writing a report takes memory that does
not grow with the number of findings once they spill."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import pytest
from report_samples import all_results, passing_results

from edgegate.findings import Finding, GateResult, Location, Severity, exit_code
from edgegate.report import FORMATS, OutputSpec, ReportContext, _spill, render, sarif, text, write_reports
from edgegate.report import json as json_report


def _many(n: int, rules: int = 50, files: int = 40, repeats: bool = True) -> list[GateResult]:
    severities = list(Severity)
    findings = [
        Finding(
            "vuln", f"CVE-2024-{i % rules:04d}", severities[i % 5], f"pkg{i} 1.0.{i % 9} is affected; fixed in 1.{i % 7}",
            Location(f"svc/s{i % files}/requirements.txt" if i % 13 else None, i % 300 + 1 if i % 3 else None,
                     i % 2 or None, f"/packages/{i}" if i % 2 else None),
            title=f"Advisory {i % rules}" if i % 4 else None,
            details={"purl": f"pkg:pypi/pkg{i}@1.0", "aliases": [f"GHSA-{i % 11}"], "score": i / 7},
            blocking=i % 5 != 4,
        )
        for i in range(n)
    ]
    if repeats:
        findings += findings[: n // 10]  # exact repeats: merged by the prepared view
    facts = [Finding("cost", "EGC013", Severity.MEDIUM, "missing cost-allocation annotations",
                     Location("k8s/a.yaml", 5, pointer="/metadata/annotations"), details={"document": d}) for d in range(3)]
    policy = [Finding("policy", "EGP006", Severity.HIGH, f"no 'cost-center' ({d})",
                      Location("k8s/a.yaml", 5, pointer="/metadata"), details={"document": d}) for d in range(3)]
    return [
        GateResult.decide("vuln", findings, fail_on=Severity.MEDIUM, stats={"fail_on": "medium"}),
        GateResult.decide("cost", facts, fail_on=Severity.HIGH, stats={"fail_on": "high"}),
        GateResult.decide("policy", policy),
    ]


SAMPLES = {"samples": all_results, "passing": passing_results, "many": lambda: _many(600), "none": list}


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_spilled_indexes_give_the_same_reports(sample: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = ReportContext(command="edgegate check")
    results = SAMPLES[sample]()
    kept = {fmt: render(fmt, results, ctx) for fmt in FORMATS}
    kept_lines = [t.plain for t in text.lines(results, ctx, 60)]
    monkeypatch.setattr(_spill, "SPILL_AT", 0)
    assert {fmt: render(fmt, results, ctx) for fmt in FORMATS} == kept
    assert [t.plain for t in text.lines(results, ctx, 60)] == kept_lines
    if sample == "many":
        doc = json.loads(kept["json"])
        vuln = next(g for g in doc["gates"] if g["gate"] == "vuln")
        assert len(vuln["findings"]) == 600  # the repeats are shown once
        assert doc["exit_code"] == exit_code(results) == 1


def test_streamed_files_and_stdout_hold_the_rendered_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = _many(300)
    ctx = ReportContext(command="edgegate check", color=False)
    specs = [OutputSpec(fmt, tmp_path / f"r.{fmt}") for fmt in ("text", "json", "sarif")]
    write_reports(results, specs, ctx)
    for spec in specs:
        assert spec.path is not None
        assert spec.path.read_text(encoding="utf-8") == render(spec.format, results, ctx)
    for fmt in ("json", "sarif", "text"):
        write_reports(results, [OutputSpec(fmt)], ctx)
        assert capsys.readouterr().out == render(fmt, results, ctx)


def test_json_encoder_matches_the_standard_library() -> None:
    value = {"s": "é\u2028\"\\\x00", "n": None, "t": True, "f": False, "i": -3, "x": 1.5, "big": 10**30, "nan": float("nan"),
             "l": [[], {}, (1, 2), {"k": []}], 1: "int key", "set": {3, 1}, "b": b"\xffa", "p": Path("/x")}
    from edgegate.report._common import jsonable

    want = json.dumps(jsonable(value), indent=2, ensure_ascii=False, allow_nan=False)
    assert json_report.dumps_jsonable(value) == want
    assert json_report.dumps_jsonable(value, "    ") == want.replace("\n", "\n    ")


def _peak(write: object, results: list[GateResult]) -> int:
    ctx = ReportContext(command="edgegate check")

    class Null(io.TextIOBase):
        def write(self, s: str) -> int:
            return len(s)

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        write(results, ctx, Null())  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("module", [json_report, sarif, text], ids=["json", "sarif", "text"])
def test_writing_a_report_takes_memory_flat_in_the_number_of_findings(module: object, monkeypatch: pytest.MonkeyPatch) -> None:
    # Above SPILL_AT the per-finding keys live in sqlite (not traced); SARIF lists at most
    # MAX_RESULTS results. Rules and files are the same 50 and 40 at both sizes. (Findings that
    # repeat one another are held, merged, for the report: memory grows with the repeats.)
    monkeypatch.setattr(_spill, "SPILL_AT", 100)
    monkeypatch.setattr(sarif, "MAX_RESULTS", 200)
    small, large = _many(1_500, repeats=False), _many(6_000, repeats=False)
    write = module.write  # type: ignore[attr-defined]
    _peak(write, small)  # warm-up: imports and caches
    a, b = _peak(write, small), _peak(write, large)
    assert b < 1.5 * a + 256 * 1024, (a, b)


def test_large_real_scan_reports_are_valid(cli, tmp_path: Path, shared_dir: Path,  # type: ignore[no-untyped-def]
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """40 TensorFlow releases against the PyPA advisories: thousands of findings, indexes
    spilled, the SARIF log capped and valid, the JSON complete, the exit code 1."""
    import jsonschema
    import yaml

    vulns = shared_dir / "data" / "osv" / "pypa-advisory-database" / "vulns"
    versions: dict[str, int] = {}
    for f in sorted((vulns / "tensorflow").glob("*.yaml")):
        for aff in yaml.safe_load(f.read_text(encoding="utf-8")).get("affected", []):
            for v in aff.get("versions", []):
                versions[str(v)] = versions.get(str(v), 0) + 1
    chosen = sorted(versions, key=lambda v: (-versions[v], v))[:40]
    comps = [{"type": "library", "name": "tensorflow", "version": v, "purl": f"pkg:pypi/tensorflow@{v}"} for v in chosen]
    sbom = tmp_path / "bom.cdx.json"
    sbom.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": comps}), encoding="utf-8")
    monkeypatch.setattr(_spill, "SPILL_AT", 1_000)
    monkeypatch.setattr(sarif, "MAX_RESULTS", 2_000)
    out = tmp_path / "out"
    result = cli("vuln", "scan", "--sbom", sbom, "--db", vulns, "--no-config", "--max-db-age-days", "100000",
                 "-f", f"json:{out}.json", "-f", f"sarif:{out}.sarif", "-f", f"text:{out}.txt", "-f", f"junit:{out}.xml")
    assert result.exit_code == 1, result.stderr
    doc = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    gate = doc["gates"][0]
    shown = [f for f in gate["findings"] if not f["rule_id"].startswith("EGV")]
    assert len(shown) == gate["stats"]["vulnerabilities"] > 5_000
    log = json.loads((tmp_path / "out.sarif").read_text(encoding="utf-8"))
    schema = json.loads((shared_dir / "schemas" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(log))
    assert not errors, errors[:3]
    run = log["runs"][0]
    assert len(run["results"]) == 2_000 and run["invocations"][0]["exitCode"] == 1
    assert "left out" in run["invocations"][0]["toolExecutionNotifications"][-1]["message"]["text"]
    report = (tmp_path / "out.txt").read_text(encoding="utf-8").splitlines()
    assert report[-1].startswith("FAILED") and sum("GHSA-" in line or "PYSEC-" in line for line in report) >= len(shown)
