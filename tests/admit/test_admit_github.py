"""GitHub artifact attestations through admit: a real HTTP server the test starts serves the API's
shape (``/repos/{owner}/{repo}/attestations/{digest}``, ``/orgs/{org}/…``) with GitHub's real
attestation bundles from the GitHub CLI's test data (the Go module github.com/cli/cli/v2, used in
place from the module cache), verified keylessly by sigstore-python against the identities gh's
own integration tests verify them with. As in test_admit_keyless, the artifact each bundle attests
stands in for the image digest where a pass is shown; through the whole command a real registry
image is checked, for which those bundles must be refused (they are about another digest)."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from admit_helpers import manifest_yaml, push_image

from edgegate.admit import github
from edgegate.admit.attest import judge_attestations
from edgegate.admit.cosign import AdmitFailure
from edgegate.admit.github import GitHubAttestations, github_envelopes
from edgegate.admit.policy import AttestationRule, ImagePolicy
from edgegate.admit.verify import AdmitOptions
from edgegate.sign.keyless import GITHUB_ISSUER, IdentityPolicy

GH_CLI = "github.com/cli/cli/v2@v2.83.0"
"""The version .ci/run downloads (``go mod download``)."""
SLSA = "https://slsa.dev/provenance/v1"
HAMMER = IdentityPolicy(issuer=f"{GITHUB_ISSUER}/hammer-time", github_repository="too-legit/attest")
REUSABLE = IdentityPolicy(issuer=GITHUB_ISSUER, github_repository="malancas/attest-demo")
TOKEN = "ghp_edgegateTestTokenDoNotPrint0123456789"
GITHUB_COM_TOKEN = "ghp_githubComTokenNeverSentElsewhere0000"


def _gh_data() -> Path:
    roots = [os.environ.get("GOMODCACHE"), str(Path(os.environ.get("GOPATH") or Path.home() / "go") / "pkg" / "mod")]
    for root in filter(None, roots):
        d = Path(root) / "github.com" / "cli" / "cli" / GH_CLI.split("/")[-1] / "pkg/cmd/attestation/test/data"
        if (d / "custom-issuer.sigstore.json").is_file():
            return d
    msg = f"the GitHub CLI's test data is missing (GOFLAGS=-mod=mod go mod download {GH_CLI})"
    if os.environ.get("CI") == "true" or os.environ.get("EDGEGATE_TEST_REQUIRE_ORACLES"):
        pytest.fail(msg + " — required in CI")
    pytest.skip(msg)


@pytest.fixture(scope="module")
def gh() -> dict[str, Any]:
    d = _gh_data()
    out: dict[str, Any] = {}
    for key, bundle, artifact in (("hammer", "custom-issuer.sigstore.json", "custom-issuer-artifact"),
                                  ("reusable", "reusable-workflow-attestation.sigstore.json",
                                   "reusable-workflow-artifact")):
        out[key] = json.loads((d / bundle).read_text())
        out[key + "_digest"] = "sha256:" + hashlib.sha256((d / artifact).read_bytes()).hexdigest()
    return out


class _Api:
    """A local HTTP server: path (without query) → (status, body, headers); records requests."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        self.seen: list[tuple[str, str | None]] = []
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.seen.append((self.path, self.headers.get("Authorization")))
                status, body, headers = api.routes.get(self.path.split("?", 1)[0], (404, b'{"message":"Not Found"}', {}))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, path: str, bundles: list[Any], status: int = 200, headers: dict[str, str] | None = None) -> None:
        doc = {"attestations": [{"bundle": b, "repository_id": 1} for b in bundles]}
        self.routes[path] = (status, json.dumps(doc).encode(), headers or {})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def _no_ambient_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in github.TOKEN_ENV + github.ENTERPRISE_TOKEN_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def api() -> Iterator[_Api]:
    server = _Api()
    try:
        yield server
    finally:
        server.close()


def _policy(api: _Api, owner: str = "too-legit/attest", identity: IdentityPolicy = HAMMER,
            rules: tuple[str, ...] = ()) -> ImagePolicy:
    return ImagePolicy(name="gh", images=("**",), identities=(identity,), signed=False,
                       attestations=(AttestationRule(SLSA, rules),), github=GitHubAttestations(owner, api.url))


def _judge(api: _Api, digest: str, policy: ImagePolicy) -> tuple[list[str], list[Any]]:
    assert policy.github is not None
    envelopes, notes = github_envelopes(policy.github, digest)
    return judge_attestations(envelopes, notes, digest, "example/app", policy, AdmitOptions())


def _rego(tmp_path: Path, body: str) -> str:
    d = tmp_path / "rego"
    d.mkdir(exist_ok=True)
    (d / "p.rego").write_text(f"package main\n\nimport rego.v1\n\n{body}\n")
    return str(d)


def test_real_github_bundle_verifies_and_feeds_the_attestation_policy(api: _Api, gh: dict[str, Any],
                                                                     tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    digest = gh["hammer_digest"]
    api.serve(f"/repos/too-legit/attest/attestations/{digest}", [gh["hammer"]])
    # the API is not api.github.com: gh's enterprise token is sent, never the github.com one
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_COM_TOKEN)
    monkeypatch.setenv("GH_ENTERPRISE_TOKEN", TOKEN)
    verified, findings = _judge(api, digest, _policy(api))
    assert len(verified) == 1 and "too-legit/attest" in verified[0] and findings == []
    assert api.seen[0][1] == f"Bearer {TOKEN}"
    monkeypatch.delenv("GH_ENTERPRISE_TOKEN")
    _judge(api, digest, _policy(api))
    assert api.seen[-1][1] is None
    # the verified predicate goes through the Rego policy: a rule on its real content passes ...
    # (the value bound first: `not startswith(input.x.y, ...)` is refused, since OPA and regopy
    # disagree on it where input.x.y is missing; bound, a missing build type denies in both)
    ok = _rego(tmp_path, 'deny contains "not built by GitHub Actions" if {\n'
                         '  build_type := object.get(input, ["predicate", "buildDefinition", "buildType"], "")\n'
                         '  not startswith(build_type, "https://actions.github.io/")\n}')
    verified, findings = _judge(api, digest, _policy(api, rules=(ok,)))
    assert "policy passed" in verified[0] and findings == []
    # ... and one it breaks is a blocking finding
    bad = _rego(tmp_path, 'deny contains msg if {\n  msg := sprintf("built from %s", '
                          '[input.predicate.buildDefinition.externalParameters.workflow.repository])\n}')
    verified, findings = _judge(api, digest, _policy(api, rules=(bad,)))
    assert verified == [] and findings and all(f[3] for f in findings)
    assert "too-legit/attest" in findings[0][1]


def test_organisation_form_and_pages(api: _Api, gh: dict[str, Any]) -> None:
    digest = gh["reusable_digest"]
    # page 1: another artifact's real bundle; page 2 (Link rel="next"): the right one
    path = f"/orgs/malancas/attestations/{digest}"
    api.serve(path, [gh["hammer"]], headers={"Link": f'<{api.url}/page2>; rel="next"'})
    api.serve("/page2", [gh["reusable"]])
    verified, _ = _judge(api, digest, _policy(api, owner="malancas", identity=REUSABLE))
    assert "malancas/attest-demo" in verified[0]
    assert [p for p, _ in api.seen] == [f"{path}?per_page=100", "/page2"]


@pytest.mark.parametrize("case", ["wrong identity", "tampered", "other digest", "empty", "404"])
def test_refusals_are_failures(api: _Api, gh: dict[str, Any], case: str) -> None:
    digest = gh["hammer_digest"]
    bundle = json.loads(json.dumps(gh["hammer"]))
    policy = _policy(api)
    path = f"/repos/too-legit/attest/attestations/{digest}"
    if case == "wrong identity":
        policy = _policy(api, identity=IdentityPolicy(issuer=f"{GITHUB_ISSUER}/hammer-time",
                                                      github_repository="too-legit/other"))
    elif case == "tampered":
        stmt = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
        stmt["predicate"]["buildDefinition"]["externalParameters"]["workflow"]["ref"] = "refs/heads/evil"
        bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(stmt).encode()).decode()
    elif case == "other digest":
        digest = gh["reusable_digest"]
        path = f"/repos/too-legit/attest/attestations/{digest}"
    if case == "404":
        pass  # no route: the server's 404, GitHub's answer for "no attestation"
    else:
        api.serve(path, [] if case == "empty" else [bundle])
    with pytest.raises(AdmitFailure) as exc:
        _judge(api, digest, policy)
    expected = {"wrong identity": "EGA005", "tampered": "EGA005", "other digest": "EGA005", "empty": "EGA005",
                "404": "EGA005"}[case]
    assert exc.value.rule_id == expected
    if case == "other digest":
        assert gh["hammer_digest"] in exc.value.reason and digest in exc.value.reason
    if case in ("404", "empty"):
        assert exc.value.reason.startswith(f"no {SLSA} attestation")
    else:
        assert "does not verify" in exc.value.reason


# --- the whole command, on a real registry image ------------------------------------------------


def _project(tmp_path: Path, api: _Api, image: str, identity: str = 'github-repository = "too-legit/attest", '
             'issuer = "https://token.actions.githubusercontent.com/hammer-time"') -> Path:
    manifest_yaml(tmp_path / "deploy.yaml", [image])
    (tmp_path / "edgegate.toml").write_text(
        f'[admit]\npaths = ["deploy.yaml"]\ninsecure = true\n\n[[admit.policy]]\nname = "gh"\nimages = ["**"]\n'
        f'signed = false\ngithub-attestations = "too-legit/attest"\ngithub-api = "{api.url}"\n'
        f"identities = [{{ {identity} }}]\n"
    )
    return tmp_path


def _run(cli: Any, project: Path) -> tuple[int, dict[str, Any], str]:
    r = cli("admit", project, "-f", "json")
    doc = json.loads(r.stdout) if r.stdout.strip().startswith("{") else {}
    return r.exit_code, doc, r.stdout + r.stderr


def test_command_refuses_a_real_bundle_for_another_digest(registry: str, api: _Api, gh: dict[str, Any], cli: Any,
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    digest = push_image(registry, "edge/gh-app", "1", tmp_path)
    image = f"{registry}/edge/gh-app:1"
    api.serve(f"/repos/too-legit/attest/attestations/{digest}", [gh["hammer"]])
    monkeypatch.setenv("GH_ENTERPRISE_TOKEN", TOKEN)
    code, doc, text = _run(cli, _project(tmp_path, api, image))
    assert code == 1, text
    (finding,) = [f for f in doc["gates"][0]["findings"] if f["blocking"]]
    assert finding["rule_id"] == "EGA005" and image in finding["message"]
    assert gh["hammer_digest"] in finding["message"] and digest in finding["message"]
    assert TOKEN not in text


@pytest.mark.parametrize("status", [401, 403, 404, 500, 302])
def test_command_api_statuses_never_pass(registry: str, api: _Api, cli: Any, tmp_path: Path, status: int,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    digest = push_image(registry, "edge/gh-status", str(status), tmp_path)
    image = f"{registry}/edge/gh-status:{status}"
    other = _Api()  # a redirect target on another origin must never see the token
    try:
        headers = {"Location": f"{other.url}/steal"} if status == 302 else {}
        if status != 404:
            api.routes[f"/repos/too-legit/attest/attestations/{digest}"] = (status, b'{"message":"x"}', headers)
        monkeypatch.setenv("GITHUB_ENTERPRISE_TOKEN", TOKEN)
        monkeypatch.delenv("GH_ENTERPRISE_TOKEN", raising=False)
        code, doc, text = _run(cli, _project(tmp_path, api, image))
        assert other.seen == [] and api.seen[-1][1] == f"Bearer {TOKEN}"
    finally:
        other.close()
    assert TOKEN not in text
    if status == 404:
        assert code == 1
        (finding,) = [f for f in doc["gates"][0]["findings"] if f["blocking"]]
        assert image in finding["message"] and "HTTP 404" in finding["message"]
    else:
        assert code == 2, text
        (error,) = doc["gates"][0]["errors"]
        assert image in error and f"HTTP {status}" in error and "\n" not in error


def test_command_oversized_response_is_an_error(registry: str, api: _Api, cli: Any, tmp_path: Path) -> None:
    digest = push_image(registry, "edge/gh-big", "1", tmp_path)
    image = f"{registry}/edge/gh-big:1"
    body = b'{"attestations": [' + b" " * github.MAX_RESPONSE + b"]}"
    api.routes[f"/repos/too-legit/attest/attestations/{digest}"] = (200, body, {})
    code, doc, text = _run(cli, _project(tmp_path, api, image))
    assert code == 2, text
    (error,) = doc["gates"][0]["errors"]
    assert image in error and "larger than" in error


def test_config_needs_identities_and_a_safe_api(tmp_path: Path, cli: Any) -> None:
    manifest_yaml(tmp_path / "deploy.yaml", ["example.com/app:1"])
    base = '[admit]\npaths = ["deploy.yaml"]\n\n[[admit.policy]]\nimages = ["**"]\nsigned = false\n'
    cases = {
        'github-attestations = "too-legit/attest"\n': "identities",
        'github-attestations = "too-legit/attest"\ngithub-api = "http://api.example.com"\n'
        'identities = [{ github-repository = "too-legit/attest" }]\n': "localhost",
        'github-attestations = "../x"\nidentities = [{ github-repository = "a/b" }]\n': "github-attestations",
    }
    for extra, word in cases.items():
        (tmp_path / "edgegate.toml").write_text(base + extra)
        r = cli("admit", tmp_path)
        assert r.exit_code == 2 and word in r.stderr, r.stderr


def test_bundle_url_only_is_never_used(api: _Api, gh: dict[str, Any]) -> None:
    digest = gh["hammer_digest"]
    doc = {"attestations": [{"bundle": None, "bundle_url": f"{api.url}/blob"}]}
    api.routes[f"/repos/too-legit/attest/attestations/{digest}"] = (200, json.dumps(doc).encode(), {})
    with pytest.raises(AdmitFailure) as exc:
        _judge(api, digest, _policy(api))
    assert "bundle_url" in exc.value.reason and all(p != "/blob" for p, _ in api.seen)

