"""Manifests are read as kubectl and conftest read them (go-yaml v2 through sigs.k8s.io/yaml),
not as PyYAML's YAML 1.1: where the two differ, the policy must judge the object the cluster is
sent. Each case is held to the real conftest (which reads YAML with the same library as
kubectl); the separator case, where conftest and kubectl differ, follows kubectl's YAMLReader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _conftest_oracle import run_conftest, run_edgegate
from _files import write_files

from edgegate.errors import InputError
from edgegate.io.documents import load_documents

# what the policy saw, by value and by type
POLICY = """\
package main
import rego.v1
deny contains sprintf("%s: %s=%v (%s)", [object.get(input, ["metadata", "name"], "?"), k, v, type_name(v)]) if {
    some k, v in object.get(input, "spec", {})
}
"""


def _doc(name: str, spec: str) -> str:
    return f"kind: Deployment\nmetadata: {{name: {name}}}\nspec:\n{spec}"


CASES: dict[str, str] = {
    # go-yaml's booleans include y/Y/n/N; PyYAML's do not
    "y-n-booleans": _doc("b", "  a: y\n  b: N\n  c: yes\n  d: 'y'\n"),
    # ParseInt with base 0 (0o, 0x, 0b, a leading 0), then ParseUint, then the float pattern
    "go-numbers": _doc("n", "  o: 0o17\n  e: 0e0\n  f: 1e3\n  g: 08\n  h: 0x1F\n  i: 1_000\n  j: +5\n  k: 1.5e3\n"),
    # sexagesimal and dates are text to go-yaml (a timestamp decoded into interface{} is its text)
    "text-not-numbers": _doc("t", "  s: 1:30\n  d: 2024-01-02\n  ts: 2001-12-14t21:59:43.10-05:00\n"),
    # merge keys apply in order: a later "<<" overrides an explicit key before it
    "merge-after-explicit": (
        "x-bad: &bad {allowPrivilegeEscalation: true, runAsNonRoot: false}\n"
        "kind: Deployment\nmetadata: {name: m}\nspec:\n"
        "  runAsNonRoot: true\n  allowPrivilegeEscalation: false\n  <<: *bad\n"
    ),
    "merge-list-first-wins": (
        "a: &a {x: 1}\nb: &b {x: 2, y: 2}\nkind: Deployment\nmetadata: {name: l}\nspec:\n  <<: [*a, *b]\n"
    ),
    # one top-level array: an input per element (conftest's engine splits it)
    "top-level-array": "- kind: Deployment\n  metadata: {name: e0}\n  spec: {a: 1}\n- kind: Deployment\n  metadata: {name: e1}\n  spec: {a: 2}\n",
    "binary-image": _doc("bin", "  image: !!binary bmdpbng6bGF0ZXN0\n"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_agree_with_conftest(cli, conftest_bin: str, tmp_path: Path, name: str) -> None:
    write_files(tmp_path, {"policy/p.rego": POLICY, "in.yaml": CASES[name]})
    args = ["-p", "policy", "in.yaml"]
    want = run_conftest(conftest_bin, args, tmp_path)
    got, stderr = run_edgegate(cli, args, tmp_path)
    assert got == want, f"edgegate {got} != conftest {want}: {stderr}"
    assert want.status == "fail"


def _data(tmp_path: Path, text: str) -> list[Any]:
    f = tmp_path / "in.yaml"
    f.write_text(text)
    return [d.data for d in load_documents(f)]


def test_the_values_kubectl_sends(tmp_path: Path) -> None:
    # checked one-off against kubectl's own decoding (cli-runtime's builder, sigs.k8s.io/yaml v1.6)
    [doc] = _data(tmp_path, CASES["go-numbers"])
    assert doc["spec"] == {"o": 15, "e": 0.0, "f": 1000.0, "g": 8.0, "h": 31, "i": 1000, "j": 5, "k": 1500.0}
    [doc] = _data(tmp_path, CASES["merge-after-explicit"])
    assert doc["spec"] == {"runAsNonRoot": False, "allowPrivilegeEscalation": True}
    [doc] = _data(tmp_path, CASES["text-not-numbers"])
    assert doc["spec"] == {"s": "1:30", "d": "2024-01-02", "ts": "2001-12-14t21:59:43.10-05:00"}


def test_a_separator_with_a_comment_glued_on_splits_as_in_kubectl(tmp_path: Path) -> None:
    # kubectl's YAMLReader: a line starting with '---' followed by '#' ends a document; YAML reads
    # '---#:' as a key, so a whole document hid inside the first one (conftest: exit 0 on it)
    text = _doc("good", "  a: 1\n") + "---#:\n  kind: Deployment\n  metadata: {name: bad}\n"
    docs = _data(tmp_path, text.replace("---#:\n  ", "---#\n").replace("\n  metadata", "\nmetadata"))
    assert [d["metadata"]["name"] for d in docs] == ["good", "bad"]


@pytest.mark.parametrize("line", ["--- {kind: Pod}", "----", "---x"])
def test_text_after_a_separator_is_refused_as_kubectl_refuses_it(tmp_path: Path, line: str) -> None:
    with pytest.raises(InputError):
        _data(tmp_path, f"a: 1\n{line}\n")


@pytest.mark.parametrize("value", [".inf", "-.Inf", ".nan"])
def test_non_finite_numbers_are_input_errors(tmp_path: Path, value: str) -> None:
    with pytest.raises(InputError) as info:
        _data(tmp_path, f"a: 1\nb: {value}\n")
    assert info.value.line == 2


def test_nan_in_json_is_an_input_error(tmp_path: Path) -> None:
    f = tmp_path / "in.json"
    f.write_text('{"a": NaN}')
    with pytest.raises(InputError):
        load_documents(f)


def test_a_merge_tag_on_another_key_is_that_key(tmp_path: Path) -> None:
    # a review: `!!merge securityContext: {...}` was spread like `<<`; go-yaml merges only "<<"
    text = _doc("t", "  securityContext: {runAsNonRoot: true}\n  !!merge securityContext: {privileged: true}\n")
    [doc] = _data(tmp_path, text)
    assert doc["spec"] == {"securityContext": {"privileged": True}}  # the later key, as kubectl reads it
