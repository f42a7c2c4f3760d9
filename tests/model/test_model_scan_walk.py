"""Folder walks of the model scan: hidden entries are scanned, symlinked folders are followed
inside the folder scanned (once, cycles end) and are an error when they lead outside it, and
everything not scanned is counted and listed."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from edgegate.findings import Status
from edgegate.model.scan import scan_paths


def _evil_pickle() -> bytes:
    """Protocol 4: STACK_GLOBAL('builtins', 'getattr') called."""
    return b"\x80\x04\x8c\x08builtins\x8c\x07getattr\x93\x8c\x01x\x8c\x01y\x86R."


@pytest.mark.parametrize("rel", [".cache/evil.pkl", ".evil.pkl", "sub/.gitx/evil.pkl"])
def test_hidden_files_and_folders_are_scanned(tmp_path: Path, rel: str) -> None:
    # a Hugging Face model folder has .cache/; pickle.load / torch.load open any path they are given
    root = tmp_path / "model"
    (root / rel).parent.mkdir(parents=True)
    (root / rel).write_bytes(_evil_pickle())
    (root / "ok.pkl").write_bytes(pickle.dumps({"w": 1}))
    result = scan_paths([root])
    assert result.status is Status.FAILED
    assert {f.location.path for f in result.findings if f.rule_id == "EGM001"} == {str(root / rel)}


def test_a_git_folder_is_listed_as_skipped_not_walked(tmp_path: Path) -> None:
    # no loader reads .git; a Hugging Face clone keeps each LFS weight there a second time
    root = tmp_path / "model"
    (root / ".git" / "lfs" / "objects").mkdir(parents=True)
    (root / ".git" / "lfs" / "objects" / "copy").write_bytes(pickle.dumps({"w": 1}))
    (root / "ok.pkl").write_bytes(pickle.dumps({"w": 1}))
    result = scan_paths([root])
    assert result.status is Status.PASSED
    skipped = next(tb for tb in result.stats["tables"] if tb["title"] == "skipped files")
    assert [row[0] for row in skipped["rows"]] == [str(root / ".git")]
    named = scan_paths([root / ".git" / "lfs" / "objects" / "copy"])  # named: scanned like any file
    assert named.status is Status.PASSED and named.stats["pickles"] == 1


def test_symlinked_folder_inside_the_root_is_followed_once(tmp_path: Path) -> None:
    root = tmp_path / "model"
    (root / "real").mkdir(parents=True)
    (root / "real" / "evil.pkl").write_bytes(_evil_pickle())
    (root / "linked").symlink_to("real", target_is_directory=True)
    (root / "real" / "loop").symlink_to("..", target_is_directory=True)  # a cycle: no hang
    result = scan_paths([root])
    assert result.status is Status.FAILED
    # found once, under its own path; the link and the loop are listed as skipped
    assert [f.location.path for f in result.findings if f.rule_id == "EGM001"] == [str(root / "real" / "evil.pkl")]
    skipped = next(tb for tb in result.stats["tables"] if tb["title"] == "skipped files")
    assert sorted(row[0] for row in skipped["rows"]) == [str(root / "linked"), str(root / "real" / "loop")]
    # a link to a sibling folder: that folder is scanned (under its own path), the link listed
    deep = tmp_path / "deep"
    (deep / "a").mkdir(parents=True)
    (deep / "a" / "hop").symlink_to("../b", target_is_directory=True)
    (deep / "b").mkdir()
    (deep / "b" / "evil.pkl").write_bytes(_evil_pickle())
    assert scan_paths([deep]).status is Status.FAILED


def test_symlinked_folder_leaving_the_root_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "evil.pkl").write_bytes(_evil_pickle())
    root = tmp_path / "models"
    root.mkdir()
    (root / "ok.pkl").write_bytes(pickle.dumps({"w": 1}))
    (root / "linked").symlink_to("../other", target_is_directory=True)
    result = scan_paths([root])
    assert result.status is Status.ERROR
    assert any(str(root / "linked") in e for e in result.errors)


def test_files_skipped_in_a_walk_are_counted_and_listed(tmp_path: Path) -> None:
    import os

    root = tmp_path / "model"
    root.mkdir()
    (root / "ok.pkl").write_bytes(pickle.dumps({"w": 1}))
    (root / "README.md").write_text("# model\n")
    os.mkfifo(root / "pipe")
    (root / "dangling").symlink_to(tmp_path / "missing")
    result = scan_paths([root])
    assert result.status is Status.PASSED
    skipped = next(tb for tb in result.stats["tables"] if tb["title"] == "skipped files")
    assert sorted(row[0] for row in skipped["rows"]) == sorted(str(root / n) for n in ("README.md", "pipe", "dangling"))
    assert result.stats["skipped"] == 3


def test_symlinked_file_leaving_the_root_is_an_error_naming_it_and_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_bytes(b"SECRET=hunter2\n")
    outside_pickle = tmp_path / "outside.pkl"
    outside_pickle.write_bytes(b"root:x:0:0:root:/root:/bin/sh\n")
    root = tmp_path / "model"
    root.mkdir()
    (root / "ok.pkl").write_bytes(pickle.dumps({"w": 1}))
    (root / "env.json").symlink_to(secret)
    (root / "p.pkl").symlink_to(outside_pickle)
    (root / "up.pkl").symlink_to("../outside.pkl")
    result = scan_paths([root])
    assert result.status is Status.ERROR
    for name in ("env.json", "p.pkl", "up.pkl"):
        assert any(e.startswith(str(root / name)) for e in result.errors), result.errors
    # nothing of the targets' bytes anywhere in the result (skip reasons, errors, rows)
    text = repr(result.errors) + repr(result.stats) + repr([f.message for f in result.findings])
    for leak in (b"SECRET=hu".hex()[:16], "SECRET", "root:x", b"root:x:0".hex()[:16]):
        assert leak not in text


def test_symlinked_file_inside_the_root_is_scanned(tmp_path: Path) -> None:
    root = tmp_path / "model"
    (root / "real").mkdir(parents=True)
    (root / "real" / "evil.bin").write_bytes(_evil_pickle())
    (root / "weights.pkl").symlink_to("real/evil.bin")
    result = scan_paths([root])
    assert result.status is Status.FAILED
    assert str(root / "weights.pkl") in {f.location.path for f in result.findings if f.rule_id == "EGM001"}


def test_a_named_symlink_is_scanned_without_quoting_its_target_bytes(tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere" / "secret.txt"
    secret.parent.mkdir()
    secret.write_bytes(b"SECRET=hunter2\n")
    for name in ("model.bin", "notes.txt"):  # read as a pickle; not a model format
        link = tmp_path / name
        link.symlink_to(secret)
        result = scan_paths([link])
        assert result.status is Status.ERROR
        assert any(e.startswith(str(link)) for e in result.errors)
        assert b"SECRET=hu".hex()[:16] not in repr(result.errors) and "ECRET" not in repr(result.errors)
