"""Pull by reference from a real local registry (Debian's docker-registry on 127.0.0.1, started by
the test with a temp config); images are pushed over the same distribution API first."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sbom_helpers import DPKG_STATUS, OS_RELEASE, E, layer_tar, oci_layout

from edgegate.errors import InputError
from edgegate.sbom.registry import parse_reference

REGISTRY = shutil.which("docker-registry")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if REGISTRY is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    root = tmp_path_factory.mktemp("registry")
    port = _free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen(
        [REGISTRY, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    host = f"127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://{host}/v2/", timeout=1):
                    break
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        else:
            pytest.fail("local registry did not start")
        yield host
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _put(url: str, data: bytes, content_type: str = "application/octet-stream", method: str = "PUT") -> str:
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": content_type})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.headers.get("Location", "")


def push_layout(host: str, repo: str, tag: str, layout: Path) -> None:
    """Push every blob and manifest of an OCI layout directory, then tag its index (or manifest)."""
    base = f"http://{host}/v2/{repo}"
    index = json.loads((layout / "index.json").read_text())
    blobs = layout / "blobs" / "sha256"
    manifests = {m["digest"] for m in index["manifests"]}
    for blob in blobs.iterdir():
        digest = f"sha256:{blob.name}"
        if digest in manifests:
            continue
        loc = _put(f"{base}/blobs/uploads/", b"", method="POST")
        loc = loc if loc.startswith("http") else f"http://{host}{loc}"
        _put(f"{loc}{'&' if '?' in loc else '?'}digest={digest}", blob.read_bytes())
    for m in index["manifests"]:
        data = (blobs / m["digest"][7:]).read_bytes()
        _put(f"{base}/manifests/{m['digest']}", data, m["mediaType"])
    if len(index["manifests"]) == 1:
        m = index["manifests"][0]
        _put(f"{base}/manifests/{tag}", (blobs / m["digest"][7:]).read_bytes(), m["mediaType"])
    else:
        idx = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [{k: v for k, v in m.items() if k != "annotations"} for m in index["manifests"]],
            }
        ).encode()
        _put(f"{base}/manifests/{tag}", idx, "application/vnd.oci.image.index.v1+json")


def _layers() -> list[bytes]:
    return [
        layer_tar(
            [
                E("usr/lib/os-release", data=OS_RELEASE),
                E("etc/os-release", "symlink", "../usr/lib/os-release"),
                E("var/lib/dpkg/status", data=DPKG_STATUS),
            ]
        ),
        layer_tar(
            [E("app/node_modules/left-pad/package.json", data='{"name":"left-pad","version":"1.3.0"}')]
        ),
    ]


def test_pull_by_tag_and_digest(registry: str, tmp_path: Path, cli) -> None:
    layout = tmp_path / "layout"
    layout.mkdir()
    oci_layout(layout, _layers())
    push_layout(registry, "team/app", "1.0", layout)
    out = tmp_path / "sbom.json"
    r = cli("sbom", "image", f"{registry}/team/app:1.0", "--insecure", "--sbom-output", out)
    assert r.exit_code == 0, r.stderr
    doc = json.loads(out.read_text())
    names = {c["name"] for c in doc["components"]}
    assert {"base-files", "zlib1g", "left-pad", "debian"} <= names
    props = {p["name"]: p["value"] for p in doc["metadata"]["component"]["properties"]}
    digest = props["edgegate:image:manifest-digest"]
    assert props["edgegate:image:source-kind"] == "registry"
    # by digest
    out2 = tmp_path / "sbom2.json"
    r = cli("sbom", "image", f"registry:{registry}/team/app@{digest}", "--insecure", "--sbom-output", out2)
    assert r.exit_code == 0, r.stderr
    assert {c["name"] for c in json.loads(out2.read_text())["components"]} == names


def test_multi_arch_index_platform(registry: str, tmp_path: Path, cli) -> None:
    layout = tmp_path / "layout"
    layout.mkdir()
    oci_layout(layout, _layers(), platforms=("linux/amd64", "linux/arm64"))
    push_layout(registry, "team/multi", "latest", layout)
    out = tmp_path / "arm.json"
    r = cli("sbom", "image", f"{registry}/team/multi", "--insecure", "--platform", "linux/arm64", "--sbom-output", out)
    assert r.exit_code == 0, r.stderr
    props = {
        p["name"]: p["value"] for p in json.loads(out.read_text())["metadata"]["component"]["properties"]
    }
    assert props["edgegate:image:platform"] == "linux/arm64"
    r = cli(
        "sbom",
        "image",
        f"{registry}/team/multi",
        "--insecure",
        "--platform",
        "windows/amd64",
        "--sbom-output",
        tmp_path / "w.json",
    )
    assert r.exit_code == 2 and "no image for platform windows/amd64" in r.stderr


def test_registry_errors_are_one_line_exit_2(registry: str, tmp_path: Path, cli) -> None:
    out = tmp_path / "x.json"
    r = cli("sbom", "image", f"{registry}/team/absent:1", "--insecure", "--sbom-output", out)
    assert r.exit_code == 2 and "not found in registry" in r.stderr and r.stderr.count("\n") == 1
    r = cli("sbom", "image", f"127.0.0.1:{_free_port()}/x/y:1", "--insecure", "--sbom-output", out)
    assert r.exit_code == 2 and "registry unreachable" in r.stderr
    r = cli("sbom", "image", "registry.example.com/x/y:1", "--insecure", "--sbom-output", out)
    assert r.exit_code == 2 and "only allowed for a localhost registry" in r.stderr
    assert not out.exists()


def test_parse_reference_defaults() -> None:
    assert str(parse_reference("alpine")) == "docker.io/library/alpine"
    r = parse_reference("ghcr.io/org/app:1.2@sha256:" + "a" * 64)
    assert (r.registry, r.repository, r.tag, r.reference) == (
        "ghcr.io",
        "org/app",
        "1.2",
        "sha256:" + "a" * 64,
    )
    assert parse_reference("localhost:5000/app").registry == "localhost:5000"
    with pytest.raises(InputError):
        parse_reference("UPPER/case")


# ------------------------------------------------------------------ bearer-token auth


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _TokenIssuer:
    """A token server for docker-registry's `auth: token` (ES256 JWTs with an x5c certificate)."""

    def __init__(self, root: Path, service: str, issuer: str) -> None:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edgegate-test-token")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_der = cert.public_bytes(serialization.Encoding.DER)
        self.bundle = root / "token-ca.pem"
        self.bundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.service, self.issuer = service, issuer
        self.requests: list[str] = []

    def token(self, scope: str) -> str:
        import secrets

        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        access = []
        for item in scope.split(" "):
            parts = item.split(":")
            if len(parts) == 3:
                access.append({"type": parts[0], "name": parts[1], "actions": parts[2].split(",")})
        now = int(time.time())
        header = {
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [__import__("base64").b64encode(self.cert_der).decode()],
        }
        claims = {
            "iss": self.issuer,
            "sub": "",
            "aud": self.service,
            "exp": now + 600,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, _TokenIssuer]]:
    import threading
    import urllib.parse
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    if REGISTRY is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    root = tmp_path_factory.mktemp("token-registry")
    issuer = _TokenIssuer(root, "edgegate-registry", "edgegate-issuer")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            issuer.requests.append(self.path)
            scope = " ".join(query.get("scope", []))
            body = json.dumps({"token": issuer.token(scope)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = _free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        "auth:\n  token:\n"
        f"    realm: http://127.0.0.1:{server.server_address[1]}/token\n"
        "    service: edgegate-registry\n    issuer: edgegate-issuer\n"
        f"    rootcertbundle: {issuer.bundle}\n"
    )
    proc = subprocess.Popen(
        [REGISTRY, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    host = f"127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://{host}/v2/", timeout=1).close()
                break
            except urllib.error.HTTPError:
                break  # 401: up and asking for a token
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        else:
            pytest.fail("local registry did not start")
        yield host, issuer
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        server.shutdown()


def _authed_put(host: str, issuer: _TokenIssuer, repo: str, layout: Path, tag: str) -> None:
    """push_layout with a push token in every request."""
    token = issuer.token(f"repository:{repo}:pull,push")
    opener = urllib.request.build_opener()
    opener.addheaders = [("Authorization", f"Bearer {token}")]
    old = urllib.request._opener  # type: ignore[attr-defined]
    urllib.request.install_opener(opener)
    try:
        push_layout(host, repo, tag, layout)
    finally:
        urllib.request.install_opener(old)


def test_pull_with_bearer_token_auth(token_registry: tuple[str, _TokenIssuer], tmp_path: Path, cli) -> None:
    host, issuer = token_registry
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"http://{host}/v2/team/secure/manifests/1.0", timeout=5)
    assert err.value.code == 401
    layout = tmp_path / "layout"
    layout.mkdir()
    oci_layout(layout, _layers())
    _authed_put(host, issuer, "team/secure", layout, "1.0")
    issuer.requests.clear()
    out = tmp_path / "sbom.json"
    r = cli("sbom", "image", f"{host}/team/secure:1.0", "--insecure", "--sbom-output", out)
    assert r.exit_code == 0, r.stderr
    assert {"base-files", "left-pad"} <= {c["name"] for c in json.loads(out.read_text())["components"]}
    assert any("scope=repository%3Ateam%2Fsecure%3Apull" in p for p in issuer.requests), issuer.requests


# ------------------------------------------------------------------ basic auth (htpasswd)


def _bcrypt(password: str) -> str | None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt
        except ImportError:
            return None
    method = getattr(crypt, "METHOD_BLOWFISH", None)
    h = crypt.crypt(password, crypt.mksalt(method)) if method is not None else None
    return h if h and h.startswith("$2") else None


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if REGISTRY is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    hashed = _bcrypt("s3cret")
    if hashed is None:
        pytest.skip("no bcrypt implementation to write an htpasswd file")
    root = tmp_path_factory.mktemp("basic-registry")
    (root / "htpasswd").write_text(f"alice:{hashed}\n")
    port = _free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        f"auth:\n  htpasswd:\n    realm: edgegate-test\n    path: {root / 'htpasswd'}\n"
    )
    proc = subprocess.Popen(
        [REGISTRY, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    host = f"127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://{host}/v2/", timeout=1).close()
                break
            except urllib.error.HTTPError:
                break
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        else:
            pytest.fail("local registry did not start")
        yield host
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_pull_with_basic_auth_from_env_and_docker_config(basic_registry: str, tmp_path: Path, cli) -> None:
    import base64

    host = basic_registry
    layout = tmp_path / "layout"
    layout.mkdir()
    oci_layout(layout, _layers())
    opener = urllib.request.build_opener()
    opener.addheaders = [("Authorization", "Basic " + base64.b64encode(b"alice:s3cret").decode())]
    old = urllib.request._opener  # type: ignore[attr-defined]
    urllib.request.install_opener(opener)
    try:
        push_layout(host, "team/private", "1.0", layout)
    finally:
        urllib.request.install_opener(old)
    ref = f"{host}/team/private:1.0"
    empty = tmp_path / "no-docker-config"
    empty.mkdir()
    r = cli("sbom", "image", ref, "--insecure", "--sbom-output", tmp_path / "a.json", env={"DOCKER_CONFIG": str(empty)})
    assert r.exit_code == 2 and "registry requires credentials" in r.stderr
    r = cli(
        "sbom",
        "image",
        ref,
        "--insecure",
        "--sbom-output",
        tmp_path / "b.json",
        env={
            "EDGEGATE_REGISTRY_USERNAME": "alice",
            "EDGEGATE_REGISTRY_PASSWORD": "wrong",
            "DOCKER_CONFIG": str(empty),
        },
    )
    assert r.exit_code == 2 and "refused the credentials" in r.stderr
    r = cli(
        "sbom",
        "image",
        ref,
        "--insecure",
        "--sbom-output",
        tmp_path / "c.json",
        env={"EDGEGATE_REGISTRY_USERNAME": "alice", "EDGEGATE_REGISTRY_PASSWORD": "s3cret"},
    )
    assert r.exit_code == 0, r.stderr
    docker = tmp_path / "docker"
    docker.mkdir()
    (docker / "config.json").write_text(
        json.dumps({"auths": {host: {"auth": base64.b64encode(b"alice:s3cret").decode()}}})
    )
    r = cli("sbom", "image", ref, "--insecure", "--sbom-output", tmp_path / "d.json", env={"DOCKER_CONFIG": str(docker)})
    assert r.exit_code == 0, r.stderr
    assert {"base-files", "left-pad"} <= {
        c["name"] for c in json.loads((tmp_path / "d.json").read_text())["components"]
    }


def test_missing_paths_are_not_taken_for_registry_references(tmp_path: Path, cli) -> None:
    from edgegate.sbom.image import looks_like_reference

    assert not looks_like_reference("build/app.tar")
    assert not looks_like_reference("org/app")  # ambiguous: a path unless written registry:org/app
    assert looks_like_reference("alpine:3.19") and looks_like_reference("ghcr.io/org/app")
    r = cli("sbom", "image", tmp_path / "missing" / "app.tar", "--sbom-output", tmp_path / "o.json")
    assert (
        r.exit_code == 2 and "no such file or directory (for a registry image write registry:REF)" in r.stderr
    )


def test_check_gate_with_registry_and_oci_sources(registry: str, tmp_path: Path, cli) -> None:
    layout = tmp_path / "layout"
    layout.mkdir()
    oci_layout(layout, _layers())
    push_layout(registry, "team/gate", "2.0", layout)
    (tmp_path / "edgegate.toml").write_text(
        "[sbom]\nimages = [\n"
        f'  {{ source = "{registry}/team/gate:2.0", output = "out/reg.json", insecure = true }},\n'
        '  { source = "oci:layout:1.0", output = "out/oci.json" },\n'
        ']\nrequire = ["out/reg.json", "out/oci.json"]\n'
    )
    r = cli("check", tmp_path, "-f", "json")
    assert r.exit_code == 0, r.stdout + r.stderr
    reg = json.loads((tmp_path / "out/reg.json").read_text())
    oci = json.loads((tmp_path / "out/oci.json").read_text())
    assert {c["name"] for c in reg["components"]} == {c["name"] for c in oci["components"]}


def test_registry_and_image_modules_do_not_import_each_other() -> None:
    """registry builds on sbom.oci, not on sbom.image (whose local sources import registry lazily);
    registry's public names stay where they were."""
    import subprocess
    import sys

    code = (
        "import sys, edgegate.sbom.registry as r\n"
        "assert 'edgegate.sbom.image' not in sys.modules, 'registry imports image'\n"
        "assert all(hasattr(r, n) for n in ('pull', 'parse_reference', 'Reference', 'RegistryClient'))\n"
        "import edgegate.sbom.image as i\n"
        "assert i.OpenedImage is r.OpenedImage and i.read_oci is r.read_oci\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
