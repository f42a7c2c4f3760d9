"""Passphrases as cosign asks for them: on a terminal a prompt (twice for a new key), otherwise
EDGEGATE_KEY_PASSWORD. The terminal is a real pseudo-terminal (pty.fork), not a mock."""

from __future__ import annotations

import os
import select
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("EDGEGATE_KEY_PASSWORD", "CI", "GITHUB_ACTIONS")}
    env["NO_COLOR"] = "1"
    return env


def _on_a_terminal(args: list[str], answers: list[str], cwd: Path, timeout: float = 60) -> tuple[int, str]:
    """Run `python -m edgegate ARGS` with a pty as its terminal, typing `answers` at each prompt."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(cwd)
        os.execve(sys.executable, [sys.executable, "-m", "edgegate", *args], _env())
    out = b""
    pending = list(answers)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if pending and out.rstrip().endswith(b":"):
                time.sleep(0.5)  # getpass turns echo off with TCSAFLUSH, which drops earlier input
                os.write(fd, pending.pop(0).encode() + b"\n")
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_keygen_asks_twice_and_sign_asks_once(tmp_path: Path) -> None:
    code, out = _on_a_terminal(["sign", "keygen"], ["s3cret-pass", "s3cret-pass"], tmp_path)
    assert code == 0, out
    assert out.count("Enter passphrase") == 2 and "wrote edgegate.key" in out
    assert b"ENCRYPTED" in (tmp_path / "edgegate.key").read_bytes()
    (tmp_path / "model.bin").write_bytes(b"weights")
    code, out = _on_a_terminal(["sign", "model.bin", "--key", "edgegate.key", "--no-progress"], ["s3cret-pass"],
                               tmp_path)
    assert code == 0, out
    assert out.count("Enter passphrase") == 1
    assert (tmp_path / "model.bin.sigstore.json").is_file()
    # the wrong passphrase is exit 2, one line
    code, out = _on_a_terminal(["sign", "model.bin", "--key", "edgegate.key", "--no-progress",
                                "--bundle", "x.json"], ["wrong"], tmp_path)
    assert code == 2 and "wrong passphrase" in out and "Traceback" not in out
    assert not (tmp_path / "x.json").exists()


def test_keygen_refuses_two_different_passphrases(tmp_path: Path) -> None:
    code, out = _on_a_terminal(["sign", "keygen"], ["one-pass", "other-pass"], tmp_path)
    assert code == 2 and "differ" in out
    assert not (tmp_path / "edgegate.key").exists()


def test_without_a_terminal_the_environment_variable(cli_subprocess, tmp_path: Path) -> None:
    r = cli_subprocess("sign", "keygen", cwd=tmp_path, env=_env())
    assert r.exit_code == 2 and "EDGEGATE_KEY_PASSWORD" in r.stderr
    r = cli_subprocess("sign", "keygen", cwd=tmp_path, env={**_env(), "EDGEGATE_KEY_PASSWORD": "env-pass"})
    assert r.exit_code == 0, r.stderr
    (tmp_path / "a.txt").write_text("a")
    r = cli_subprocess("sign", "a.txt", "--key", "edgegate.key", cwd=tmp_path, env=_env())
    assert r.exit_code == 2 and "EDGEGATE_KEY_PASSWORD is not set" in r.stderr
    r = cli_subprocess("sign", "a.txt", "--key", "edgegate.key", cwd=tmp_path,
                       env={**_env(), "EDGEGATE_KEY_PASSWORD": "env-pass"})
    assert r.exit_code == 0, r.stderr
