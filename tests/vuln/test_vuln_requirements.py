"""Requirements files read as pip reads them: every spelling of ``-r``/``-c``/``-e`` pip accepts,
the options pip skips, and what pip refuses (or would drop) an input error naming the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgegate.errors import InputError
from edgegate.vuln.requirements import read_python_path


def _project(tmp_path: Path, text: str) -> Path:
    (tmp_path / "edgegate.toml").write_text("")
    (tmp_path / "inc.txt").write_text("jinja2==2.10\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.txt").write_text("six==1.16.0\n")
    req = tmp_path / "requirements.txt"
    req.write_text(text)
    return req


def _names(path: Path) -> set[tuple[str, bool]]:
    return {(c.key, c.problem is None) for c in read_python_path(path, path.name)}


@pytest.mark.parametrize("line", [
    "-rinc.txt", "-cinc.txt", "-r inc.txt", "-r\tinc.txt", "--requirement=inc.txt", "--requirement inc.txt",
    "--constraint=inc.txt", "-c inc.txt", "--requirem=inc.txt", '-r "inc.txt"', "--index-url https://x/simple -rinc.txt",
])
def test_every_include_spelling_pip_accepts_is_followed(line: str, tmp_path: Path) -> None:
    assert _names(_project(tmp_path, f"{line}\nurllib3==2.0.3\n")) == {("jinja2", True), ("urllib3", True)}


def test_several_includes_on_one_line_are_all_followed(tmp_path: Path) -> None:
    req = _project(tmp_path, "-rinc.txt -c sub/more.txt\n")
    assert _names(req) == {("jinja2", True), ("six", True)}


@pytest.mark.parametrize("line", ["-e ./pkg", "-e./pkg", "--editable=./pkg", "--editable ./pkg"])
def test_editables_in_every_spelling_are_not_checked(line: str, tmp_path: Path) -> None:
    [comp] = read_python_path(_project(tmp_path, line + "\n"), "requirements.txt")
    assert comp.problem is not None


@pytest.mark.parametrize("line", [
    "-i https://x/simple", "--index-url=https://x/simple", "--extra-index-url https://y", "--no-index",
    "-f ./wheels", "--find-links=./wheels", "--trusted-host x", "--pre", "--prefer-binary",
    "--only-binary :all:", "--no-binary=:none:", "--require-hashes", "--hash=sha256:abcd",
])
def test_options_pip_skips_are_skipped(line: str, tmp_path: Path) -> None:
    assert _names(_project(tmp_path, f"{line}\nurllib3==2.0.3 --hash=sha256:abcd\n")) == {("urllib3", True)}


@pytest.mark.parametrize("line", [
    "--frobnicate", "-x foo", "--index-url", "-r", "--no", "--req=inc.txt", "urllib3==2.0.3 --bogus",
    "--index-url https://x jinja2==2.10", "-r 'inc.txt", "urllib3==2.0.3 --hash=sha256:abcd jinja2==2.10",
])
def test_what_pip_refuses_or_drops_is_an_input_error_on_its_line(line: str, tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        read_python_path(_project(tmp_path, f"six==1.16.0\n{line}\n"), "requirements.txt")
    assert (err.value.path, err.value.line) == ("requirements.txt", 2)


def test_an_unknown_option_exits_2_on_the_command_line(cli, tmp_path: Path) -> None:
    out = cli("vuln", "scan", _project(tmp_path, "-Xinc.txt\n"), "--db", tmp_path, "--no-config")
    assert out.exit_code == 2
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1
