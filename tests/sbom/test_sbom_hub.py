"""A Hugging Face repo id resolved through huggingface_hub against a tiny Hub served on 127.0.0.1
by the test (HF_ENDPOINT), then again offline from the cache it filled (HF_HUB_OFFLINE=1)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest

REPO = "edgegate-test/tiny-hub-model"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


class _Hub:
    """The few Hub endpoints snapshot_download uses: revision info, tree listing, resolve."""

    def __init__(self, root: Path) -> None:
        self.files = {
            p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
        }
        self.log: list[str] = []

    def handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, code: int, body: bytes, headers: dict[str, str], head: bool) -> None:
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def _route(self, head: bool) -> None:
                path = unquote(urlsplit(self.path).path)
                hub.log.append(f"{self.command} {path}")
                api = f"/api/models/{REPO}/"
                js = {"Content-Type": "application/json"}
                if path.startswith(api + "revision/"):
                    body = {"id": REPO, "sha": COMMIT, "siblings": [{"rfilename": f} for f in hub.files]}
                    return self._send(200, json.dumps(body).encode(), js, head)
                if path.startswith(api + "tree/"):
                    items = [
                        {"type": "file", "oid": hashlib.sha1(d).hexdigest(), "size": len(d), "path": f}
                        for f, d in hub.files.items()
                    ]
                    return self._send(200, json.dumps(items).encode(), js, head)
                prefix = f"/{REPO}/resolve/"
                if path.startswith(prefix):
                    _rev, _, name = path[len(prefix) :].partition("/")
                    data = hub.files.get(name)
                    if data is not None:
                        return self._send(
                            200,
                            data,
                            {"X-Repo-Commit": COMMIT, "ETag": f'"{hashlib.sha1(data).hexdigest()}"'},
                            head,
                        )
                return self._send(404, b"{}", {"X-Error-Code": "RepoNotFound", **js}, head)

            def do_GET(self) -> None:
                self._route(False)

            def do_HEAD(self) -> None:
                self._route(True)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[str, _Hub]]:
    from safetensors.numpy import save_file

    src = tmp_path / "src"
    src.mkdir()
    save_file({"w": np.zeros((6, 7), np.float32)}, str(src / "model.safetensors"))
    (src / "README.md").write_text("---\nlicense: mit\npipeline_tag: image-classification\n---\n# tiny\n")
    h = _Hub(src)
    server = ThreadingHTTPServer(("127.0.0.1", 0), h.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", h
    finally:
        server.shutdown()
        server.server_close()


def test_repo_id_through_local_hub_then_offline(
    hub: tuple[str, _Hub], tmp_path: Path, cli_subprocess
) -> None:
    endpoint, h = hub
    env = {
        **os.environ,
        "HF_ENDPOINT": endpoint,
        "HF_HUB_CACHE": str(tmp_path / "cache"),
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    env.pop("HF_HUB_OFFLINE", None)
    out = tmp_path / "online.json"
    r = cli_subprocess("sbom", "model", REPO, "--sbom-output", out, "--no-progress", env=env)
    assert r.exit_code == 0, r.stderr
    assert any(line.startswith("GET /api/models/") for line in h.log)
    doc = json.loads(out.read_text())
    model = doc["metadata"]["component"]
    assert model["version"] == COMMIT
    assert model["purl"] == f"pkg:huggingface/{REPO}@{COMMIT}"
    assert model["licenses"] == [{"license": {"id": "MIT"}}]
    assert model["modelCard"]["modelParameters"]["task"] == "image-classification"
    files = {c["name"]: c["hashes"][0]["content"] for c in doc["components"]}
    assert files["model.safetensors"] == hashlib.sha256(h.files["model.safetensors"]).hexdigest()
    props = {p["name"]: p["value"] for p in model["properties"]}
    assert props["edgegate:model:parameters"] == "42"

    # offline, the Hub unreachable: the same snapshot from the cache
    h.log.clear()
    env_off = {**env, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}
    out2 = tmp_path / "offline.json"
    r = cli_subprocess("sbom", "model", f"{REPO}@main", "--sbom-output", out2, "--no-progress", env=env_off)
    assert r.exit_code == 0, r.stderr
    assert h.log == []
    assert json.loads(out2.read_text())["metadata"]["component"]["version"] == COMMIT


def test_unknown_repo_on_local_hub_is_exit_2(hub: tuple[str, _Hub], tmp_path: Path, cli_subprocess) -> None:
    endpoint, _ = hub
    env = {
        **os.environ,
        "HF_ENDPOINT": endpoint,
        "HF_HUB_CACHE": str(tmp_path / "cache"),
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    env.pop("HF_HUB_OFFLINE", None)
    out = tmp_path / "o.json"
    r = cli_subprocess("sbom", "model", "edgegate-test/absent", "--sbom-output", out, "--no-progress", env=env)
    assert r.exit_code == 2
    assert r.stderr.count("\n") == 1 and "cannot fetch from the Hugging Face Hub" in r.stderr, r.stderr
    assert not out.exists()
