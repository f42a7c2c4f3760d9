"""Build hook: compile the pinned OPA (``github.com/open-policy-agent/opa``) with the Go
toolchain and ship it in the wheel as ``edgegate/_bin/opa`` (like ruff and syft ship theirs).

Why a binary driven as one process per run, not a c-shared library: the binary is OPA's own
supported interface (``opa eval``/``opa test``), it crashes alone (an engine failure can never
end in a pass), runs under its own memory and time limits, and any ``opa`` a user already has
(``EDGEGATE_OPA``, PATH) is a drop-in. Compile cost is paid once per run either way.

An editable install gets the binary at ``src/edgegate/_bin/opa`` (git-ignored). Without Go the
build still succeeds with a warning; the policy gate then exits 2 and says how to fix it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

OPA_MODULE = "github.com/open-policy-agent/opa"
OPA_VERSION = "v1.22.3"


def _warn(message: str) -> None:
    print(f"edgegate build: WARNING: {message}", file=sys.stderr)


def _version_of(binary: Path) -> str | None:
    try:
        out = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return None
    for line in out.stdout.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return None


def build_opa(dest: Path) -> bool:
    """Compile OPA into `dest` (reused when it is already the pinned version)."""
    if dest.is_file() and _version_of(dest) == OPA_VERSION.lstrip("v"):
        return True
    go = os.environ.get("GO") or shutil.which("go")
    if not go:
        _warn(
            "Go is not installed, so the OPA engine was not built; `edgegate policy` will exit 2 "
            "until you install Go and reinstall edgegate, or set EDGEGATE_OPA to an opa binary"
        )
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edgegate-opa-build-") as tmp:
        env = {**os.environ, "GOBIN": tmp, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
        cmd = [go, "install", "-trimpath", "-ldflags=-s -w", f"{OPA_MODULE}@{OPA_VERSION}"]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        built = Path(tmp) / "opa"
        if proc.returncode != 0 or not built.is_file():
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            _warn(
                f"building OPA {OPA_VERSION} with Go failed ({detail[-1] if detail else 'no output'}); "
                "`edgegate policy` will exit 2 until it is built (reinstall) or EDGEGATE_OPA is set"
            )
            return False
        shutil.copy2(built, dest)
    dest.chmod(0o755)
    return True


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Adds ``edgegate/_bin/opa`` to wheels; builds it in place for editable installs."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        if os.environ.get("EDGEGATE_SKIP_OPA_BUILD"):
            _warn("EDGEGATE_SKIP_OPA_BUILD is set: the OPA engine is not built")
            return
        if version == "editable":
            build_opa(Path(self.root) / "src" / "edgegate" / "_bin" / "opa")
            return
        out = Path(self.directory) / ".opa-build"
        dest = out / "opa"
        if build_opa(dest):
            build_data["force_include"][str(dest)] = "edgegate/_bin/opa"
            build_data["pure_python"] = False
            # the binary depends on the platform, not on the Python version or ABI
            platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
            build_data["tag"] = f"py3-none-{platform}"
