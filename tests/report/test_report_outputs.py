"""parse_output_specs / write_reports / write_atomic, and several formats in one run."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from report_samples import all_results, policy_result

from edgegate._cli import run_command
from edgegate.errors import EdgegateError
from edgegate.report import (
    FORMATS,
    OutputSpec,
    ReportContext,
    parse_output_specs,
    write_atomic,
    write_reports,
)


def test_parse_output_specs() -> None:
    assert parse_output_specs([]) == [OutputSpec("text")]
    assert parse_output_specs(["json"]) == [OutputSpec("json")]
    assert parse_output_specs(["text", "sarif:out/edgegate.sarif", "JUnit:j.xml"]) == [
        OutputSpec("text"),
        OutputSpec("sarif", Path("out/edgegate.sarif")),
        OutputSpec("junit", Path("j.xml")),
    ]
    assert parse_output_specs(["sarif"], "r.sarif") == [OutputSpec("sarif", Path("r.sarif"))]
    assert parse_output_specs(["text:t.txt", "json"], "r.json") == [
        OutputSpec("text", Path("t.txt")),
        OutputSpec("json", Path("r.json")),
    ]
    assert set(FORMATS) == {"text", "json", "sarif", "github", "junit", "markdown"}


@pytest.mark.parametrize(
    ("formats", "output", "message"),
    [
        (["yaml"], None, "unknown format 'yaml'"),
        (["text", "json"], None, "only one format can go to standard output"),
        (["text", "json"], "x.json", "--output needs exactly one --format without a ':PATH'"),
        (["sarif:a.sarif"], "b.sarif", "--output needs exactly one --format without a ':PATH'"),
    ],
)
def test_parse_output_specs_refuses(formats: list[str], output: str | None, message: str) -> None:
    with pytest.raises(EdgegateError, match=message.replace("(", r"\(")):
        parse_output_specs(formats, output)


def test_text_to_stdout_and_sarif_json_junit_to_files(
    tmp_path: Path, shared_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = parse_output_specs(
        ["text", f"sarif:{tmp_path}/reports/edgegate.sarif", f"json:{tmp_path}/r.json", f"junit:{tmp_path}/j.xml"]
    )
    write_reports(all_results(), specs, ReportContext(command="edgegate check", root=Path.cwd(), color=True))
    out = capsys.readouterr().out
    assert "\x1b[" in out  # colour was asked for the terminal...
    sarif_text = (tmp_path / "reports" / "edgegate.sarif").read_text(encoding="utf-8")
    assert "\x1b[" not in sarif_text  # ...never in files
    sarif = json.loads(sarif_text)
    schema = json.loads((shared_dir / "schemas" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(schema).validate(sarif)
    assert len(sarif["runs"][0]["results"]) == 10
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["verdict"] == "error"
    assert sum(int(x.get("tests")) for x in ET.parse(tmp_path / "j.xml").getroot()) == 11
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j.xml", "r.json", "reports"]  # no temp files


def test_text_report_to_file_is_plain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_reports([policy_result()], [OutputSpec("text", tmp_path / "r.txt")], ReportContext(color=True))
    assert capsys.readouterr().out == ""
    text = (tmp_path / "r.txt").read_text(encoding="utf-8")
    assert "\x1b[" not in text
    assert text.splitlines()[-1] == "FAILED: 1 failed of 1 gate (exit code 1: a gate failed)"


def test_run_command_writes_several_formats_and_returns_the_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_command(
        lambda: [policy_result()],
        formats=["markdown", f"sarif:{tmp_path / 'x.sarif'}"],
        output=None,
        command="edgegate policy lint",
    )
    assert code == 1
    out = capsys.readouterr().out
    assert out.startswith("<!-- edgegate-report -->\n## ❌ edgegate: FAILED")
    assert json.loads((tmp_path / "x.sarif").read_text(encoding="utf-8"))["runs"][0]["invocations"][0] == {
        "executionSuccessful": True,
        "exitCode": 1,
    }
    code = run_command(lambda: [policy_result()], formats=["text", "json"], output=None)
    assert code == 2
    assert "only one format can go to standard output" in capsys.readouterr().err


def test_write_atomic_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "report.sarif"
    write_atomic(target, "first\n")
    write_atomic(target, "second ✓\n")
    assert target.read_text(encoding="utf-8") == "second ✓\n"
    assert [p.name for p in target.parent.iterdir()] == ["report.sarif"]


def test_write_atomic_failure_is_one_clear_error_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "is-a-dir"
    target.mkdir()
    (target / "keep").write_text("x", encoding="utf-8")
    with pytest.raises(EdgegateError) as info:
        write_atomic(target, "report")
    assert str(info.value).startswith(f"{target}: cannot write report: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["is-a-dir"]
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(EdgegateError, match="cannot write report"):
        write_atomic(blocker / "sub" / "r.json", "{}")


def test_render_refuses_unknown_format() -> None:
    from edgegate.report import render

    with pytest.raises(EdgegateError, match="unknown format 'html'"):
        render("html", [], ReportContext())


def test_closed_stdout_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    class ClosedPipe(io.StringIO):
        def write(self, s: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    with pytest.raises(EdgegateError, match="standard output was closed"):
        write_reports([policy_result()], [OutputSpec("json")], ReportContext())


def test_stdout_that_cannot_encode_unicode(monkeypatch: pytest.MonkeyPatch) -> None:
    """LANG=C / a legacy console: machine formats go out as UTF-8, human ones with '?'."""
    import sys

    from report_samples import UNICODE

    for fmt, expect in (("json", UNICODE), ("sarif", UNICODE), ("markdown", "mod?le facial-recognition-v3 interdit ? ??? ?")):
        raw = io.BytesIO()
        stream = io.TextIOWrapper(raw, encoding="ascii")
        monkeypatch.setattr(sys, "stdout", stream)
        write_reports(all_results(), [OutputSpec(fmt)], ReportContext())
        stream.flush()
        data = raw.getvalue().decode("utf-8")
        assert expect in data, fmt
        if fmt != "markdown":
            json.loads(data)
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    monkeypatch.setattr(sys, "stdout", stream)
    write_reports(all_results(), [OutputSpec("text")], ReportContext(color=False))
    stream.flush()
    text = raw.getvalue().decode("ascii")
    assert "modele" not in text and "mod?le facial-recognition-v3 interdit" in text
    assert text.rstrip().endswith("(exit code 2: a gate could not decide)")
