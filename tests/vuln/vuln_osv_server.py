"""A local OSV API emulator (``POST /v1/query``) for testing edgegate's online mode through
pip-audit's real OsvService. It answers from OSV records the way OSV.dev does for PyPI: a record
matches when the queried version is in an ``affected[].versions`` list of the package (the
enumerated versions OSV publishes), independent of edgegate's range evaluation."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from packaging.utils import canonicalize_name


def load_records(folder: Path) -> list[dict[str, Any]]:
    out = []
    for f in sorted(folder.rglob("*.yaml")):
        out.append(yaml.load(f.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader))
    return out


def _rfc3339(value: Any) -> str:
    # YAML turns OSV timestamps into datetimes; the OSV API sends RFC 3339 strings.
    return str(value.strftime("%Y-%m-%dT%H:%M:%SZ")) if hasattr(value, "strftime") else str(value)


@contextmanager
def osv_server(records: list[dict[str, Any]]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Serve `records`; yields (query URL, list of received queries)."""
    index: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        for aff in rec.get("affected", []):
            pkg = aff.get("package", {})
            if pkg.get("ecosystem") == "PyPI":
                index.setdefault(canonicalize_name(pkg["name"]), []).append(rec)
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != "/v1/query":
                self.send_error(404)
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append(body)
            name = canonicalize_name(body["package"]["name"])
            version = body["version"]
            vulns = []
            for rec in index.get(name, []):
                for aff in rec["affected"]:
                    if (aff["package"]["ecosystem"] == "PyPI" and canonicalize_name(aff["package"]["name"]) == name
                            and version in [str(v) for v in aff.get("versions", [])]):
                        vulns.append(rec)
                        break
            payload = json.dumps({"vulns": vulns} if vulns else {}, default=_rfc3339).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/query", received
    finally:
        server.shutdown()
        server.server_close()
