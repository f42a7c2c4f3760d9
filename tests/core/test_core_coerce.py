"""`edgegate._coerce`: option values of plain types converted without pydantic give what typer's
own (pydantic) conversion gives, values and errors alike."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional, get_origin

import pytest
import typer
import typer.main
from typer._coercion import build_runtime_param

from edgegate._coerce import _Plain, install_command


def _app() -> typer.Typer:
    app = typer.Typer(add_completion=False)

    @app.command()
    def cmd(
        path: Annotated[Path, typer.Argument()],
        name: Annotated[str, typer.Option("--name")] = "d",
        flag: Annotated[bool, typer.Option("--flag", envvar="T_FLAG")] = False,
        n: Annotated[int, typer.Option("--n")] = 3,
        x: Annotated[float, typer.Option("--x")] = 1.5,
        items: Annotated[Optional[list[str]], typer.Option("--item")] = None,  # noqa: UP045
        paths: Annotated[Optional[list[Path]], typer.Option("--p")] = None,  # noqa: UP045
        existing: Annotated[Optional[Path], typer.Option("--existing", exists=True, dir_okay=False)] = None,  # noqa: UP045
        resolved: Annotated[Optional[Path], typer.Option("--resolved", resolve_path=True)] = None,  # noqa: UP045
        count: Annotated[int, typer.Option("--count", min=0, max=5)] = 1,
        tri: Annotated[Optional[bool], typer.Option("--tri/--no-tri")] = None,  # noqa: UP045
    ) -> Any:
        return {k: (type(v).__name__, v) for k, v in locals().items()}

    return app


def _run(command: Any, args: list[str]) -> Any:
    try:
        return "ok", command.main(args=args, prog_name="t", standalone_mode=False)
    except Exception as exc:
        return type(exc).__name__, str(exc)


CASES = [
    ["a"],
    [""],
    ["-"],
    ["é x", "--name", "", "--name", "b c"],
    ["a", "--flag", "--tri"],
    ["a", "--no-tri", "--n", "4", "--x", "2"],
    ["a", "--n", "four"],
    ["a", "--n", " 7 "],
    ["a", "--count", "9"],
    ["a", "--count", "2"],
    ["a", "--item", "x", "--item", "", "--p", "q", "--p", "r/s"],
    ["a", "--existing", "missing-file"],
    ["a", "--existing", "."],
    ["a", "--existing", "present.txt", "--resolved", "sub/../y"],
]


@pytest.mark.parametrize("args", CASES)
def test_same_values_and_errors_as_typer(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "present.txt").write_text("x")
    plain = typer.main.get_command(_app())
    fast = typer.main.get_command(_app())
    install_command(fast)
    assert sum(isinstance(p._runtime_param, _Plain) for p in fast.params) >= 8  # type: ignore[attr-defined]
    assert _run(fast, args) == _run(plain, args)


def test_environment_values_go_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_FLAG", "yes")
    plain = typer.main.get_command(_app())
    fast = typer.main.get_command(_app())
    install_command(fast)
    ours = _run(fast, ["a"])
    assert ours == _run(plain, ["a"]) and ours[1]["flag"] == ("bool", True)


SAMPLES: dict[str, list[Any]] = {
    "str": ["", "x", "-", "a b", "é"],
    "Path": ["", "x", "-", "dir/file.json", "é"],
    "bool": [True, False],
    "int": [0, 3],
    "float": [0.5, 2.0],
    "list[str]": [[], ["a", ""], ("x", "y")],
    "list[Path]": [[], ["a", "b/c"], ("x",)],
}


def test_every_edgegate_parameter_converts_as_typer_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every parameter of the real command tree that got the pydantic-free conversion: the same
    result as typer's own runtime parameter for values of its type."""
    from edgegate._grammar import iter_commands
    from edgegate.cli import app

    monkeypatch.chdir(tmp_path)
    root = typer.main.get_command(app)
    checked = 0
    for _, command in iter_commands(root):
        for param in command.params:
            runtime = param._runtime_param
            if not isinstance(runtime, _Plain):
                continue
            ann = runtime.annotation
            name = (str(ann) if get_origin(ann) else ann.__name__).replace("pathlib.", "")
            typer_param = build_runtime_param(param.type_descriptor)
            for value in SAMPLES[name]:
                assert runtime._coerce_value(value, param, None) == typer_param._coerce_value(value, param, None)
                checked += 1
    assert checked > 300
