"""Docker credential helpers (``credHelpers`` / ``credsStore`` in Docker's ``config.json``).

A helper is the program ``docker-credential-<name>``: it reads the registry host on stdin for
``get`` and answers ``{"Username": …, "Secret": …}`` (Docker's credential-helper protocol). It is
run with a timeout and a bounded answer; a helper that is missing, fails or answers nonsense
gives no credentials (the registry then says what it needs).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from edgegate.errors import InputError

_TIMEOUT = 30
_MAX_ANSWER = 64 * 1024


def _docker_config() -> dict[str, object]:
    from edgegate.io.files import read_bounded

    folder = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    path = folder / "config.json"
    if not path.is_file():
        return {}
    try:
        doc = json.loads(read_bounded(path, 4 * 1024 * 1024))
    except (ValueError, InputError):
        return {}
    return doc if isinstance(doc, dict) else {}


def helper_name(registry: str) -> str | None:
    """The credential helper configured for `registry` (``credHelpers`` first, then ``credsStore``)."""
    doc = _docker_config()
    helpers = doc.get("credHelpers")
    if isinstance(helpers, dict):
        for key in (registry, f"https://{registry}"):
            if isinstance(helpers.get(key), str):
                return str(helpers[key])
    store = doc.get("credsStore")
    return store if isinstance(store, str) and store else None


def helper_credentials(registry: str) -> tuple[str, str] | None:
    """(username, secret) from the credential helper for `registry`, or ``None``."""
    name = helper_name(registry)
    if not name or "/" in name or name.startswith("."):
        return None
    program = shutil.which(f"docker-credential-{name}")
    if program is None:
        return None
    try:
        proc = subprocess.run(
            [program, "get"],
            input=registry.encode(),
            capture_output=True,
            timeout=_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0 or len(proc.stdout) > _MAX_ANSWER:
        return None
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    user, secret = doc.get("Username"), doc.get("Secret")
    if not isinstance(user, str) or not isinstance(secret, str) or not secret:
        return None
    return user, secret
