"""edgegate.io: documents with line numbers, malformed inputs, bombs, binary and oversize files."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edgegate.errors import InputError
from edgegate.io import (
    human_size,
    iter_input_files,
    load_documents,
    load_yaml_text,
    read_bounded,
    read_text_bounded,
)

MULTI = """\
# leading comment
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
---
apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {a: "1", "x/y": "2"}
"""


def test_multi_document_yaml_lines(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text(MULTI)
    docs = load_documents(f)
    assert [d.data["kind"] for d in docs] == ["Deployment", "Service"]
    dep, svc = docs
    assert dep.path == str(f)
    assert dep.line == 2
    assert svc.line == 16
    assert dep.index == 0 and svc.index == 2  # the empty document in between keeps its index
    assert dep.line_of("/spec/template/spec/containers/0/image") == 11
    assert dep.line_of("/spec/template/spec/containers/1/image") == 13
    assert dep.line_of("/spec/template/spec/containers/1") == 12
    # no line for a pointer that does not exist: nearest ancestor
    assert dep.line_of("/spec/template/spec/containers/1/resources/limits") == 12
    assert dep.line_of("spec/template/spec/containers/0/name") == 10  # no leading slash
    assert dep.line_of(None) == 2 and dep.line_of("") == 2
    assert svc.line_of("/metadata/labels/x~1y") == 20
    assert svc.line_of("/nothing/here") == 16


def test_pointer_to_block_value_maps_to_its_key_line(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text(MULTI)
    dep = load_documents(f)[0]
    # 'template:' is on line 7; its value starts on line 8 ('spec:')
    assert dep.line_of("/spec/template") == 7
    assert dep.line_of("/spec/template/spec/containers") == 9


def test_yaml_anchors_and_merge_keys_still_load(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_text("base: &b {cpu: 1}\nother:\n  <<: *b\n  mem: 2\nlist: [*b, *b]\n")
    (doc,) = load_documents(f)
    assert doc.data == {"base": {"cpu": 1}, "other": {"cpu": 1, "mem": 2}, "list": [{"cpu": 1}, {"cpu": 1}]}


def test_empty_yaml_has_no_documents(tmp_path: Path) -> None:
    f = tmp_path / "e.yaml"
    f.write_text("# only a comment\n---\n")
    assert load_documents(f) == []


def test_json_object_and_kubernetes_list(tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"kind": "Deployment", "apiVersion": "apps/v1"}))
    docs = load_documents(one)
    assert len(docs) == 1 and docs[0].data["kind"] == "Deployment" and docs[0].line == 1
    many = tmp_path / "many.json"
    many.write_text(json.dumps([{"kind": "A", "apiVersion": "v1"}, {"kind": "B", "apiVersion": "v1"}]))
    docs = load_documents(many)
    assert [(d.data["kind"], d.index) for d in docs] == [("A", 0), ("B", 1)]
    # any top-level array is one input per element, as conftest evaluates it (null: no document)
    plain = tmp_path / "plain.json"
    plain.write_text("[1, null, [3]]")
    assert [(d.data, d.index) for d in load_documents(plain)] == [(1, 0), ([3], 2)]
    yaml_list = tmp_path / "list.yaml"
    yaml_list.write_text("- {kind: A}\n- {kind: B}\n")
    assert [(d.data["kind"], d.line) for d in load_documents(yaml_list)] == [("A", 1), ("B", 2)]
    two = tmp_path / "two.yaml"  # a document that is an array, among others, stays one input
    two.write_text("kind: A\n---\n- 1\n- 2\n")
    assert [d.data for d in load_documents(two)] == [{"kind": "A"}, [1, 2]]


def test_json_list_documents_know_their_lines(tmp_path: Path) -> None:
    f = tmp_path / "many.json"
    f.write_text(json.dumps([{"kind": "A", "apiVersion": "v1"}, {"kind": "B", "apiVersion": "v1"}], indent=2))
    first, second = load_documents(f)
    assert first.line == 2
    assert second.line == 6
    assert second.line_of("/kind") == 7


def test_toml(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('title = "x"\n[owner]\nname = "ml"\n')
    (doc,) = load_documents(f)
    assert doc.data == {"title": "x", "owner": {"name": "ml"}}


def test_parser_override(tmp_path: Path) -> None:
    f = tmp_path / "manifest.txt"
    f.write_text("kind: Pod\n")
    with pytest.raises(InputError, match="unsupported file type"):
        load_documents(f)
    assert load_documents(f, parser="yaml")[0].data == {"kind": "Pod"}


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(InputError) as info:
        load_documents(f)
    assert info.value.path == str(f)
    assert info.value.line == 3
    assert "malformed YAML" in str(info.value)
    assert str(info.value).startswith(f"{f}:3: ")


def test_malformed_yaml_in_second_document(tmp_path: Path) -> None:
    f = tmp_path / "bad2.yaml"
    f.write_text("a: 1\n---\nb: 2\n  c: 3\n")
    with pytest.raises(InputError) as info:
        load_documents(f)
    assert info.value.line == 4


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.json"
    f.write_text('{"a": 1,\n "b": }\n')
    with pytest.raises(InputError) as info:
        load_documents(f)
    assert info.value.path == str(f)
    assert info.value.line == 2
    assert "malformed JSON" in info.value.message


def test_malformed_toml_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("a = 1\nb = \n")
    with pytest.raises(InputError) as info:
        load_documents(f)
    assert info.value.path == str(f)
    assert "malformed TOML" in info.value.message
    # Python < 3.14 has no TOMLDecodeError.lineno: the line is in the message
    assert info.value.line == 2 or "line 2" in str(info.value)


def test_python_tags_never_construct_objects(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    scalar = tmp_path / "evil.yaml"
    scalar.write_text("ok: 1\na: !!python/name:os.system ''\n")
    with pytest.raises(InputError, match="constructor") as info:
        load_documents(scalar)
    assert info.value.line == 2
    seq = tmp_path / "evil2.yaml"
    seq.write_text(f"a: !!python/object/apply:os.system ['touch {marker}']\n")
    try:
        docs = load_documents(seq)
    except InputError:
        docs = []
    assert not marker.exists()
    for doc in docs:  # if loaded at all, only as plain data
        assert doc.data == {"a": [f"touch {marker}"]}


def test_non_scalar_key_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "k.yaml"
    f.write_text("ok: 1\n? [a, b]\n: 2\n")
    with pytest.raises(InputError, match="mapping keys must be scalars"):
        load_documents(f)


_BOUNDED_LOAD = textwrap.dedent(
    """
    import resource, sys
    from edgegate.errors import InputError
    from edgegate.io.documents import load_documents
    resource.setrlimit(resource.RLIMIT_AS, (1024 * 1024 * 1024, 1024 * 1024 * 1024))
    try:
        load_documents(sys.argv[1], max_nodes=int(sys.argv[2]))
    except InputError as exc:
        print("InputError:", exc)
    else:
        print("LOADED")
    """
)


def _bounded_load(path: Path, max_nodes: int) -> subprocess.CompletedProcess[str]:
    """Load `path` in a child process capped at 1 GiB of address space."""
    return subprocess.run(
        [sys.executable, "-c", _BOUNDED_LOAD, str(path), str(max_nodes)],
        capture_output=True, text=True, timeout=120,
    )


def test_billion_laughs_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    letters = "abcdefghij"
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in itertools.pairwise(letters):
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    bomb = tmp_path / "laughs.yaml"
    bomb.write_text("\n".join(lines) + "\n")  # ~10^9 strings when expanded
    assert bomb.stat().st_size < 1000
    proc = _bounded_load(bomb, 1_000_000)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("InputError:"), proc.stdout + proc.stderr
    assert "alias bomb" in proc.stdout
    assert str(bomb) in proc.stdout


def test_billion_laughs_in_process_default_budget(tmp_path: Path) -> None:
    letters = "abcdefgh"
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for prev, cur in itertools.pairwise(letters):
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 10) + "]")
    bomb = tmp_path / "laughs8.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="too many nodes"):
        load_documents(bomb, max_nodes=10_000)


def _merge_bomb(levels: int) -> str:
    # every level is defined inside the merge list of the next, so the whole chain is merged
    # ("<<") before any value is built: 2**levels keys from a ~500-byte file
    node = "&l0 {a: 1, b: 2}"
    for i in range(1, levels):
        node = f"&l{i} {{<<: [{node}, *l{i - 1}]}}"
    return f"top: {node}\n"


def test_yaml_merge_key_bomb_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "merge.yaml"
    bomb.write_text(_merge_bomb(27))
    assert bomb.stat().st_size < 1000
    proc = _bounded_load(bomb, 10_000)
    assert proc.stdout.startswith("InputError:"), (proc.returncode, proc.stdout, proc.stderr[-500:])


@pytest.mark.parametrize(
    ("name", "text"),
    [("deep.yaml", "a: " + "[" * 50_000 + "]" * 50_000 + "\n"),
     ("deep.json", '{"a": ' + "[" * 50_000 + "]" * 50_000 + "}\n")],
)
def test_deep_nesting_is_an_input_error(tmp_path: Path, name: str, text: str) -> None:
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(InputError, match="nested too deeply") as info:
        load_documents(f)
    assert info.value.path == str(f)


def test_yaml_nesting_limit_is_edgegates_own(tmp_path: Path) -> None:
    # MAX_DEPTH levels load; one more is refused by edgegate's check, on any PyYAML/libyaml
    # release (libyaml 0.2.6, bundled since PyYAML 6.0.4, stops at 1000 levels with its own error)
    from edgegate.io.documents import MAX_DEPTH

    f = tmp_path / "deep.yaml"
    inner = MAX_DEPTH - 1  # the top-level mapping is one level
    f.write_text('{"a": ' + "[" * inner + "]" * inner + "}\n")
    assert load_documents(f)[0].data["a"] is not None
    f.write_text('{"a": ' + "[" * (inner + 1) + "]" * (inner + 1) + "}\n")
    with pytest.raises(InputError, match="nested too deeply"):
        load_documents(f)


def test_binary_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "model.yaml"
    f.write_bytes(b"kind: x\n\x00\x01\x02\x03")
    with pytest.raises(InputError, match="binary file") as info:
        load_documents(f)
    assert info.value.path == str(f)


def test_non_utf8_is_refused_with_line(tmp_path: Path) -> None:
    f = tmp_path / "latin1.yaml"
    f.write_bytes("a: 1\nb: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(InputError, match="not valid UTF-8") as info:
        load_documents(f)
    assert info.value.line == 2


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    f = tmp_path / "bom.yaml"
    f.write_bytes(b"\xef\xbb\xbfkind: Pod\n")
    assert load_documents(f)[0].data == {"kind": "Pod"}


def test_size_limit(tmp_path: Path) -> None:
    f = tmp_path / "big.yaml"
    f.write_text("a: " + "x" * 2000 + "\n")
    with pytest.raises(InputError, match="larger than") as info:
        load_documents(f, max_bytes=1000)
    assert info.value.path == str(f)
    assert load_documents(f, max_bytes=5000)[0].data["a"] == "x" * 2000
    with pytest.raises(InputError):
        read_bounded(f, 2003)  # one byte short
    assert len(read_bounded(f, 2004)) == 2004


def test_size_limit_message_shows_the_real_limit(tmp_path: Path) -> None:
    f = tmp_path / "big.yaml"
    f.write_text("a: " + "x" * 2000 + "\n")
    with pytest.raises(InputError) as info:
        read_bounded(f, 1000)
    assert "0 MiB" not in info.value.message
    assert "1000 bytes limit" in info.value.message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file") as info:
        load_documents(tmp_path / "nope.yaml")
    assert info.value.path == str(tmp_path / "nope.yaml")
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    with pytest.raises(InputError, match="is a directory"):
        read_text_bounded(folder)


def test_iter_input_files(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ["a.yaml", "b/c.yml", "b/d.json", "b/e.toml", "b/f.txt", ".hidden/g.yaml", "b/.h.yaml"]:
        (tmp_path / name).write_text("{}")
    got = [p.relative_to(tmp_path).as_posix() for p in iter_input_files([tmp_path])]
    # hidden files and folders are inputs, as conftest reads them (a dot does not hide a manifest)
    assert got == [".hidden/g.yaml", "a.yaml", "b/.h.yaml", "b/c.yml", "b/d.json", "b/e.toml"]
    # a file named explicitly is yielded whatever its suffix
    assert list(iter_input_files([tmp_path / "b/f.txt"])) == [tmp_path / "b/f.txt"]
    with pytest.raises(InputError, match="no such file or directory"):
        list(iter_input_files([tmp_path / "missing"]))


def test_directory_with_no_inputs_yields_nothing(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("# hi")
    assert list(iter_input_files([tmp_path])) == []


def test_example_manifest_block_value_points_at_its_key(root_dir: Path) -> None:
    docs = load_documents(root_dir / "examples/edge-app/manifests/batch-embedder.yaml")
    lines = [d.line_of("/spec/template/spec/containers/0/securityContext") for d in docs]
    assert lines == [24]  # 'securityContext:', not 'runAsNonRoot:' on line 25
    assert docs[0].line_of("/spec/template/spec/containers/0") == 21  # the '- name:' item line


MERGES = [
    "base: &b {cpu: 1, x: 0}\nother:\n  <<: *b\n  mem: 2\n  cpu: 5\n",
    "a: &a {k: a, ka: 1}\nb: &b {k: b, kb: 1}\nc: {<<: [*a, *b], z: 1}\nd: {z: 1, <<: [*b, *a]}\n",
    "a: &a {k: a}\nb: &b {k: b}\nc:\n  <<: *a\n  <<: *b\n",
    "a: &a {k: {deep: [1, 2]}}\nc: {<<: {inline: 1, <<: *a}}\n",
    "=: 1\n",
    "d: &d {cpu: 1, mem: {x: [1]}}\na: {<<: *d}\nb: {<<: [*d, *d], cpu: 3}\nc: [{<<: *d}]\n",
]


#: What each of MERGES means under the YAML 1.1 merge-key spec (yaml.org/type/merge.html):
#: explicit keys override merged ones; in ``<<: [a, b]`` a's keys override b's. A mapping with two
#: ``<<`` keys is outside the spec (keys must be unique); edgegate lets the later one override the
#: earlier, as conftest (v0.71.1, ``conftest parse``) and Kubernetes' go-yaml read it. PyYAML
#: changed that case in 6.0.4 (the first wins), so PyYAML is not the reference here.
MERGED = [
    {"base": {"cpu": 1, "x": 0}, "other": {"cpu": 5, "x": 0, "mem": 2}},
    {"a": {"k": "a", "ka": 1}, "b": {"k": "b", "kb": 1},
     "c": {"k": "a", "ka": 1, "kb": 1, "z": 1}, "d": {"k": "b", "ka": 1, "kb": 1, "z": 1}},
    {"a": {"k": "a"}, "b": {"k": "b"}, "c": {"k": "b"}},
    {"a": {"k": {"deep": [1, 2]}}, "c": {"k": {"deep": [1, 2]}, "inline": 1}},
    {"=": 1},
    {"d": {"cpu": 1, "mem": {"x": [1]}}, "a": {"cpu": 1, "mem": {"x": [1]}},
     "b": {"cpu": 3, "mem": {"x": [1]}}, "c": [{"cpu": 1, "mem": {"x": [1]}}]},
]


@pytest.mark.parametrize(("text", "want"), list(zip(MERGES, MERGED, strict=True)))
def test_merge_keys_follow_the_yaml_merge_spec(text: str, want: dict[str, object]) -> None:
    (doc,) = load_yaml_text(text, "m.yaml")
    assert doc.data == want


def test_merged_keys_have_lines_and_bad_merges_are_refused() -> None:
    (doc,) = load_yaml_text(MERGES[1], "m.yaml")
    assert doc.line_of("/c/ka") == 1 and doc.line_of("/c/kb") == 2  # where the merged key is defined
    assert doc.line_of("/c/k") == 1 and doc.line_of("/d/k") == 2  # the winning source's line
    assert doc.line_of("/c") == 3 and doc.line_of("/c/z") == 3
    (reused,) = load_yaml_text(MERGES[-1], "m.yaml")
    assert [reused.line_of(p) for p in ("/a/cpu", "/b/mem", "/b/cpu", "/c/0/mem/x/0")] == [1, 1, 3, 1]
    with pytest.raises(InputError, match="mapping or list of mappings for merging") as info:
        load_yaml_text("ok: 1\nlist: &l [1]\nm: {<<: *l}\n", "bad.yaml")
    assert info.value.line == 2 and info.value.path == "bad.yaml"


@pytest.mark.parametrize("max_nodes", [50_000, 1_000_000])
def test_merge_key_bomb_in_process_names_merge_keys(max_nodes: int) -> None:
    # a source merged again is charged its node count again (not rebuilt): refused after a few
    # levels of work, whatever the budget
    with pytest.raises(InputError, match="merge keys") as info:
        load_yaml_text(_merge_bomb(60), "merge.yaml", max_nodes=max_nodes)
    assert info.value.path == "merge.yaml"
    assert load_yaml_text(_merge_bomb(10), "ok.yaml", max_nodes=max_nodes)[0].data == {"top": {"a": 1, "b": 2}}


def test_load_yaml_text_budget_spans_documents() -> None:
    text = "---\n".join(["a: [1, 2, 3]\n"] * 10)  # 5 nodes a document
    assert len(load_yaml_text(text, "x.yaml", max_nodes=50)) == 10
    with pytest.raises(InputError, match="too many nodes"):
        load_yaml_text(text, "x.yaml", max_nodes=49)


@pytest.mark.parametrize(
    "text",
    ["- " * 5000 + "x\n", "".join(" " * i + f"k{i}:\n" for i in range(3000)) + " " * 3000 + "x: 1\n",
     "a: " + "{b: " * 3000 + "1" + "}" * 3000 + "\n"],
)
def test_deep_block_and_flow_nesting_is_refused_not_crashed(text: str) -> None:
    # libyaml composes recursively in C: this must be refused before it could overflow the stack
    with pytest.raises(InputError, match="nested too deeply"):
        load_yaml_text(text, "deep.yaml")


def test_json_pointer_lines(tmp_path: Path) -> None:
    f = tmp_path / "one.json"
    data = {"kind": "Pod", "a/b": {"t~x": [1, {"q\"k": "v"}]}, "spec": {"containers": [{"name": "x"}]}}
    f.write_text(json.dumps(data, indent=2))
    (doc,) = load_documents(f)
    assert doc.data == data
    text_lines = f.read_text().splitlines()
    assert doc.line == 1
    assert "a/b" in text_lines[doc.line_of("/a~1b") - 1]
    assert "t~x" in text_lines[doc.line_of("/a~1b/t~0x") - 1]
    assert text_lines[doc.line_of("/a~1b/t~0x/0") - 1].strip() == "1,"
    assert '"q\\"k"' in text_lines[doc.line_of("/a~1b/t~0x/1/q\"k") - 1]
    assert '"name"' in text_lines[doc.line_of("/spec/containers/0/name") - 1]
    compact = tmp_path / "compact.json"
    compact.write_text(json.dumps(data))
    assert load_documents(compact)[0].line_of("/spec/containers/0/name") == 1


def test_toml_error_line_is_an_attribute(tmp_path: Path) -> None:
    from edgegate.config import load_config
    from edgegate.errors import ConfigError

    f = tmp_path / "edgegate.toml"
    f.write_text("[policy]\nx = 1\ny = \n")
    with pytest.raises(InputError) as info:
        load_documents(f)
    assert info.value.line == 3 and "column" in info.value.message and "at line" not in info.value.message
    with pytest.raises(ConfigError) as cinfo:
        load_config(f)
    assert cinfo.value.line == 3
    assert str(cinfo.value).startswith(f"{f}:3: malformed TOML")


def test_size_limit_message_sizes() -> None:
    assert human_size(1000) == "1000 bytes"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(32 * 1024 * 1024) == "32 MiB"
    assert human_size(3 * 1024**3) == "3 GiB"
