"""`edgegate policy lint`: conftest semantics on real Rego (regopy), real files in tmp_path."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: app
          image: nginx:latest
        - name: side
          image: busybox@sha256:00
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: legacy
  labels: {team: ml}
spec:
  template:
    spec:
      containers:
        - name: old
          image: old:latest
"""


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))


def _lint(cli, cwd: Path, *args: str) -> tuple[Any, dict[str, Any] | None]:
    r = cli("policy", "lint", *args, "-f", "json", cwd=cwd)
    report = json.loads(r.stdout) if r.stdout.strip() else None
    if report is not None:
        assert report["exit_code"] == r.exit_code
    return r, report


def _findings(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    assert report is not None
    return [f for g in report["gates"] for f in g["findings"]]


def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


LATEST = """\
package main

import rego.v1

deny contains msg if {
    some c in input.spec.template.spec.containers
    endswith(c.image, ":latest")
    msg := sprintf("%s: %s uses :latest", [input.metadata.name, c.name])
}
"""


def test_deny_violation_warn_and_suffixes(cli, tmp_path: Path) -> None:
    _write(tmp_path, {
        "in/d.yaml": DEPLOY,
        "policy/p.rego": """\
            package main

            import rego.v1

            deny_latest contains msg if {
                some c in input.spec.template.spec.containers
                endswith(c.image, ":latest")
                msg := sprintf("latest %s", [c.name])
            }

            violation contains "violation plain" if input.metadata.name == "web"

            violation_owner contains "no team" if not input.metadata.labels.team

            warn_size contains "warn suffixed" if input.metadata.name == "legacy"

            denied contains "not a conftest rule" if true

            deny_ contains "empty suffix is not a rule" if true
        """,
    })
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 1
    got = sorted((f["rule_id"], f["message"], f["severity"], f["blocking"]) for f in _findings(report))
    assert got == sorted([
        ("main.deny_latest", "latest app", "high", True),
        ("main.deny_latest", "latest old", "high", True),
        ("main.violation", "violation plain", "high", True),
        ("main.violation_owner", "no team", "high", True),
        ("main.warn_size", "warn suffixed", "low", False),
    ])
    by_msg = {f["message"]: f for f in _findings(report)}
    assert by_msg["latest app"]["location"] == {"path": "in/d.yaml", "line": 1}
    assert by_msg["latest old"]["location"] == {"path": "in/d.yaml", "line": 14}
    assert by_msg["latest old"]["details"]["document"] == 1


def test_warnings_do_not_fail_unless_fail_on_warn(cli, tmp_path: Path) -> None:
    _write(tmp_path, {
        "in/d.yaml": DEPLOY,
        "policy/w.rego": """\
            package main
            import rego.v1
            warn contains sprintf("%s has no team", [input.metadata.name]) if not input.metadata.labels.team
        """,
    })
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 0
    (f,) = _findings(report)
    assert f["message"] == "web has no team" and f["blocking"] is False and f["severity"] == "low"
    assert report["gates"][0]["stats"]["warnings"] == 1

    r, report = _lint(cli, tmp_path, "in", "--fail-on-warn")
    assert r.exit_code == 1
    assert _findings(report)[0]["blocking"] is True


def test_clean_input_passes(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"in/ok.yaml": "kind: Deployment\nmetadata: {name: ok}\nspec: {template: {spec: {containers: [{name: a, image: a@sha256:0}]}}}\n",
                      "policy/p.rego": LATEST})
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 0, r.stderr
    assert _findings(report) == []
    assert report["gates"][0]["status"] == "passed"
    assert report["gates"][0]["stats"]["documents"] == 1


def test_object_messages_map_to_finding_fields_and_lines(cli, tmp_path: Path) -> None:
    _write(tmp_path, {
        "in/d.yaml": DEPLOY,
        "policy/o.rego": """\
            package main

            import rego.v1

            deny contains res if {
                some i, c in input.spec.template.spec.containers
                endswith(c.image, ":latest")
                res := {
                    "msg": sprintf("%s uses latest", [c.name]),
                    "rule_id": "EGX001",
                    "severity": "critical",
                    "title": "Pinned images",
                    "path": ["spec", "template", "spec", "containers", i, "image"],
                    "fix": "pin by digest",
                }
            }

            warn contains res if {
                input.metadata.name == "legacy"
                res := {"msg": "legacy team label", "id": "EGX002", "path": "metadata.labels.team"}
            }

            violation contains res if {
                input.metadata.name == "web"
                res := {"msg": "bad severity falls back", "severity": "catastrophic", "path": "/metadata/name"}
            }
        """,
    })
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 1, r.stderr
    by_msg = {f["message"]: f for f in _findings(report)}
    app = by_msg["app uses latest"]
    assert app["rule_id"] == "EGX001"
    assert app["severity"] == "critical"
    assert app["title"] == "Pinned images"
    assert app["location"] == {"path": "in/d.yaml", "line": 10, "pointer": "/spec/template/spec/containers/0/image"}
    assert app["details"]["fix"] == "pin by digest"
    assert "msg" not in app["details"] and "path" not in app["details"]
    old = by_msg["old uses latest"]
    assert old["location"]["line"] == 24
    assert old["location"]["pointer"] == "/spec/template/spec/containers/0/image"
    team = by_msg["legacy team label"]
    assert team["rule_id"] == "EGX002" and team["blocking"] is False
    assert team["location"] == {"path": "in/d.yaml", "line": 18, "pointer": "/metadata/labels/team"}
    fallback = by_msg["bad severity falls back"]
    assert fallback["severity"] == "high"
    assert fallback["location"]["line"] == 4


def test_object_message_without_msg_is_an_error_not_a_pass(cli, tmp_path: Path) -> None:
    _write(tmp_path, {
        "in/d.yaml": DEPLOY,
        "policy/o.rego": """\
            package main
            import rego.v1
            deny contains {"message": "wrong key"} if input.metadata.name == "web"
        """,
    })
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 2
    assert report is not None
    assert any("without 'msg'" in e for e in report["gates"][0]["errors"])


def test_old_style_partial_set_rules(cli, tmp_path: Path) -> None:
    _write(tmp_path, {
        "in/d.yaml": DEPLOY,
        "policy/old.rego": """\
            package main

            deny[msg] {
                c := input.spec.template.spec.containers[_]
                endswith(c.image, ":latest")
                msg := sprintf("old-style: %s", [c.name])
            }

            warn[msg] {
                input.metadata.name == "web"
                msg := "old-style warn"
            }
        """,
    })
    r, report = _lint(cli, tmp_path, "in", "--rego-version", "v0")
    assert r.exit_code == 1, r.stderr
    got = sorted((f["rule_id"], f["message"], f["blocking"]) for f in _findings(report))
    assert got == [("main.deny", "old-style: app", True), ("main.deny", "old-style: old", True),
                   ("main.warn", "old-style warn", False)]


def test_old_style_object_messages(cli, tmp_path: Path) -> None:
    _write(tmp_path, {
        "in/d.yaml": DEPLOY,
        "policy/old.rego": """\
            package main

            deny[res] {
                input.metadata.name == "web"
                res := {"msg": "old-style object", "rule_id": "EGX009", "path": "metadata.name"}
            }
        """,
    })
    r, report = _lint(cli, tmp_path, "in", "--rego-version", "v0")
    assert r.exit_code == 1
    (f,) = _findings(report)
    assert f["message"] == "old-style object"
    assert f["rule_id"] == "EGX009"
    assert f["location"]["line"] == 4


def test_exceptions_by_suffix(cli, tmp_path: Path) -> None:
    _write(tmp_path, {
        "in/d.yaml": DEPLOY,
        "policy/e.rego": """\
            package main

            import rego.v1

            deny_latest contains msg if {
                some c in input.spec.template.spec.containers
                endswith(c.image, ":latest")
                msg := sprintf("deny latest %s", [c.name])
            }

            violation_latest contains msg if {
                some c in input.spec.template.spec.containers
                endswith(c.image, ":latest")
                msg := sprintf("violation latest %s", [c.name])
            }

            deny_other contains "other" if input.metadata.name == "legacy"

            warn_latest contains "warnings are excepted too, as in conftest" if input.metadata.name == "legacy"

            exception contains rules if {
                input.metadata.name == "legacy"
                rules := ["latest"]
            }
        """,
    })
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 1
    got = sorted((f["rule_id"], f["message"]) for f in _findings(report))
    assert got == [
        ("main.deny_latest", "deny latest app"),
        ("main.deny_other", "other"),
        ("main.violation_latest", "violation latest app"),
    ]
    # conftest counts one exception per excepted rule (deny_, violation_ and warn_latest)
    assert report["gates"][0]["stats"]["exceptions"] == 3


def test_exception_can_make_the_gate_pass(cli, tmp_path: Path) -> None:
    _write(tmp_path, {
        "in/d.yaml": DEPLOY,
        "policy/e.rego": """\
            package main
            import rego.v1
            deny_latest contains "latest" if input.metadata.name in {"web", "legacy"}
            exception contains ["latest"] if true
        """,
    })
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 0
    assert _findings(report) == []


TWO_PACKAGES = {
    "policy/main.rego": """\
        package main
        import rego.v1
        deny contains "from main" if input.kind == "Deployment"
    """,
    "policy/k8s.rego": """\
        package k8s.extra
        import rego.v1
        deny contains "from k8s.extra" if input.kind == "Deployment"
    """,
}


def test_namespaces(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"in/d.yaml": DEPLOY, **TWO_PACKAGES})
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 1
    assert {f["message"] for f in _findings(report)} == {"from main"}
    assert report["gates"][0]["stats"]["namespaces"] == ["main"]

    r, report = _lint(cli, tmp_path, "in", "--namespace", "k8s.extra")
    assert r.exit_code == 1
    assert {(f["message"], f["rule_id"]) for f in _findings(report)} == {("from k8s.extra", "k8s.extra.deny")}
    assert len(_findings(report)) == 2

    r, report = _lint(cli, tmp_path, "in", "--all-namespaces")
    assert r.exit_code == 1
    assert sorted(f["message"] for f in _findings(report)) == ["from k8s.extra"] * 2 + ["from main"] * 2

    r, report = _lint(cli, tmp_path, "in", "-n", "main", "-n", "k8s.extra")
    assert len(_findings(report)) == 4


def test_missing_namespace_is_exit_2_never_a_pass(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"in/d.yaml": DEPLOY, "policy/k8s.rego": TWO_PACKAGES["policy/k8s.rego"]})
    r, report = _lint(cli, tmp_path, "in")  # default namespace main does not exist
    assert r.exit_code == 2
    assert report is None
    line = _one_error_line(r.stderr)
    assert "'main'" in line and "k8s.extra" in line
    r, _ = _lint(cli, tmp_path, "in", "--namespace", "nope")
    assert r.exit_code == 2
    assert "'nope'" in _one_error_line(r.stderr)


def test_namespace_and_all_namespaces_exclude_each_other(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"in/d.yaml": DEPLOY, **TWO_PACKAGES})
    r, _ = _lint(cli, tmp_path, "in", "--namespace", "main", "--all-namespaces")
    assert r.exit_code == 2
    assert "exclude each other" in _one_error_line(r.stderr)


DATA_RULE = """\
package main

import rego.v1

deny contains msg if {
    some c in input.spec.template.spec.containers
    registry := split(c.image, "/")[0]
    not registry in data.allowed.registries
    msg := sprintf("%s: registry %s not allowed by %s", [c.name, registry, data.owner.name])
}
"""


def test_data_files_yaml_json_toml(cli, tmp_path: Path) -> None:
    _write(tmp_path, {
        "in/d.yaml": """\
            kind: Deployment
            metadata: {name: x}
            spec: {template: {spec: {containers: [{name: a, image: "good.io/a@sha256:0"}, {name: b, image: "evil.io/b:1"}]}}}
        """,
        "policy/d.rego": DATA_RULE,
        "data/allowed.yaml": "allowed:\n  registries: [good.io]\n",
        "data/owner.toml": '[owner]\nname = "platform"\n',
        "data/more.json": '{"allowed": {"extra": true}}',
    })
    r, report = _lint(cli, tmp_path, "in", "--data", "data/allowed.yaml", "--data", "data/owner.toml",
                      "--data", "data/more.json")
    assert r.exit_code == 1, r.stderr
    assert [f["message"] for f in _findings(report)] == ["b: registry evil.io not allowed by platform"]
    # a data folder works too
    r, report = _lint(cli, tmp_path, "in", "--data", "data")
    assert [f["message"] for f in _findings(report)] == ["b: registry evil.io not allowed by platform"]


def test_data_file_must_be_an_object(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"in/d.yaml": DEPLOY, "policy/p.rego": LATEST, "data/list.yaml": "- a\n- b\n"})
    r, _ = _lint(cli, tmp_path, "in", "--data", "data/list.yaml")
    assert r.exit_code == 2
    assert "data/list.yaml" in _one_error_line(r.stderr)


def test_missing_data_file_is_exit_2(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"in/d.yaml": DEPLOY, "policy/p.rego": LATEST})
    r, _ = _lint(cli, tmp_path, "in", "--data", "nope.yaml")
    assert r.exit_code == 2
    assert "nope.yaml" in _one_error_line(r.stderr)


def test_combine(cli, tmp_path: Path) -> None:
    _write(tmp_path, {
        "in/a.yaml": DEPLOY,
        "in/b.json": '{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}',
        "policy/c.rego": """\
            package main

            import rego.v1

            deny contains msg if {
                is_array(input)
                msg := sprintf("%d documents", [count(input)])
            }

            deny contains msg if {
                some i, item in input
                msg := sprintf("%d %s %s", [i, item.path, item.contents.metadata.name])
            }

            deny contains "deployment without service" if {
                some item in input
                item.contents.kind == "Deployment"
                not service_for(item.contents.metadata.name)
            }

            service_for(name) if {
                some item in input
                item.contents.kind == "Service"
                item.contents.metadata.name == name
            }
        """,
    })
    r, report = _lint(cli, tmp_path, "in", "--combine")
    assert r.exit_code == 1, r.stderr
    messages = sorted(f["message"] for f in _findings(report))
    assert messages == [
        "0 in/a.yaml web", "1 in/a.yaml legacy", "2 in/b.json web", "3 documents",
        "deployment without service",
    ]
    # one input, so every finding is anchored at the first document
    assert {(f["location"]["path"], f["location"]["line"]) for f in _findings(report)} == {("in/a.yaml", 1)}
    # without --combine each document is its own input: the array rule never fires
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 0
    assert _findings(report) == []


def test_inventory_holds_every_document(cli, tmp_path: Path) -> None:
    _write(tmp_path, {
        "in/app.yaml": """\
            apiVersion: apexlogic.ai/v1
            kind: App
            metadata: {name: a}
            spec: {costRef: cheap, cpu: 16}
            ---
            apiVersion: apexlogic.ai/v1
            kind: App
            metadata: {name: b}
            spec: {costRef: missing, cpu: 1}
        """,
        "in/caps.json": '[{"apiVersion": "apexlogic.ai/v1", "kind": "Caps", "metadata": {"name": "cheap"}, "spec": {"maxCPU": 8}}]',
        "policy/inv.rego": """\
            package main

            import rego.v1

            caps(name) := c if {
                some doc in data.edgegate.inventory
                doc.kind == "Caps"
                doc.metadata.name == name
                c := doc.spec
            }

            deny contains msg if {
                input.kind == "App"
                c := caps(input.spec.costRef)
                input.spec.cpu > c.maxCPU
                msg := sprintf("%s: cpu %d over cap %d", [input.metadata.name, input.spec.cpu, c.maxCPU])
            }

            deny contains msg if {
                input.kind == "App"
                not caps(input.spec.costRef)
                msg := sprintf("%s: no Caps named %s among %d documents", [input.metadata.name, input.spec.costRef, count(data.edgegate.inventory)])
            }
        """,
    })
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 1, r.stderr
    got = sorted((f["message"], f["location"]["path"], f["location"]["line"]) for f in _findings(report))
    assert got == [
        ("a: cpu 16 over cap 8", "in/app.yaml", 1),
        ("b: no Caps named missing among 3 documents", "in/app.yaml", 6),
    ]


def test_json_and_toml_inputs(cli, tmp_path: Path) -> None:
    _write(tmp_path, {
        "in/d.json": json.dumps({"kind": "Deployment", "metadata": {"name": "j"},
                                  "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:latest"}]}}}}, indent=2),
        "in/d.toml": """\
            kind = "Deployment"
            [metadata]
            name = "t"
            [[spec.template.spec.containers]]
            name = "c"
            image = "y:latest"
        """,
        "policy/p.rego": LATEST,
    })
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 1, r.stderr
    got = sorted((f["message"], f["location"]["path"]) for f in _findings(report))
    assert got == [("j: c uses :latest", "in/d.json"), ("t: c uses :latest", "in/d.toml")]
    assert report["gates"][0]["stats"]["files"] == 2


def test_parser_option(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"in/manifest.txt": DEPLOY, "policy/p.rego": LATEST})
    r, report = _lint(cli, tmp_path, "in/manifest.txt", "--parser", "yaml")
    assert r.exit_code == 1
    assert len(_findings(report)) == 2
    r, _ = _lint(cli, tmp_path, "in/manifest.txt", "--parser", "xml")
    assert r.exit_code == 2
    assert "unknown parser 'xml'" in _one_error_line(r.stderr)


def test_multi_document_lines_via_cli(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"in/d.yaml": "# header\n" + DEPLOY, "policy/p.rego": LATEST})
    r, report = _lint(cli, tmp_path, "in/d.yaml")
    assert r.exit_code == 1
    got = sorted((f["message"], f["location"]["line"]) for f in _findings(report))
    assert got == [("legacy: old uses :latest", 15), ("web: app uses :latest", 2)]


@pytest.mark.parametrize(
    ("name", "body", "line"),
    [
        ("bad.yaml", "a: 1\nb: [1, 2\nc: 3\n", 3),
        ("bad.json", '{"a": 1,\n "b": }\n', 2),
        ("bin.yaml", "a: 1\n\x00\x01", None),
    ],
)
def test_malformed_inputs_exit_2_with_file_and_line(cli, tmp_path: Path, name: str, body: str, line: int | None) -> None:
    _write(tmp_path, {"policy/p.rego": LATEST})
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / name).write_text(body)
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 2
    assert report is None
    err = _one_error_line(r.stderr)
    assert f"in/{name}" + (f":{line}:" if line else "") in err


def test_malformed_toml_input(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"policy/p.rego": LATEST, "in/bad.toml": "a = 1\nb = \n"})
    r, _ = _lint(cli, tmp_path, "in")
    assert r.exit_code == 2
    err = _one_error_line(r.stderr)
    # the line as "file:2:" (edgegate.io's file:line form) or in the parser's words ("line 2")
    assert "in/bad.toml:2:" in err or ("in/bad.toml" in err and "line 2" in err)


def test_no_inputs_and_missing_paths_exit_2(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"policy/p.rego": LATEST, "empty/README.md": "nothing here"})
    r, _ = _lint(cli, tmp_path, "empty")
    assert r.exit_code == 2
    assert "no YAML, JSON or TOML inputs" in _one_error_line(r.stderr)
    r, _ = _lint(cli, tmp_path, "missing.yaml")
    assert r.exit_code == 2
    assert "missing.yaml" in _one_error_line(r.stderr)


def test_missing_or_empty_rules_exit_2(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"in/d.yaml": DEPLOY, "norules/README.md": "x"})
    r, _ = _lint(cli, tmp_path, "in")  # default ./policy does not exist
    assert r.exit_code == 2
    assert "policy" in _one_error_line(r.stderr)
    r, _ = _lint(cli, tmp_path, "in", "--rules", "norules")
    assert r.exit_code == 2
    assert "no Rego policies" in _one_error_line(r.stderr)
    r, _ = _lint(cli, tmp_path, "in", "--rules", "builtin:does-not-exist")
    assert r.exit_code == 2
    assert "does-not-exist" in _one_error_line(r.stderr)


def test_rego_without_package_exit_2(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"in/d.yaml": DEPLOY, "policy/p.rego": "deny contains 1 if true\n"})
    r, _ = _lint(cli, tmp_path, "in")
    assert r.exit_code == 2
    assert "policy/p.rego:1" in _one_error_line(r.stderr)


def test_unquoted_yaml_date_is_evaluated(cli, tmp_path: Path) -> None:
    _write(tmp_path, {
        "in/d.yaml": "kind: Deployment\nmetadata:\n  name: web\n  annotations:\n    created: 2024-01-01\n"
                     "spec: {template: {spec: {containers: [{name: a, image: 'a:latest'}]}}}\n",
        "policy/p.rego": LATEST,
    })
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 1, r.stderr
    assert [f["message"] for f in _findings(report)] == ["web: a uses :latest"]


def test_toml_datetime_is_evaluated(cli, tmp_path: Path) -> None:
    _write(tmp_path, {
        "in/d.toml": 'kind = "Deployment"\ncreated = 2024-01-01T00:00:00Z\n[metadata]\nname = "t"\n'
                     '[[spec.template.spec.containers]]\nname = "c"\nimage = "y:latest"\n',
        "policy/p.rego": LATEST,
    })
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 1, r.stderr
    assert [f["message"] for f in _findings(report)] == ["t: c uses :latest"]


def test_yaml_binary_value_is_handled(cli, tmp_path: Path) -> None:
    _write(tmp_path, {
        "in/d.yaml": "kind: Deployment\nmetadata: {name: web}\nblob: !!binary aGVsbG8=\n"
                     "spec: {template: {spec: {containers: [{name: a, image: 'a:latest'}]}}}\n",
        "policy/p.rego": LATEST,
    })
    r, _ = _lint(cli, tmp_path, "in")
    assert r.exit_code in (1, 2)
    assert "internal error" not in r.stderr
    if r.exit_code == 2:
        assert "in/d.yaml" in _one_error_line(r.stderr)


def test_single_rego_file_as_rules(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"in/d.yaml": DEPLOY, "rules/p.rego": LATEST, "rules/other.rego": "package main\n\nimport rego.v1\n\ndeny contains \"other\" if true\n",
                      "rules/notes.txt": "x"})
    r, report = _lint(cli, tmp_path, "in", "--rules", "rules/p.rego")
    assert r.exit_code == 1
    assert sorted(f["message"] for f in _findings(report)) == ["legacy: old uses :latest", "web: app uses :latest"]
    r, _ = _lint(cli, tmp_path, "in", "--rules", "rules/notes.txt")
    assert r.exit_code == 2
    assert "not a Rego file" in _one_error_line(r.stderr)


def test_data_colliding_with_a_package_never_passes(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"in/d.yaml": DEPLOY, "policy/p.rego": LATEST,
                      "data.json": '{"main": {"deny": []}}'})
    r, _ = _lint(cli, tmp_path, "in", "--data", "data.json")
    # data.main collides with package main: an engine error (exit 2) or the denials, never a pass
    assert r.exit_code in (1, 2)


def test_unquoted_yaml_date_never_passes(cli, tmp_path: Path) -> None:
    """Whatever the handling of dates, a document with one is never a silent pass."""
    _write(tmp_path, {
        "in/d.yaml": "kind: Deployment\nmetadata: {name: web, created: 2024-01-01}\n"
                     "spec: {template: {spec: {containers: [{name: a, image: 'a:latest'}]}}}\n",
        "policy/p.rego": LATEST,
    })
    r, _ = _lint(cli, tmp_path, "in")
    assert r.exit_code in (1, 2)
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "rule",
    [
        'deny := "complete string" if input.kind == "Deployment"',
        'deny := {"msg": "complete object"} if input.kind == "Deployment"',
        'deny := 1 if input.kind == "Deployment"',
        'deny[x] := "v" if { x := "k"; input.kind == "Deployment" }',
        'violation_x := "suffixed string" if input.kind == "Deployment"',
    ],
    ids=["string", "object", "number", "partial-object", "suffixed-string"],
)
def test_deny_values_of_other_shapes_never_pass(cli, tmp_path: Path, rule: str) -> None:
    _write(tmp_path, {"in/d.yaml": DEPLOY, "policy/p.rego": f"package main\n\nimport rego.v1\n\n{rule}\n"})
    r, _ = _lint(cli, tmp_path, "in")
    assert r.exit_code in (1, 2)


def test_deny_false_and_empty_pass(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"in/d.yaml": DEPLOY, "policy/p.rego": (
        "package main\n\nimport rego.v1\n\ndeny := false if input.kind == \"Deployment\"\n\n"
        "violation contains msg if {\n    input.kind == \"Nothing\"\n    msg := \"x\"\n}\n")})
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 0
    assert _findings(report) == []


def test_deny_non_string_set_member_is_an_error(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"in/d.yaml": DEPLOY,
                      "policy/p.rego": 'package main\n\nimport rego.v1\n\ndeny contains 42 if input.kind == "Deployment"\n'})
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 2
    assert report is not None
    assert any("main.deny returned int" in e for e in report["gates"][0]["errors"])


def test_old_style_exception(cli, tmp_path: Path) -> None:
    _write(tmp_path, {
        "in/d.yaml": DEPLOY,
        "policy/e.rego": """\
            package main

            deny_latest[msg] {
                c := input.spec.template.spec.containers[_]
                endswith(c.image, ":latest")
                msg := sprintf("latest %s", [c.name])
            }

            exception[rules] {
                input.metadata.name == "legacy"
                rules = ["latest"]
            }
        """,
    })
    r, report = _lint(cli, tmp_path, "in", "--rego-version", "v0")
    assert r.exit_code == 1
    assert [f["message"] for f in _findings(report)] == ["latest app"]
    assert report is not None and report["gates"][0]["stats"]["exceptions"] == 1
