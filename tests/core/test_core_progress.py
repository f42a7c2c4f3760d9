"""`edgegate check`'s one display on stderr: plain lines in logs and pipes, a transient rich
display on a terminal (a real pseudo-terminal here), nothing with --quiet; the signature
gate's hashing joins it instead of opening a second live display."""

from __future__ import annotations

import json
import os
import select
import shutil
import sys
import time
from pathlib import Path

import pytest


def test_plain_lines_in_a_log(cli_subprocess, root_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("EDGEGATE_QUIET",)}
    r = cli_subprocess("check", "examples/edge-app", "-g", "policy", "-g", "verify", "-f", "json",
                       cwd=root_dir, env=env)
    assert r.exit_code == 1, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("edgegate: gate ")]
    assert lines[0] == "edgegate: gate policy ..." and lines[1].startswith("edgegate: gate policy done (")
    assert lines[2] == "edgegate: gate verify ..." and lines[3].startswith("edgegate: gate verify done (")
    assert json.loads(r.stdout)["exit_code"] == 1  # stdout is the report alone
    quiet = cli_subprocess("check", "examples/edge-app", "-g", "policy", "-f", "json", "--quiet",
                           cwd=root_dir, env=env)
    assert quiet.exit_code == 1 and "edgegate: gate" not in quiet.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_one_transient_display_on_a_terminal(root_dir: Path, tmp_path: Path) -> None:
    import pty

    app = tmp_path / "edge-app"
    shutil.copytree(root_dir / "examples" / "edge-app", app)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS", "EDGEGATE_QUIET")}
    env.update({"NO_COLOR": "1", "COLUMNS": "120", "TERM": "xterm"})
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(app)
        os.execve(sys.executable, [sys.executable, "-m", "edgegate", "check", "-g", "policy", "-g", "verify"], env)
    out = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = out.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 1, text
    assert "edgegate: gate policy" not in text  # no log lines on a terminal
    assert "gate policy" in text and "gate verify" in text  # the live display showed each gate
    assert "Traceback" not in text and "Only one live display" not in text
    assert "FAILED" in text  # the report itself
