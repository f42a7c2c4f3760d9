"""The OPA engine in batches: the plan (every input once, in order, each batch bounded), results
equal to one unbatched run, the inventory whole in every batch, an error in a later batch, and
the static check that leaves the inventory out only when no module can read it."""

from __future__ import annotations

import itertools
import json
import stat
import textwrap
from pathlib import Path

import pytest
from _files import write_files
from hypothesis import given, settings
from hypothesis import strategies as st

from edgegate.errors import EngineError
from edgegate.policy import opa
from edgegate.policy._refs import may_read
from edgegate.policy.lint import LintOptions, lint
from edgegate.policy.modules import Module

KEYS = {"inventory", "inventory_by_kind"}


@pytest.fixture
def _need_opa() -> None:
    if opa.engine_version() is None:
        pytest.skip("the OPA engine is not built (no Go at install time)")


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of at most 3 inputs, split from 1 input a core, 3 processes at a time."""
    monkeypatch.setattr(opa, "BATCH_SIZE", 3)
    monkeypatch.setattr(opa, "MIN_SPLIT", 1)
    monkeypatch.setattr(opa, "default_parallel", lambda: 3)


# --- the plan ----------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(n=st.integers(0, 5000), in_data=st.booleans(), parallel=st.integers(1, 8),
       batch=st.integers(1, 3000))
def test_plan_covers_every_input_once_in_order_and_bounds_a_batch(
    n: int, in_data: bool, parallel: int, batch: int
) -> None:
    plan = opa.plan_batches(n, in_data=in_data, parallel=parallel, batch_size=batch)
    assert plan[0][0] == 0 and plan[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(plan))
    assert all(hi > lo for lo, hi in plan) or plan == [(0, 0)]
    if not in_data:  # OPA's memory is bounded by a batch, whatever the run's size
        assert max(hi - lo for lo, hi in plan) <= batch
    else:  # every process holds the whole inventory: no more processes than cores
        assert len(plan) <= parallel


def test_small_runs_stay_in_one_process() -> None:
    assert opa.plan_batches(1, in_data=True, parallel=4) == [(0, 1)]
    assert opa.plan_batches(opa.MIN_SPLIT * 2 - 1, in_data=False, parallel=4) == [(0, opa.MIN_SPLIT * 2 - 1)]


# --- evaluation ----------------------------------------------------------------------------------

_PARITY = Module("p.rego", textwrap.dedent("""\
    package main
    import rego.v1
    deny contains sprintf("even %d", [input.n]) if input.n % 2 == 0
    warn contains "big" if input.n > 10
    """), "main")


@pytest.mark.usefixtures("_need_opa")
@pytest.mark.parametrize("in_data", [False, True])
def test_batched_results_equal_one_run_in_input_order(in_data: bool) -> None:
    inputs = [{"n": i} for i in range(23)]
    data = {"edgegate": {"inventory": inputs}}
    at = ("edgegate", "inventory") if in_data else None
    one, rules, _ = opa.evaluate_jobs([_PARITY], None, inputs=inputs, data=data, entrypoints=["main"],
                                      inputs_at=at, batch_size=10_000, parallel=1)
    many, rules2, _ = opa.evaluate_jobs([_PARITY], None, inputs=inputs, data=data, entrypoints=["main"],
                                        inputs_at=at, batch_size=4, parallel=3)
    assert many == one and rules2 == rules
    assert [r["main"]["deny"] for r in many[0]] == [[f"even {i}"] if i % 2 == 0 else [] for i in range(23)]


@pytest.mark.usefixtures("_need_opa")
def test_no_input_still_compiles_the_policies() -> None:
    bad = Module("bad.rego", "package main\nimport rego.v1\ndeny contains x if {\n", "main")
    with pytest.raises(EngineError, match="compile error"):
        opa.evaluate_jobs([bad], None, inputs=[], data={}, entrypoints=["main"])



def _manifests(n: int) -> str:
    # (not a key "n": kubectl and conftest read a plain n as the boolean false, the key "false")
    return "---\n".join(f"kind: Deployment\nmetadata: {{name: app-{i}}}\nnum: {i}\n" for i in range(n))


@pytest.mark.usefixtures("_need_opa", "small_batches")
def test_every_batch_sees_the_whole_inventory(tmp_path: Path) -> None:
    """Each document names the documents of other batches: the inventory is the run's, not the batch's."""
    write_files(tmp_path, {
        "policy/p.rego": """\
            package main
            import rego.v1
            import data.edgegate as eg
            deny contains sprintf("%d of %d, last %s, kinds %d", [input.num, count(eg.inventory),
                eg.inventory[count(eg.inventory) - 1].metadata.name,
                count(eg.inventory_by_kind.Deployment)])
            """,
        "in.yaml": _manifests(11),
    })
    result = lint([tmp_path / "in.yaml"], LintOptions(rules=[tmp_path / "policy"], builtin_schemas=False))
    got = sorted(f.message for f in result.findings)
    assert got == sorted(f"{i} of 11, last app-10, kinds 11" for i in range(11))
    assert [f.location.line for f in sorted(result.findings, key=lambda f: f.details["document"])] == \
        [1 + 4 * i for i in range(11)]


@pytest.mark.usefixtures("_need_opa", "small_batches")
def test_a_rule_error_in_a_later_batch_is_an_engine_error(tmp_path: Path) -> None:
    """Only document 9 (the fourth batch of three) makes a builtin fail: the run is an error, not a pass."""
    write_files(tmp_path, {
        "policy/p.rego": """\
            package main
            import rego.v1
            deny contains "bad" if {
                input.num == 9
                to_number("not a number") > 0
            }
            """,
        "in.yaml": _manifests(11),
    })
    with pytest.raises(EngineError, match="evaluation error"):
        lint([tmp_path / "in.yaml"], LintOptions(rules=[tmp_path / "policy"], builtin_schemas=False))


@pytest.mark.usefixtures("_need_opa")
def test_a_batch_with_missing_results_is_an_engine_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "opa"
    fake.write_text("#!/bin/sh\nif [ \"$1\" = version ]; then echo 'Version: 1.22.3'; exit 0; fi\n"
                    "echo '{\"result\": [{\"expressions\": [{\"value\": []}]}]}'\n", encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("EDGEGATE_OPA", str(fake))
    opa._locate.cache_clear()
    try:
        with pytest.raises(EngineError, match="0 results for 2 inputs"):
            opa.evaluate_jobs([_PARITY], None, inputs=[{"n": 1}, {"n": 2}], data={}, entrypoints=["main"])
    finally:
        opa._locate.cache_clear()


# --- which policies read the inventory ------------------------------------------------------------

def _module(body: str, package: str = "main") -> Module:
    return Module("p.rego", f"package {package}\nimport rego.v1\n{textwrap.dedent(body)}", package)


@pytest.mark.parametrize("body", [
    "x := data.edgegate.inventory",
    "x := data.edgegate.inventory_by_kind.Deployment",
    "x := data . edgegate . inventory",
    'x := data.edgegate["inventory"]',
    'x := data["edgegate"]',
    "x := data.edgegate",
    "x := data",
    "x if { some k, v in data.edgegate; k == v }",
    "x := walk(data)",
    "import data.edgegate\nx := edgegate.inventory",
    "import data.edgegate as eg\nx := eg[k]",
    "import data.edgegate.inventory as inv\nx := inv",
    'x := object.get(data.edgegate, "inventory", [])',
    "f(y) := y\nx := f(data.edgegate)",
])
def test_may_read_the_inventory(body: str) -> None:
    assert may_read([_module(body)], KEYS)


def test_a_module_of_package_edgegate_may_read_it() -> None:
    assert may_read([_module("x := 1", "edgegate.helpers")], KEYS)


@pytest.mark.parametrize("body", [
    "x := data.edgegate.org",
    "x := data.edgegate.allowed_registries[_]",
    "x := data.inventory.namespace[input.metadata.namespace]",  # Gatekeeper's, not edgegate's
    "x := input.data.edgegate",
    "# reads data.edgegate.inventory in a comment only\nx := 1",
    'x := "data.edgegate.inventory"',
    "x := data.main.deny",
])
def test_cannot_read_the_inventory(body: str) -> None:
    assert not may_read([_module(body)], KEYS)


@pytest.mark.usefixtures("_need_opa")
def test_a_policy_that_cannot_read_it_gets_the_same_verdicts(tmp_path: Path) -> None:
    """The same rules with and without an (unused) read of the inventory: same findings."""
    rule = 'deny contains sprintf("%s", [input.metadata.name]) if input.num % 3 == 0\n'
    write_files(tmp_path, {"a/p.rego": "package main\nimport rego.v1\n" + rule,
                      "b/p.rego": "package main\nimport rego.v1\n_unused := count(data.edgegate.inventory)\n" + rule,
                      "in.yaml": _manifests(40)})
    a = lint([tmp_path / "in.yaml"], LintOptions(rules=[tmp_path / "a"], builtin_schemas=False))
    b = lint([tmp_path / "in.yaml"], LintOptions(rules=[tmp_path / "b"], builtin_schemas=False))
    shown = [json.dumps([f.message, f.location.line]) for f in a.findings]
    assert shown == [json.dumps([f.message, f.location.line]) for f in b.findings]
    assert len(shown) == 14


# --- the version without a process ----------------------------------------------------------------

@pytest.mark.usefixtures("_need_opa")
def test_build_info_version_is_what_opa_version_prints() -> None:
    import subprocess

    path = str(opa.bundled_path())
    printed = subprocess.run([path, "version"], capture_output=True, text=True, check=True).stdout
    assert f"Version: {opa._buildinfo_version(path)}\n" in printed


def test_no_build_info_falls_back_to_running_it(tmp_path: Path) -> None:
    script = tmp_path / "opa"
    script.write_text("#!/bin/sh\necho 'Version: 1.5.0'\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    assert opa._buildinfo_version(str(script)) is None
    assert opa._read_version(str(script)) == "1.5.0"
    elf = tmp_path / "elf"
    elf.write_bytes(b"\x7fELF\x02\x01" + b"\xff" * 200)  # a truncated, corrupt header
    assert opa._buildinfo_version(str(elf)) is None
