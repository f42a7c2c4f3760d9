"""Folders among the inputs are walked as conftest walks them: hidden files and folders are
inputs, symlinked folders are followed (once), nothing is skipped silently. Held to the real
conftest where both read the same files; where edgegate refuses (a symlink out of the project,
a broken one) the divergence is a test of its own."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from _conftest_oracle import Verdict, run_conftest, run_edgegate
from _files import write_files

from edgegate.errors import InputError
from edgegate.io.documents import iter_input_files

POLICY = 'package main\nimport rego.v1\ndeny contains sprintf("deny %s", [input.metadata.name]) if input.kind == "Deployment"\n'


def _deployment(name: str) -> str:
    return f"kind: Deployment\nmetadata: {{name: {name}}}\n"


def _project(tmp_path: Path) -> Path:
    """A project folder (a `.git` marks its root) with the policy and a plain, passing input."""
    (tmp_path / ".git").mkdir(parents=True)
    write_files(tmp_path, {
        "policy/p.rego": POLICY,
        "in/cm.yaml": "kind: ConfigMap\nmetadata: {name: cm}\n",
    })
    return tmp_path


def _agree(cli: Any, conftest_bin: str, root: Path, args: list[str]) -> Verdict:
    want = run_conftest(conftest_bin, args, root)
    got, stderr = run_edgegate(cli, args, root)
    assert got == want, f"edgegate {got} != conftest {want}: {stderr}"
    return want


def test_hidden_files_and_folders_are_inputs_as_in_conftest(cli, conftest_bin: str, tmp_path: Path) -> None:
    root = _project(tmp_path)
    write_files(root, {"in/.hidden.yaml": _deployment("hidden"), "in/.k8s/d.yaml": _deployment("in-dot-folder")})
    want = _agree(cli, conftest_bin, root, ["-p", "policy", "in"])
    assert want.status == "fail"
    assert dict(want.failures) == {"deny hidden": 1, "deny in-dot-folder": 1}


def test_symlinked_folders_are_followed_once_as_in_conftest(cli, conftest_bin: str, tmp_path: Path) -> None:
    root = _project(tmp_path)
    write_files(root, {"real/d.yaml": _deployment("linked")})
    (root / "in" / "link").symlink_to("../real")
    (root / "in" / "loop").symlink_to(".")  # a loop: walked once, never forever
    want = _agree(cli, conftest_bin, root, ["-p", "policy", "in"])
    assert dict(want.failures) == {"deny linked": 1}


def test_a_symlinked_file_is_an_input_as_in_conftest(cli, conftest_bin: str, tmp_path: Path) -> None:
    root = _project(tmp_path)
    write_files(root, {"real/d.yaml": _deployment("file-link")})
    (root / "in" / "d.yaml").symlink_to("../real/d.yaml")
    want = _agree(cli, conftest_bin, root, ["-p", "policy", "in"])
    assert dict(want.failures) == {"deny file-link": 1}


def test_a_broken_symlink_is_an_error_as_in_conftest(cli, conftest_bin: str, tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "in" / "gone.yaml").symlink_to("../nowhere.yaml")
    assert _agree(cli, conftest_bin, root, ["-p", "policy", "in"]).status == "error"


def test_divergence_a_symlink_out_of_the_project_is_refused(cli, conftest_bin: str, tmp_path: Path) -> None:
    # conftest follows it and reads the files there; in a pull request the link is the author's,
    # so edgegate refuses to read outside the project (exit 2, the link named).
    outside = tmp_path / "outside"
    write_files(outside, {"d.yaml": _deployment("outside")})
    root = _project(tmp_path / "project")
    (root / "in" / "out").symlink_to(outside)
    assert run_conftest(conftest_bin, ["-p", "policy", "in"], root).status == "fail"
    r = cli("policy", "lint", "-p", "policy", "in", cwd=root)
    assert r.exit_code == 2
    assert "in/out" in r.stderr and "Traceback" not in r.stderr


def test_the_walk_skips_only_git_folders(tmp_path: Path) -> None:
    root = _project(tmp_path)
    write_files(root, {"in/.git/x.yaml": "a: 1\n", "in/.github/w.yml": "a: 1\n", "in/sub/.x/y.json": "{}"})
    os.mkfifo(root / "in" / "pipe.yaml")  # yielded: the reader refuses it by name, it is not skipped
    got = [p.relative_to(root / "in").as_posix() for p in iter_input_files([root / "in"])]
    assert got == [".github/w.yml", "cm.yaml", "pipe.yaml", "sub/.x/y.json"]


def test_a_fifo_in_a_folder_is_refused_not_skipped(cli, tmp_path: Path) -> None:
    root = _project(tmp_path)
    os.mkfifo(root / "in" / "pipe.yaml")
    r = cli("policy", "lint", "-p", "policy", "in", cwd=root)
    assert r.exit_code == 2
    assert "pipe.yaml" in r.stderr


@pytest.mark.parametrize("where", ["file", "folder"])
def test_links_out_of_the_project_are_input_errors(tmp_path: Path, where: str) -> None:
    outside = tmp_path / "outside"
    write_files(outside, {"d.yaml": "a: 1\n"})
    root = _project(tmp_path / "project")
    (root / "in" / "x.yaml" if where == "file" else root / "in" / "x").symlink_to(
        outside / "d.yaml" if where == "file" else outside)
    with pytest.raises(InputError):
        list(iter_input_files([root / "in"]))


def test_a_linked_file_counts_by_its_targets_name_as_in_conftest(cli, conftest_bin: str, tmp_path: Path) -> None:
    # conftest reads a link by its real path: `current` -> d.yaml is an input, `x.yaml` -> notes.txt
    # is not; a link out of the project to a file that is no input (a venv's bin/python) is no error
    root = _project(tmp_path)
    write_files(root, {"real/d.yaml": _deployment("by-target"), "real/notes.txt": "kind: [not yaml\n"})
    (root / "in" / "current").symlink_to("../real/d.yaml")
    (root / "in" / "x.yaml").symlink_to("../real/notes.txt")
    (root / "in" / "python").symlink_to(os.path.realpath(os.sys.executable))
    want = _agree(cli, conftest_bin, root, ["-p", "policy", "in"])
    assert dict(want.failures) == {"deny by-target": 1}


def test_a_named_folder_that_is_a_link_out_of_the_project_is_refused(cli, tmp_path: Path) -> None:
    # a re-review: a committed `m -> ../outside` named on the command line was read in full
    # (the project folder was found from the link's target), and cost lost the project's config
    outside = tmp_path / "outside"
    write_files(outside, {"big.yaml": _deployment("outside")})
    root = _project(tmp_path / "project")
    (root / "edgegate.toml").write_text('[cost]\npaths = ["m"]\nmax-monthly = 1\n')
    (root / "m").symlink_to(outside)
    for args in (["policy", "lint", "-p", "policy", "m"], ["cost", "estimate", "m"]):
        r = cli(*args, cwd=root)
        assert r.exit_code == 2, args
        assert "m" in r.stderr and "Traceback" not in r.stderr
    from edgegate.config import find_config

    assert find_config(root / "m") == (root / "edgegate.toml").resolve()  # found from where it is named


def test_a_very_deep_folder_tree_is_walked_without_recursion(tmp_path: Path) -> None:
    root = _project(tmp_path)
    deep = root / "in"
    for _ in range(1100):  # past Python's recursion limit (1000), inside PATH_MAX; made level by level
        deep = deep / "d"
        deep.mkdir()
    (deep / "x.yaml").write_text("a: 1\n")
    try:
        got = list(iter_input_files([root / "in"]))
        assert got[-1].name == "x.yaml" and len(got) == 2
    finally:  # pytest's own clean-up (shutil.rmtree) recurses once per level
        (deep / "x.yaml").unlink()
        while deep != root / "in":
            deep.rmdir()
            deep = deep.parent


def test_a_named_file_that_is_a_link_out_of_the_project_is_refused(cli, tmp_path: Path) -> None:
    # a review: `policy lint deploy/cred.yaml` (a PR turned it into a link) read and quoted the target
    outside = tmp_path / "outside"
    write_files(outside, {"cred.yaml": "image: SECRET\n"})
    root = _project(tmp_path / "project")
    (root / "in" / "cred.yaml").symlink_to(outside / "cred.yaml")
    r = cli("policy", "lint", "-p", "policy", "in/cred.yaml", cwd=root)
    assert r.exit_code == 2 and "SECRET" not in r.stdout + r.stderr
