"""The SARIF reporter: valid SARIF 2.1.0 (official schema) with what GitHub code scanning needs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from report_samples import TRICKY, all_results, passing_results, policy_result, vuln_error_result

from edgegate import __version__
from edgegate.findings import Finding, GateResult, Location, Severity
from edgegate.report import ReportContext, render
from edgegate.report.sarif import FINGERPRINT_KEY, artifact_location


@pytest.fixture(scope="module")
def sarif_validator(shared_dir: Path) -> jsonschema.protocols.Validator:
    schema = json.loads((shared_dir / "schemas" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _sarif(results: list[GateResult], root: Path | None = None) -> dict[str, Any]:
    ctx = ReportContext(command="edgegate check", root=root or Path.cwd())
    doc: dict[str, Any] = json.loads(render("sarif", results, ctx))
    return doc


def _check_github_requirements(doc: dict[str, Any]) -> None:
    """What GitHub code scanning needs beyond the schema."""
    assert doc["version"] == "2.1.0"
    assert len(doc["runs"]) == 1
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    for rule in rules:
        assert rule["help"]["text"] and rule["help"]["markdown"] and rule["helpUri"]
        if "security" in rule["properties"]["tags"]:
            sev = float(rule["properties"]["security-severity"])
            assert 0.0 <= sev <= 10.0
        else:  # only security rules carry GitHub's security severity
            assert "security-severity" not in rule["properties"]
        assert rule["shortDescription"]["text"]
        assert rule["fullDescription"]["text"]
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note")
        assert res["message"]["text"]
        assert res["locations"], "GitHub rejects a result without a location"
        art = res["locations"][0]["physicalLocation"]["artifactLocation"]
        if "uriBaseId" in art:
            assert art["uriBaseId"] == "%SRCROOT%"
            assert not art["uri"].startswith("/") and "\\" not in art["uri"]
        region = res["locations"][0]["physicalLocation"].get("region")
        if region:
            assert region["startLine"] >= 1
        assert res["partialFingerprints"][FINGERPRINT_KEY]


def test_sarif_validates_and_has_rules_results_and_notifications(
    sarif_validator: jsonschema.protocols.Validator,
) -> None:
    doc = _sarif(all_results())
    sarif_validator.validate(doc)
    _check_github_requirements(doc)
    run = doc["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "edgegate"
    assert driver["version"] == __version__
    assert driver["informationUri"].startswith("https://")
    rules = {r["id"]: r for r in driver["rules"]}
    assert list(rules) == [
        "EGP001", "EGP002", "EGP003", "EGP004", "EGP005", "EGP006", "PYSEC-2021-66", "EGM010", "EGM011",
    ]
    assert rules["EGP001"]["shortDescription"]["text"] == "Model on the deny list"
    assert rules["EGP001"]["name"] == "ModelOnTheDenyList"
    assert rules["EGP001"]["defaultConfiguration"]["level"] == "error"
    assert rules["EGP001"]["properties"]["security-severity"] == "9.5"
    assert "policy" in rules["EGP001"]["properties"]["tags"]
    assert rules["EGP002"]["properties"]["security-severity"] == "8.0"
    assert rules["EGP003"]["properties"]["security-severity"] == "5.5"
    assert rules["EGP004"]["properties"]["security-severity"] == "2.0"
    # EGP005 (resource limits) is a quality rule: no security tag, no security severity
    assert "security-severity" not in rules["EGP005"]["properties"]
    assert "quality" in rules["EGP005"]["properties"]["tags"]
    assert rules["EGP005"]["shortDescription"]["text"] == "EGP005"  # no title: the rule id
    assert "vuln" in rules["PYSEC-2021-66"]["properties"]["tags"]

    results = run["results"]
    assert len(results) == 10
    by_msg = {r["message"]["text"]: r for r in results}
    pinned = by_msg["container 'web' image nginx:latest is not pinned by digest"]
    assert pinned["ruleId"] == "EGP002"
    assert pinned["level"] == "error"
    loc = pinned["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "k8s/deployment.yaml", "uriBaseId": "%SRCROOT%"}
    assert loc["region"] == {"startLine": 21, "startColumn": 18}
    assert pinned["properties"]["pointer"] == "/spec/template/spec/containers/0/image"

    levels = {r["ruleId"]: r["level"] for r in results}
    assert levels["EGP001"] == "error"  # blocking critical
    assert levels["EGP003"] == "warning"  # blocking medium
    assert levels["EGP004"] == "note"  # non-blocking low
    assert levels["EGP005"] == "note"  # blocking info
    assert levels["PYSEC-2021-66"] == "warning"  # non-blocking high
    assert levels["EGM010"] == "note"  # blocking low below fail_on in a passed gate
    assert levels["EGM011"] == "note"

    # a path with a space is percent-encoded
    knative = by_msg["annotation finops.acme/cost-center is missing"]
    assert knative["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "k8s/knative%20service.yaml"

    # the message with CR/LF, %, markup survives unchanged (JSON escapes it)
    assert TRICKY in by_msg

    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["exitCode"] == 2
    notes = invocation["toolExecutionNotifications"]
    assert notes == [
        {
            "level": "error",
            "message": {"text": "vuln: cannot read the advisory database: db/osv.sqlite: no such file"},
            "properties": {"gate": "vuln"},
        }
    ]


def test_sarif_finding_without_file_gets_a_location(sarif_validator: jsonschema.protocols.Validator) -> None:
    doc = _sarif([policy_result()])
    res = next(r for r in doc["runs"][0]["results"] if r["ruleId"] == "EGP006")
    phys = res["locations"][0]["physicalLocation"]
    # the first file the gate names
    assert phys["artifactLocation"] == {"uri": "k8s/edge-ai.yaml", "uriBaseId": "%SRCROOT%"}
    assert phys["region"] == {"startLine": 1}
    assert res["properties"]["locationFallback"] is True

    lonely = GateResult.decide("cost", [Finding("cost", "EGF001", Severity.HIGH, "over budget")])
    doc = _sarif([lonely])
    sarif_validator.validate(doc)
    art = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert art == {"uri": "edgegate.toml", "uriBaseId": "%SRCROOT%"}
    ctx = ReportContext(root=Path.cwd(), fallback_path="config/edgegate.toml")
    doc = json.loads(render("sarif", [lonely], ctx))
    art = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert art["uri"] == "config/edgegate.toml"


def test_sarif_fingerprints_are_stable_and_distinct() -> None:
    first = _sarif(all_results())["runs"][0]["results"]
    second = _sarif(all_results())["runs"][0]["results"]
    fps = [r["partialFingerprints"][FINGERPRINT_KEY] for r in first]
    assert fps == [r["partialFingerprints"][FINGERPRINT_KEY] for r in second]
    assert len(set(fps)) == len(fps)

    # moving the finding to another line keeps the fingerprint (alerts are tracked across runs)
    def one(line: int, message: str = "m", pointer: str | None = None) -> str:
        f = Finding("policy", "EGP002", Severity.HIGH, message, Location("a.yaml", line, pointer=pointer))
        res = _sarif([GateResult.decide("policy", [f])])["runs"][0]["results"][0]
        return str(res["partialFingerprints"][FINGERPRINT_KEY])

    assert one(3) == one(40)
    assert one(3) == one(3, "reworded message")  # never from the message
    assert one(3, pointer="/spec/a") != one(3, pointer="/spec/b")  # the location key counts

    # identical rule/path/message twice: occurrence suffix keeps them apart
    twice = [Finding("policy", "R", Severity.LOW, "same", Location("a.yaml", n)) for n in (1, 2)]
    res = _sarif([GateResult.decide("policy", twice)])["runs"][0]["results"]
    a, b = (r["partialFingerprints"][FINGERPRINT_KEY] for r in res)
    assert a.split(":")[0] == b.split(":")[0] and a.endswith(":1") and b.endswith(":2")


def test_sarif_paths_relative_to_root(tmp_path: Path, sarif_validator: jsonschema.protocols.Validator) -> None:
    root = tmp_path / "repo"
    inside = root / "deploy" / "app.yaml"
    outside = tmp_path / "elsewhere" / "x.yaml"
    results = [
        GateResult.decide(
            "policy",
            [
                Finding("policy", "R1", Severity.HIGH, "inside", Location(str(inside), 2, 1)),
                Finding("policy", "R2", Severity.HIGH, "outside", Location(str(outside), 3)),
                Finding("policy", "R3", Severity.HIGH, "dotted", Location(str(root / "a" / ".." / "b.yaml"), 1)),
            ],
        )
    ]
    doc = _sarif(results, root=root)
    sarif_validator.validate(doc)
    arts = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in doc["runs"][0]["results"]]
    assert arts[0] == {"uri": "deploy/app.yaml", "uriBaseId": "%SRCROOT%"}
    assert arts[1] == {"uri": outside.as_uri()}  # absolute: no uriBaseId
    assert arts[2] == {"uri": "b.yaml", "uriBaseId": "%SRCROOT%"}
    assert "originalUriBaseIds" not in doc["runs"][0]  # no absolute path of the checkout


def test_artifact_location_encodes_reserved_characters() -> None:
    cwd = Path.cwd()  # relative paths are relative to the working directory
    assert artifact_location("python:3.11/a#b.yaml", cwd)["uri"] == "python%3A3.11/a%23b.yaml"
    assert artifact_location("https://example.org/x.yaml", cwd) == {"uri": "https://example.org/x.yaml"}
    assert artifact_location("modèle.yaml", cwd)["uri"] == "mod%C3%A8le.yaml"
    assert artifact_location("./a/../k8s/x.yaml", cwd) == {"uri": "k8s/x.yaml", "uriBaseId": "%SRCROOT%"}


def test_sarif_successful_run(sarif_validator: jsonschema.protocols.Validator) -> None:
    doc = _sarif(passing_results())
    sarif_validator.validate(doc)
    run = doc["runs"][0]
    assert run["results"] == []
    assert run["tool"]["driver"]["rules"] == []
    assert run["invocations"][0] == {"executionSuccessful": True, "exitCode": 0}


def test_sarif_rule_level_is_worst_of_its_results() -> None:
    errored = vuln_error_result()
    doc = _sarif([errored])
    rule = doc["runs"][0]["tool"]["driver"]["rules"][0]
    assert rule["defaultConfiguration"]["level"] == "warning"  # non-blocking high
    assert doc["runs"][0]["invocations"][0]["executionSuccessful"] is False


def test_paths_are_repository_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A config in a subfolder still reports paths from the repository root (what GitHub needs)."""
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    project = repo / "examples" / "app"
    f = Finding("policy", "R", Severity.HIGH, "m", Location(str(project / "k8s" / "d.yaml"), 4))
    results = [GateResult.decide("policy", [f])]
    doc = _sarif(results, root=project)
    art = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert art == {"uri": "examples/app/k8s/d.yaml", "uriBaseId": "%SRCROOT%"}
    assert "originalUriBaseIds" not in doc["runs"][0]
    gh = render("github", results, ReportContext(root=project)).splitlines()[0]
    assert gh.startswith("::error file=examples/app/k8s/d.yaml,line=4,")

    # $GITHUB_WORKSPACE wins when the root is inside it
    monkeypatch.setenv("GITHUB_WORKSPACE", str(repo / "examples"))
    doc = _sarif(results, root=project)
    art = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert art["uri"] == "app/k8s/d.yaml"
    # ...and is ignored when it is elsewhere
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path / "other"))
    doc = _sarif(results, root=project)
    art = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert art["uri"] == "examples/app/k8s/d.yaml"


def test_sarif_result_cap_is_reported(
    monkeypatch: pytest.MonkeyPatch, sarif_validator: jsonschema.protocols.Validator
) -> None:
    from edgegate.report import sarif

    monkeypatch.setattr(sarif, "MAX_RESULTS", 3)
    findings = [Finding("vuln", f"CVE-{i}", Severity.HIGH, f"m{i}", Location("r.txt", i + 1)) for i in range(5)]
    doc = _sarif([GateResult.decide("vuln", findings)])
    sarif_validator.validate(doc)
    run = doc["runs"][0]
    assert [r["ruleId"] for r in run["results"]] == ["CVE-0", "CVE-1", "CVE-2"]
    assert len(run["tool"]["driver"]["rules"]) == 5
    note = run["invocations"][0]["toolExecutionNotifications"][0]
    assert note["level"] == "warning"
    assert note["message"]["text"].startswith("2 of 5 results left out")
    assert run["invocations"][0]["executionSuccessful"] is True


def test_automation_id_from_command_and_folder_or_category(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    results = [policy_result()]

    def ident(**kw: Any) -> str:
        return str(_sarif_ctx(results, ReportContext(**kw))["runs"][0]["automationDetails"]["id"])

    a = ident(command="edgegate check", root=repo / "apps" / "one")
    b = ident(command="edgegate check", root=repo / "apps" / "two")
    assert (a, b) == ("edgegate-check/apps/one/", "edgegate-check/apps/two/")  # two projects never collide
    assert ident(command="edgegate policy lint", root=repo) == "edgegate-policy-lint/"
    assert ident(command="edgegate check", root=repo, category="nightly/edge") == "nightly/edge/"


def _sarif_ctx(results: list[GateResult], ctx: ReportContext) -> dict[str, Any]:
    return json.loads(render("sarif", results, ctx))


def test_category_from_the_config(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "m.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", encoding="utf-8")
    (tmp_path / "edgegate.toml").write_text(
        '[report]\ncategory = "edge/ci"\n[policy]\npaths = ["m.yaml"]\nrules = ["builtin:edge-ai"]\n', encoding="utf-8"
    )
    r = cli("check", tmp_path, "-f", f"sarif:{tmp_path / 'o.sarif'}")
    assert r.exit_code == 0, r.stdout + r.stderr
    doc = json.loads((tmp_path / "o.sarif").read_text(encoding="utf-8"))
    assert doc["runs"][0]["automationDetails"]["id"] == "edge/ci/"
