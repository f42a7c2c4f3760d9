"""Keyless signing up to the network boundary: ambient OIDC credential detection (GitHub Actions'
token endpoint played by a local server on 127.0.0.1) and token checks, before Fulcio/Rekor."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

_CI_VARS = (
    "GITHUB_ACTIONS",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "GOOGLE_SERVICE_ACCOUNT_NAME",
    "BUILDKITE",
    "GITLAB_CI",
    "CIRCLECI",
    "SIGSTORE_ID_TOKEN",
    "EDGEGATE_IDENTITY_TOKEN",
)


def _jwt(claims: dict) -> str:
    def enc(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{enc({'alg': 'RS256', 'typ': 'JWT'})}.{enc(claims)}.{base64.urlsafe_b64encode(b'sig').decode()}"


class _TokenServer:
    """GitHub Actions' OIDC token endpoint, as the `id` package calls it."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.headers.get("Authorization", ""))
                body = json.dumps({"value": outer.token}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/token"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def no_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in _CI_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def github_actions(monkeypatch: pytest.MonkeyPatch, no_ci: None) -> Iterator[_TokenServer]:
    server = _TokenServer("")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token-123")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", server.url)
    yield server
    server.close()


@pytest.fixture
def artifact(tmp_path):
    f = tmp_path / "model.onnx"
    f.write_bytes(b"onnx bytes")
    return f


def test_no_ambient_credential(cli, artifact, no_ci) -> None:
    res = cli("sign", artifact, "--keyless")
    assert res.exit_code == 2
    assert "no ambient credential found" in res.stderr
    assert "id-token: write" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not artifact.with_name("model.onnx.sigstore.json").exists()


def test_github_without_id_token_permission(cli, artifact, no_ci, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    res = cli("sign", artifact, "--keyless")
    assert res.exit_code == 2
    assert "ACTIONS_ID_TOKEN_REQUEST_TOKEN" in res.stderr


def test_github_token_with_wrong_audience(cli, artifact, github_actions) -> None:
    now = int(time.time())
    github_actions.token = _jwt({"aud": "not-sigstore", "iss": "https://token.actions.githubusercontent.com",
                                 "iat": now, "exp": now + 300, "sub": "repo:o/r:ref:refs/heads/main"})
    res = cli("sign", artifact, "--keyless")
    assert res.exit_code == 2
    assert "audience" in res.stderr
    assert github_actions.requests == ["bearer request-token-123"]


def test_github_token_that_is_not_a_jwt(cli, artifact, github_actions) -> None:
    github_actions.token = "garbage"
    res = cli("sign", artifact, "--keyless")
    assert res.exit_code == 2
    assert "Malformed token" in res.stderr


def test_expired_github_token_stops_before_fulcio(cli, artifact, github_actions) -> None:
    now = int(time.time())
    github_actions.token = _jwt({"aud": "sigstore", "iss": "https://token.actions.githubusercontent.com",
                                 "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600,
                                 "sub": "repo:o/r:ref:refs/heads/main"})
    res = cli("sign", artifact, "--keyless", "--staging")
    assert res.exit_code == 2
    assert "identity token is not usable" in res.stderr
    assert "Traceback" not in res.stderr


def test_explicit_bad_token(cli, artifact, no_ci) -> None:
    res = cli("sign", artifact, "--keyless", "--identity-token", "a.b.c")
    assert res.exit_code == 2
    assert "identity token" in res.stderr


def test_key_and_keyless_are_exclusive(cli, artifact, no_ci, keypair) -> None:
    res = cli("sign", artifact, "--keyless", "--key", keypair[0])
    assert res.exit_code == 2 and "choose one signing mode" in res.stderr
    res = cli("sign", artifact)
    assert res.exit_code == 2 and "choose one signing mode" in res.stderr


def test_model_statement_is_what_sigstore_signs_as_dsse(model_dir) -> None:
    """Keyless model signing hands sigstore-python the model-signing statement; it must accept it
    as an in-toto statement (checked here without the network)."""
    from sigstore import dsse

    from edgegate.sign.model import compute_manifest, ignore_list, statement_payload

    manifest, _ = compute_manifest(model_dir, allow_symlinks=False, ignore=ignore_list(model_dir))
    stmt = dsse.Statement(statement_payload(manifest))
    assert stmt._inner.predicate_type == "https://model_signing/signature/v1.0"
    assert stmt._inner.subjects[0].name == "tiny-model"


def test_keyless_model_sign_stops_before_network_without_identity(cli, model_dir, tmp_path, no_ci) -> None:
    res = cli("sign", model_dir, "--keyless", "--bundle", tmp_path / "m.sig")
    assert res.exit_code == 2 and "no ambient credential" in res.stderr
    assert not (tmp_path / "m.sig").exists()
