"""Differential suite: `edgegate policy lint` against the real conftest (v0.71.1) on the same files:
exit status, failure and warning messages (as multisets) and exception counts must agree.

Three sources of cases: cases written here for every conftest semantic edgegate claims; the
shipped pack's YAML cases (each input with its data); conftest's own examples and acceptance
commands from its module source in the Go module cache (used in place). The regopy fallback runs
the same cases: equal to OPA's verdict, or an error (exit 2: refused before evaluation); a
silent disagreement fails. Known, deliberate divergences are their own tests at the end."""

from __future__ import annotations

import copy
import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from _conftest_oracle import (
    Verdict,
    conftest_module_dir,
    run_conftest,
    run_edgegate,
    run_edgegate_process,
)
from _files import write_files

ROOT = Path(__file__).resolve().parents[2]




# Cases where the regopy fallback is known to give a different verdict without refusing: each is
# in docs/policy.md, and the test checks it still differs (so a fixed one leaves this list).
REGOPY_SILENT = {
    "builtin-error-is-an-error": "regopy has no strict builtin errors: to_number('app') is undefined",
    "old-style-partial-set-iteration": "regopy reads an old-style partial set as an object",
    "v0-syntax-under-v1-is-an-error": "regopy accepts Rego v0 syntax whatever --rego-version says",
    "acceptance:builtin-errors": "regopy has no strict builtin errors (net.lookup_ip_addr is undefined)",
    "acceptance:combine": "regopy's sprintf('%v', [array]) gives '' (engine-notes defect 4)",
}


def _agree(cli: Any, conftest_bin: str, args: list[str], cwd: Path, *, case: str = "") -> Verdict:
    want = run_conftest(conftest_bin, args, cwd)
    got, stderr = run_edgegate(cli, args, cwd)
    assert got == want, f"edgegate (OPA) {got} != conftest {want} for {args}: {stderr}"
    fallback, stderr = run_edgegate(cli, args, cwd, engine="regopy")
    if case in REGOPY_SILENT:
        assert fallback not in (want, Verdict("error")), f"{case} is fixed in regopy: drop it from REGOPY_SILENT"
    else:
        assert fallback in (want, Verdict("error")), (
            f"regopy silently disagrees: {fallback} != conftest {want} for {args}: {stderr}"
        )
    return want


DEPLOY = """\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: app, labels: {team: a}}
    spec:
      template:
        spec:
          containers:
            - {name: web, image: "nginx:latest"}
            - {name: side, image: "busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000"}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: legacy}
    spec:
      template:
        spec:
          containers:
            - {name: old, image: "old:1"}
    """

# name -> (files, lint arguments)
CASES: dict[str, tuple[dict[str, str], list[str]]] = {
    "deny-violation-warn-with-suffixes": ({
        "policy/p.rego": """\
            package main
            import rego.v1
            deny contains msg if {
                some c in input.spec.template.spec.containers
                endswith(c.image, ":latest")
                msg := sprintf("%s uses latest", [c.name])
            }
            violation_labels contains "no labels" if not input.metadata.labels
            warn contains "a warning" if input.metadata.name == "legacy"
            warn_images_pinned contains sprintf("unpinned %s", [c.name]) if {
                some c in input.spec.template.spec.containers
                not contains(c.image, "@sha256:")
            }
            deny_never contains "never" if false
        """,
        "in/d.yaml": DEPLOY,
    }, ["-p", "policy", "in/d.yaml"]),
    "object-messages-with-metadata": ({
        "policy/p.rego": """\
            package main
            import rego.v1
            deny contains {"msg": sprintf("container %s", [c.name]), "severity": "high", "extra": [1, 2]} if {
                some c in input.spec.template.spec.containers
            }
            warn contains {"msg": "object warn", "details": {"a": 1}} if input.metadata.name == "app"
        """,
        "in/d.yaml": DEPLOY,
    }, ["-p", "policy", "in/d.yaml"]),
    "exceptions-suffix-plain-warn-and-unfired": ({
        "policy/p.rego": """\
            package main
            import rego.v1
            deny_latest contains "latest" if input.metadata.name == "legacy"
            deny contains "plain deny" if input.metadata.name == "legacy"
            violation contains "plain violation" if input.metadata.name == "app"
            warn_latest contains "warn latest" if input.metadata.name == "legacy"
            deny_other contains "other" if input.metadata
            exception contains rules if {
                input.metadata.name == "legacy"
                rules := ["latest", ""]
            }
            exception contains ["unfired_rule_name"] if input.metadata.name == "app"
            exception contains ["other"] if input.metadata.name == "app"
        """,
        "in/d.yaml": DEPLOY,
    }, ["-p", "policy", "in/d.yaml"]),
    "namespaces-one": ({
        "policy/main.rego": 'package main\nimport rego.v1\ndeny contains "main" if input.kind\n',
        "policy/extra.rego": 'package k8s.extra\nimport rego.v1\ndeny contains "extra" if input.kind\nwarn contains "w" if input.kind\n',
        "in/d.yaml": DEPLOY,
    }, ["-p", "policy", "--namespace", "k8s.extra", "in/d.yaml"]),
    "namespaces-all": ({
        "policy/main.rego": 'package main\nimport rego.v1\ndeny contains "main" if input.kind\n',
        "policy/extra.rego": 'package k8s.extra\nimport rego.v1\ndeny contains "extra" if input.kind\n',
        "policy/third.rego": 'package third\nimport rego.v1\nviolation contains "third" if input.metadata.name == "app"\n',
        "in/d.yaml": DEPLOY,
    }, ["-p", "policy", "--all-namespaces", "in/d.yaml"]),
    "namespaces-two-given": ({
        "policy/main.rego": 'package main\nimport rego.v1\ndeny contains "main" if input.kind\n',
        "policy/extra.rego": 'package k8s.extra\nimport rego.v1\ndeny contains "extra" if input.kind\n',
        "in/d.yaml": DEPLOY,
    }, ["-p", "policy", "-n", "main", "-n", "k8s.extra", "in/d.yaml"]),
    "combine": ({
        "policy/p.rego": """\
            package main
            import rego.v1
            names := [d.contents.metadata.name | some d in input]
            deny contains sprintf("%d documents", [count(input)]) if count(input) > 1
            deny contains sprintf("missing %s", [n]) if {
                some n in ["app", "legacy", "nothere"]
                not n in names
            }
            warn contains sprintf("path %s", [d.path]) if { some d in input; d.contents.kind == "Service" }
        """,
        "in/d.yaml": DEPLOY,
        "in/s.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n",
    }, ["-p", "policy", "--combine", "in/d.yaml", "in/s.yaml"]),
    "data-files": ({
        "policy/p.rego": """\
            package main
            import rego.v1
            deny contains sprintf("%s is not allowed", [input.metadata.name]) if {
                not input.metadata.name in data.allowed.names
            }
            warn contains "flag" if data.settings.strict
        """,
        "data/allowed.yaml": "allowed:\n  names: [app]\n",
        "data/settings.json": '{"settings": {"strict": true}}',
        "in/d.yaml": DEPLOY,
    }, ["-p", "policy", "-d", "data/allowed.yaml", "-d", "data/settings.json", "in/d.yaml"]),
    "empty-documents-among-others": ({
        # (not `n:`: conftest's YAML 1.1 reads the key n as false)
        "policy/p.rego": 'package main\nimport rego.v1\ndeny contains sprintf("doc %v", [input.num]) if input.num\n',
        "in/d.yaml": "---\nnum: 1\n---\n---\n# only a comment\n---\nnum: 2\n...\n",
    }, ["-p", "policy", "in/d.yaml"]),
    "json-and-toml-inputs": ({
        "policy/p.rego": """\
            package main
            import rego.v1
            deny contains sprintf("port %v", [input.port]) if input.port < 1024
            warn contains sprintf("debug in %s", [input.name]) if input.debug == true
        """,
        "in/a.json": '{"name": "a", "port": 80, "debug": true}',
        "in/b.toml": 'name = "b"\nport = 8080\ndebug = true\n',
    }, ["-p", "policy", "in/a.json", "in/b.toml"]),
    "rego-v0-old-style": ({
        "policy/p.rego": """\
            package main
            deny[msg] {
                c := input.spec.template.spec.containers[_]
                endswith(c.image, ":latest")
                msg := sprintf("%s uses latest", [c.name])
            }
            images[img] { img := input.spec.template.spec.containers[_].image }
            warn[msg] { some img; images[img]; not contains(img, "@"); msg := sprintf("unpinned %s", [img]) }
            exception[rules] { input.metadata.name == "legacy"; rules := [""] }
        """,
        "in/d.yaml": DEPLOY,
    }, ["-p", "policy", "--rego-version", "v0", "in/d.yaml"]),
    "v1-builtins-regopy-gets-wrong": ({
        "policy/p.rego": """\
            package main
            import rego.v1
            deny contains "semver" if semver.compare("1.10.0", "1.9.0") != 1
            deny contains "union" if object.union({"a": {"b": 1}}, {"a": {"c": 2}}) != {"a": {"b": 1, "c": 2}}
            deny contains "rfc3339" if not time.parse_rfc3339_ns("2026-01-01T00:00:00Z")
            deny contains sprintf("name %s", [lower(input.metadata.name)]) if input.metadata.name == "legacy"
            deny contains concat("/", {"b", "a"}) if input.metadata.name == "app"
        """,
        "in/d.yaml": DEPLOY,
    }, ["-p", "policy", "in/d.yaml"]),
    "fail-on-warn": ({
        "policy/p.rego": 'package main\nimport rego.v1\nwarn contains "only a warning" if input.kind\n',
        "in/d.yaml": DEPLOY,
    }, ["-p", "policy", "--fail-on-warn", "in/d.yaml"]),
    "warnings-alone-pass": ({
        "policy/p.rego": 'package main\nimport rego.v1\nwarn contains "only a warning" if input.kind\n',
        "in/d.yaml": DEPLOY,
    }, ["-p", "policy", "in/d.yaml"]),
    "print-does-not-change-verdicts": ({
        "policy/p.rego": 'package main\nimport rego.v1\ndeny contains "x" if { print("seen", input.metadata.name); input.metadata.name == "app" }\n',
        "in/d.yaml": DEPLOY,
    }, ["-p", "policy", "in/d.yaml"]),
    "builtin-error-is-an-error": ({
        "policy/p.rego": 'package main\nimport rego.v1\ndeny contains "n" if to_number(input.metadata.name) > 1\n',
        "in/d.yaml": DEPLOY,
    }, ["-p", "policy", "in/d.yaml"]),
    "conflicting-rules-is-an-error": ({
        "policy/p.rego": 'package main\nimport rego.v1\nx := 1 if input.kind\nx := 2 if input.kind\ndeny contains "c" if x == 1\n',
        "in/d.yaml": DEPLOY,
    }, ["-p", "policy", "in/d.yaml"]),
    "compile-error-is-an-error": ({
        "policy/p.rego": 'package main\nimport rego.v1\ndeny contains msg if { msg := undefined_function(1) }\n',
        "in/d.yaml": DEPLOY,
    }, ["-p", "policy", "in/d.yaml"]),
    "v0-syntax-under-v1-is-an-error": ({
        "policy/p.rego": 'package main\ndeny[msg] { msg := "x" }\n',
        "in/d.yaml": DEPLOY,
    }, ["-p", "policy", "in/d.yaml"]),
    "old-style-partial-set-iteration": ({
        "policy/p.rego": """\
            package main
            import future.keywords.in
            images[img] { img := input.spec.template.spec.containers[_].image }
            deny[msg] { some img in images; endswith(img, ":latest"); msg := sprintf("latest %s", [img]) }
            deny[msg] { img := "old:1"; img in images; msg := "old image" }
        """,
        "in/d.yaml": DEPLOY,
    }, ["-p", "policy", "--rego-version", "v0", "in/d.yaml"]),
    # OPA binds a call's reference argument before the negation: with input.items undefined,
    # `not is_array(input.items)` is undefined (no deny); regopy evaluated it as true (a deny),
    # found writing the pack's EGP012. regopy now refuses the construct before evaluation.
    "not-a-call-on-an-undefined-reference": ({
        "policy/p.rego": """\
            package main
            import rego.v1
            deny contains "no items" if not is_array(input.items)
            deny contains "no name" if not startswith(input.metadata.name, "app")
            deny contains "bound first" if {
                name := object.get(input, ["metadata", "name"], "")
                not startswith(name, "app")
            }
        """,
        "in/d.yaml": "kind: ConfigMap\n",
    }, ["-p", "policy", "in/d.yaml"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_written_cases_agree_with_conftest(cli, conftest_bin: str, tmp_path: Path, name: str) -> None:
    files, args = CASES[name]
    write_files(tmp_path, files)
    _agree(cli, conftest_bin, args, tmp_path, case=name)


def test_written_cases_cover_every_outcome(cli, conftest_bin: str, tmp_path: Path) -> None:
    """The suite is not vacuous: it has passes, failures, warnings, exceptions and errors."""
    seen: set[str] = set()
    for name, (files, args) in CASES.items():
        case_dir = tmp_path / name
        write_files(case_dir, files)
        v = run_conftest(conftest_bin, args, case_dir)
        seen.add(v.status)
        if v.warnings:
            seen.add("warnings")
        if v.exceptions:
            seen.add("exceptions")
    assert seen >= {"pass", "fail", "error", "warnings", "exceptions"}


# --- the shipped pack's cases --------------------------------------------------------------------

def _pack_cases() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    out = []
    for f in sorted((ROOT / "rules" / "edge-ai" / "tests").glob("*.yaml")):
        spec = yaml.safe_load(f.read_text(encoding="utf-8"))
        for i, case in enumerate(spec["cases"]):
            out.append((f"{f.stem}[{i}]", spec, case))
    return out


PACK_CASES = _pack_cases()


@pytest.mark.parametrize("index", range(len(PACK_CASES)), ids=[c[0] for c in PACK_CASES])
def test_shipped_pack_cases_agree_with_conftest(cli, conftest_bin: str, tmp_path: Path, index: int) -> None:
    from edgegate.policy.lint import deep_merge, inventory_data

    _, spec, case = PACK_CASES[index]
    docs = case["documents"] if "documents" in case else [case["input"]]
    data = deep_merge(copy.deepcopy(spec.get("data") or {}), case.get("data") or {})
    deep_merge(data, {"edgegate": inventory_data(docs)})
    (tmp_path / "data.json").write_text(json.dumps(data, default=str), encoding="utf-8")
    (tmp_path / "in.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    pack = str(ROOT / "rules" / "edge-ai")
    verdict = _agree(cli, conftest_bin, ["-p", pack, "-d", "data.json", "in.yaml"], tmp_path)
    assert verdict.status != "error"


# --- conftest's own examples and acceptance commands ----------------------------------------------

_SUPPORTED_INPUTS = (".yaml", ".yml", ".json", ".toml")
# flags edgegate takes with conftest's meaning (output formatting flags are dropped)
_DROPPED = {"--no-color", "--quiet"}


def _acceptance_commands() -> list[tuple[str, str | None]]:
    """``conftest test`` lines of acceptance.bats whose inputs edgegate parses and whose flags it
    has (HCL, Dockerfile, INI, CUE, … and --update/-o are not claimed), each with the file its
    ``< FILE`` redirects to standard input (for the input ``-``)."""
    folder = conftest_module_dir()
    out = []
    for line in (folder / "acceptance.bats").read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text.startswith("run ./conftest test "):
            continue
        command, _, redirect = text[len("run ./conftest test "):].partition("<")
        words = shlex.split(command)
        stdin = redirect.strip() or None
        inputs = [w for w in words if not w.startswith("-") and w.startswith("examples/") and "policy" not in w
                  and not w.endswith((".rego", ".json") if "--capabilities" in words else ".rego")
                  and "exclusions" not in w]
        flags = [w for w in words if w.startswith("-") and w != "-"]
        if "-" in words and stdin is None:
            continue
        if (not inputs and stdin is None) or any(not w.endswith(_SUPPORTED_INPUTS) for w in inputs):
            continue
        if "--parser" in words and words[words.index("--parser") + 1] not in ("yaml", "json", "toml"):
            continue
        allowed = {"-p", "--policy", "-d", "--data", "--namespace", "-n", "--all-namespaces", "--combine",
                   "--fail-on-warn", "--show-builtin-errors", "--trace", "--strict", "--capabilities",
                   "--parser"} | _DROPPED
        if any(f not in allowed for f in flags) or '""' in text:
            continue
        out.append((" ".join(shlex.quote(w) for w in words if w not in _DROPPED), stdin))
    return out


def test_conftest_acceptance_commands_agree(cli, conftest_bin: str) -> None:
    folder = conftest_module_dir()
    commands = _acceptance_commands()
    assert len(commands) >= 10, commands
    claimed = {"-", "--trace", "--strict", "--capabilities", "--parser"}
    assert claimed <= {w for c, _ in commands for w in shlex.split(c)}, commands
    statuses = set()
    for command, stdin_file in commands:
        args = [a for a in shlex.split(command) if a != "--show-builtin-errors"]
        if "notpresent" in args:
            continue  # a namespace with no policies: see test_divergence_missing_namespace_is_an_error
        example = next((a.split("/")[1] for a in args if a.startswith("examples/")), "")
        if stdin_file is None:
            statuses.add(_agree(cli, conftest_bin, args, folder, case=f"acceptance:{example}").status)
            continue
        stdin = (folder / stdin_file).read_text(encoding="utf-8")
        want = run_conftest(conftest_bin, args, folder, stdin=stdin)
        got, stderr = run_edgegate_process(args, folder, stdin=stdin)
        assert got == want, f"edgegate {got} != conftest {want} for {args} < {stdin_file}: {stderr}"
        fallback, stderr = run_edgegate_process(args, folder, engine="regopy", stdin=stdin)
        assert fallback in (want, Verdict("error")), f"regopy silently disagrees: {fallback}: {stderr}"
        statuses.add(want.status)
    assert {"pass", "fail", "error"} <= statuses


# Examples whose inputs need a parser feature edgegate does not claim.
_EXAMPLE_PARSERS = {
    "awssam": "CloudFormation short-form YAML tags (!Ref, !GetAtt): edgegate refuses unknown YAML tags",
}


def test_conftest_examples_agree(cli, conftest_bin: str) -> None:
    """Every example folder with a policy/ and YAML/JSON/TOML inputs, run as `conftest test`
    runs it there (its default namespace main, or all namespaces)."""
    folder = conftest_module_dir() / "examples"
    ran = 0
    mismatches = []
    for example in sorted(p for p in folder.iterdir() if (p / "policy").is_dir()):
        inputs = sorted(str(f.relative_to(example)) for f in example.iterdir()
                        if f.is_file() and f.suffix in _SUPPORTED_INPUTS)
        if not inputs:
            continue
        for extra in ([], ["--all-namespaces"]):
            args = ["-p", "policy", *extra, *inputs]
            want = run_conftest(conftest_bin, args, example)
            got, stderr = run_edgegate(cli, args, example)
            if want.status == "pass" and not want.failures and got.status == "error" \
                    and "no policies in namespace 'main'" in stderr:
                continue  # a missing namespace: conftest passes with nothing checked (see below)
            if example.name in _EXAMPLE_PARSERS:
                assert got != want, f"{example.name} now agrees: drop it from _EXAMPLE_PARSERS"
                continue
            if got != want:
                mismatches.append(f"{example.name} {args}: edgegate {got} != conftest {want}: {stderr}")
            ran += 1
    assert not mismatches, "\n".join(mismatches)
    assert ran >= 10


# --- deliberate divergences: edgegate fails closed where conftest passes silently --------------

def test_divergence_missing_namespace_is_an_error(cli, conftest_bin: str, tmp_path: Path) -> None:
    write_files(tmp_path, {"policy/p.rego": 'package main\nimport rego.v1\ndeny contains "x" if input\n', "d.yaml": "a: 1\n"})
    args = ["-p", "policy", "--namespace", "notpresent", "d.yaml"]
    assert run_conftest(conftest_bin, args, tmp_path).status == "pass"  # nothing was checked
    assert run_edgegate(cli, args, tmp_path)[0].status == "error"


def test_divergence_complete_deny_rule_fails(cli, conftest_bin: str, tmp_path: Path) -> None:
    """``deny := true`` or a string: conftest ignores values that are not sets (a pass);
    edgegate reports them, so a rule written as a complete rule cannot silently pass."""
    write_files(tmp_path, {"policy/p.rego": 'package main\nimport rego.v1\ndeny := "complete rule" if input.a\n',
                      "d.yaml": "a: 1\n"})
    args = ["-p", "policy", "d.yaml"]
    assert run_conftest(conftest_bin, args, tmp_path).status == "pass"
    got, _ = run_edgegate(cli, args, tmp_path)
    assert got.status == "fail" and got.failures == (("complete rule", 1),)
