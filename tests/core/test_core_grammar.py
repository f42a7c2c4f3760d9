"""docs/cli.md's grammar, checked over every command of the Typer app (and the behaviour behind
each rule: env vars, colour, quiet, did-you-mean)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from edgegate._grammar import COMMON, iter_commands
from edgegate.cli import app

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
TREE = typer.main.get_command(app)
COMMANDS: list[tuple[tuple[str, ...], Any]] = list(iter_commands(TREE))
IDS = [" ".join(words) for words, _ in COMMANDS]
#: The commands docs/cli.md says read the config (its table, column 2).
READS_CONFIG = {
    m.group(1) for m in re.finditer(r"^\| `edgegate ([a-z -]+)` \| yes", DOC, re.M)
}


def _options(command: Any) -> list[Any]:
    return [p for p in command.params if getattr(p, "opts", None) and p.param_type_name == "option"]


def _by_name(command: Any) -> dict[str, Any]:
    return {o: p for p in _options(command) for o in p.opts}


def test_the_tree_has_the_commands_we_expect() -> None:
    assert len(COMMANDS) >= 19
    assert {"check", "init", "precommit", "sbom image", "vuln db build", "verify artifact"} <= set(IDS)


def test_docs_cli_md_covers_every_command() -> None:
    documented = set(re.findall(r"^\| `edgegate ([a-z -]+)` \|", DOC, re.M))
    assert documented >= set(IDS), sorted(set(IDS) - documented)
    assert documented - {"sbom image/model/python"} <= set(IDS) | {"sign", "cost rightsize"}


@pytest.mark.parametrize(("words", "command"), COMMANDS, ids=IDS)
def test_every_command_follows_the_grammar(words: tuple[str, ...], command: Any) -> None:
    opts = _by_name(command)
    # common options
    for name in ("--version", "-V", "--quiet", "-q", "--no-color"):
        assert name in opts, f"{' '.join(words)} lacks {name}"
    ctx = command.make_context(" ".join(words), ["--help"], resilient_parsing=True)
    assert set(ctx.help_option_names) == {"-h", "--help"}
    # -f/-o are the report, and only the report
    if "-o" in opts or "--output" in opts:
        assert opts["-o"] is opts["--output"] and opts["-o"].name == "output"
        assert "report" in (opts["-o"].help or "")
    if "-f" in opts or "--format" in opts:
        assert opts["-f"] is opts["--format"] and opts["-f"].name == "fmt"
        assert "--output" in opts, "a command that writes a report takes -o too"
    # --config where the config is read
    if " ".join(words) in READS_CONFIG:
        assert opts.get("--config") is not None and opts.get("-c") is opts["--config"]
    # EDGEGATE_<NAME> on every visible option (not on --help / --version)
    for p in _options(command):
        if p.hidden or p.name in ("help", "version"):
            continue
        assert p.envvar, f"{p.opts} has no environment variable"
        long = next(o for o in p.opts if o.startswith("--"))
        base = "EDGEGATE_" + long[2:].upper().replace("-", "_")
        assert p.envvar == base or (p.is_flag and p.envvar == f"EDGEGATE_{words[0].upper()}_{base[9:]}"), p.envvar
    # readable help: no Python types, no {braces}
    text = command.get_help(ctx)
    assert not re.search(r"<(list|str|int|float|path|bool)\b|\{\w+\}|list\[", text, re.I), text


def test_one_env_name_means_one_kind_of_option() -> None:
    kinds: dict[str, set[bool]] = {}
    for _, command in COMMANDS:
        for p in _options(command):
            if p.envvar and isinstance(p.envvar, str):
                kinds.setdefault(p.envvar, set()).add(bool(p.is_flag))
    assert {k: v for k, v in kinds.items() if len(v) > 1} == {}


def test_common_options_are_not_a_gate_option() -> None:
    assert set(COMMON) == {"version", "quiet", "no_color"}


def test_docs_list_every_command_that_reads_config() -> None:
    assert {"check", "precommit", "vuln scan", "vuln db info", "cost estimate", "cost rightsize", "admit admit", "policy lint"} == READS_CONFIG


def test_version_and_short_help_everywhere(cli) -> None:
    for words in (["-V"], ["check", "-V"], ["vuln", "db", "build", "-V"], ["sign", "-V"]):
        r = cli(*words)
        assert r.exit_code == 0 and r.stdout.startswith("edgegate "), words
    for words in (["-h"], ["policy", "-h"], ["vuln", "db", "-h"], ["verify", "-h"], ["cost", "estimate", "-h"]):
        r = cli(*words)
        assert r.exit_code == 0 and "Usage:" in r.stdout, words


def _repo(tmp_path: Path) -> Path:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "web.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n"
        "      containers: [{name: web, image: 'nginx:latest'}]\n"
    )
    (tmp_path / "edgegate.toml").write_text('[policy]\npaths = ["deploy"]\nrules = ["builtin:edge-ai"]\n')
    return tmp_path


def test_every_option_settable_from_the_environment(cli, tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    r = cli("check", repo, env={"EDGEGATE_FORMAT": "json"})
    assert r.exit_code == 1 and json.loads(r.stdout)["exit_code"] == 1
    out = tmp_path / "r.sarif"
    r = cli("check", repo, env={"EDGEGATE_FORMAT": "sarif", "EDGEGATE_OUTPUT": str(out)})
    assert r.exit_code == 1 and json.loads(out.read_text())["version"] == "2.1.0"
    # the command line wins
    r = cli("check", repo, "-f", "json", env={"EDGEGATE_FORMAT": "junit"})
    assert json.loads(r.stdout)["exit_code"] == 1
    # a repeatable option takes a space-separated list; an unknown gate from the env is refused too
    r = cli("check", repo, "-f", "json", env={"EDGEGATE_GATE": "policy"})
    assert [g["gate"] for g in json.loads(r.stdout)["gates"]] == ["policy"]
    r = cli("check", repo, env={"EDGEGATE_GATE": "polcy"})
    assert r.exit_code == 2 and "did you mean 'policy'" in r.stderr


def test_no_color_beats_force_color(cli_subprocess, tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    forced = cli_subprocess("check", repo, env={**base, "FORCE_COLOR": "1"})
    assert "\x1b[" in forced.stdout  # FORCE_COLOR colours a pipe
    both = cli_subprocess("check", repo, env={**base, "FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert both.exit_code == 1 and "\x1b[" not in both.stdout and "EGP001" in both.stdout
    flag = cli_subprocess("check", repo, "--no-color", env={**base, "FORCE_COLOR": "1"})
    assert flag.exit_code == 1 and "\x1b[" not in flag.stdout


def test_quiet_silences_warnings_not_errors(cli, tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (repo / "edgegate.toml").write_text('[cost]\npaths = ["deploy"]\nmax_monthly = 1000\n')
    loud = cli("check", repo, "-f", "json")
    assert loud.exit_code in (0, 1) and "'cost.max_monthly' is deprecated; write 'cost.max-monthly'" in loud.stderr
    quiet = cli("check", repo, "-f", "json", "--quiet")
    assert quiet.exit_code == loud.exit_code and quiet.stderr == ""
    bad = cli("check", repo / "missing", "--quiet")
    assert bad.exit_code == 2 and "no such file or directory" in bad.stderr


def test_old_and_new_key_spelling_together_is_an_error(cli, tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (repo / "edgegate.toml").write_text('[cost]\npaths = ["deploy"]\nmax_monthly = 1\nmax-monthly = 2\n')
    r = cli("check", repo)
    assert r.exit_code == 2 and "same key" in r.stderr


def test_did_you_mean(cli, tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    r = cli("check", repo, "-f", "jsn")
    assert r.exit_code == 2 and "did you mean 'json'" in r.stderr
    r = cli("check", repo, "-g", "model-scn")
    assert r.exit_code == 2 and "did you mean 'model-scan'" in r.stderr
    (repo / "edgegate.toml").write_text('[policy]\npaths = ["deploy"]\nfail-onn = "high"\n')
    r = cli("check", repo)
    assert r.exit_code == 2 and "did you mean 'fail-on'" in r.stderr
    r = cli("chek")
    assert r.exit_code == 2 and "check" in r.stderr


def test_output_that_is_a_format_name_is_refused(cli, tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    r = cli("check", repo, "-o", "json", cwd=tmp_path)
    assert r.exit_code == 2 and "--format json" in r.stderr
    assert not (tmp_path / "json").exists()
    r = cli("check", repo, "-o", "./json", cwd=tmp_path)
    assert r.exit_code == 1 and (tmp_path / "json").is_file()


def test_gate_model_scan_is_accepted(cli, root_dir: Path) -> None:
    r = cli("check", root_dir / "examples" / "edge-app", "--gate", "model-scan", "-f", "json", cwd=root_dir)
    assert r.exit_code == 0, r.stderr
    assert [g["gate"] for g in json.loads(r.stdout)["gates"]] == ["model-scan"]


def test_ambiguous_flag_names_are_the_trees() -> None:
    """`AMBIGUOUS_FLAGS` is fixed (the gates' sub-apps are built lazily): it must be what the
    whole tree says, the option names that are a flag somewhere and take a value elsewhere."""
    from edgegate._grammar import AMBIGUOUS_FLAGS, FLAG_KINDS

    assert COMMANDS  # the whole tree is built, so every command's options are recorded
    assert len(FLAG_KINDS) > 40
    assert {name for name, kinds in FLAG_KINDS.items() if len(kinds) > 1} == AMBIGUOUS_FLAGS


def test_a_command_builds_only_its_own_gate() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "sys.argv = ['edgegate', 'sign', '--help']\n"
        "from edgegate.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.endswith('.cli') and m.startswith('edgegate.')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Usage: edgegate sign" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "['edgegate.cli', 'edgegate.sign.cli']"
