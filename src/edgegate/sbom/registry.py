"""Pull an image by reference over the OCI distribution API (anonymous or bearer-token auth).

Manifests are read into memory (bounded); layer blobs are downloaded into a private temp dir,
their SHA-256 checked while downloading, and read from there like an OCI layout. Plain HTTP is
only allowed with ``insecure=True`` for a localhost registry.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from edgegate.errors import InputError
from edgegate.sbom.oci import OpenedImage, read_oci

MAX_MANIFEST = 16 * 1024 * 1024
MAX_BLOB = 16 * 1024 * 1024 * 1024
TIMEOUT = 60

_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
_REPO_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Reference:
    """``registry/repository[:tag][@digest]``."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def host(self) -> str:
        return self.registry.rsplit(":", 1)[0] if not self.registry.startswith("[") else self.registry

    @property
    def reference(self) -> str:
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        out = f"{self.registry}/{self.repository}"
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse_reference(value: str) -> Reference:
    """Parse an image reference with Docker's defaults (docker.io, ``library/``, ``latest``)."""
    ref = value.strip()
    if not ref or ref.startswith(("/", ".")) or " " in ref:
        raise InputError(f"invalid image reference {value!r}")
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
        if not _DIGEST_RE.match(digest):
            raise InputError(f"invalid digest in image reference {value!r}")
    first, sep, rest = ref.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = "docker.io", ref
    tag = None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, tag = path.rsplit(":", 1)
        if not _TAG_RE.match(tag):
            raise InputError(f"invalid tag in image reference {value!r}")
    if registry == "docker.io" and "/" not in path:
        path = f"library/{path}"
    if not _REPO_RE.match(path):
        raise InputError(f"invalid repository name in image reference {value!r}")
    return Reference(registry, path, tag, digest)


def _basic(credentials: tuple[str, str]) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()


def registry_credentials(registry: str) -> tuple[str, str] | None:
    """Credentials for `registry`: ``EDGEGATE_REGISTRY_USERNAME``/``EDGEGATE_REGISTRY_PASSWORD``, else
    the ``auths`` entry of docker's ``config.json`` (``$DOCKER_CONFIG`` or ``~/.docker``). Credential
    helpers (``credsStore``/``credHelpers``) are not run."""
    import base64
    import binascii

    user, password = (
        os.environ.get("EDGEGATE_REGISTRY_USERNAME"),
        os.environ.get("EDGEGATE_REGISTRY_PASSWORD"),
    )
    if user and password is not None:
        return user, password
    folder = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    path = folder / "config.json"
    if not path.is_file():
        return None
    from edgegate.io.files import read_bounded

    try:
        doc = json.loads(read_bounded(path, 4 * 1024 * 1024))
    except (ValueError, InputError):
        return None
    auths = doc.get("auths") if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        return None
    keys = [registry, f"https://{registry}", f"http://{registry}"]
    if registry == "docker.io":
        keys += ["https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io"]
    for key in keys:
        entry = auths.get(key)
        if isinstance(entry, dict) and isinstance(entry.get("auth"), str):
            try:
                u, _, p = base64.b64decode(entry["auth"]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            return (u, p) if u else None
    return None


class _StripAuthOnRedirect(urllib.request.HTTPRedirectHandler):
    """Follow blob redirects (to a CDN or object store) without sending the registry token there."""

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if (
            new is not None
            and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc
        ):
            new.remove_header("Authorization")
        return new


class RegistryClient:
    """A minimal distribution-API client: manifests and blobs, with bearer-token auth."""

    def __init__(self, ref: Reference, *, insecure: bool = False) -> None:
        self.ref = ref
        if insecure and ref.host not in _LOCAL_HOSTS:
            raise InputError(f"--insecure is only allowed for a localhost registry, not {ref.registry}")
        scheme = "http" if insecure else "https"
        host = "registry-1.docker.io" if ref.registry == "docker.io" else ref.registry
        self.base = f"{scheme}://{host}/v2/{ref.repository}"
        self.where = str(ref)
        self._token: str | None = None
        self._auth: str | None = None
        """The Authorization header value in use (``Bearer …`` or ``Basic …``)."""
        self._credentials = registry_credentials(ref.registry)
        # a localhost registry is never reached through an HTTP(S) proxy from the environment
        handlers: list[urllib.request.BaseHandler] = [_StripAuthOnRedirect()]
        if ref.host in _LOCAL_HOSTS:
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    def _request(self, url: str, accept: str | None = None) -> Any:
        headers = {"User-Agent": "edgegate"}
        if accept:
            headers["Accept"] = accept
        if self._auth:
            headers["Authorization"] = self._auth
        req = urllib.request.Request(url, headers=headers)
        try:
            return self._opener.open(req, timeout=TIMEOUT)
        except urllib.error.HTTPError as exc:
            if exc.code == 401 and self._auth is None:
                challenge = exc.headers.get("WWW-Authenticate", "")
                exc.close()
                if challenge.lower().startswith("basic"):
                    if self._credentials is None:
                        raise InputError(
                            "registry requires credentials (EDGEGATE_REGISTRY_USERNAME/PASSWORD or docker "
                            "config.json auths)",
                            self.where,
                        ) from None
                    self._auth = _basic(self._credentials)
                else:
                    self._token = self._fetch_token(challenge)
                    self._auth = f"Bearer {self._token}"
                return self._request(url, accept)
            exc.close()
            if exc.code == 401:
                raise InputError("registry refused the credentials or token (HTTP 401)", self.where) from None
            if exc.code == 404:
                raise InputError(f"not found in registry: {url.split('/v2/', 1)[-1]}", self.where) from None
            raise InputError(
                f"registry answered HTTP {exc.code} for {url.split('/v2/', 1)[-1]}", self.where
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise InputError(f"registry unreachable: {reason}", self.where) from None

    def _fetch_token(self, challenge: str) -> str:
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() != "bearer":
            raise InputError(
                "registry requires authentication edgegate does not support (not Bearer)", self.where
            )
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        realm = fields.pop("realm", None)
        if not realm or not realm.startswith(("https://", "http://")):
            raise InputError("registry auth challenge has no usable realm", self.where)
        if realm.startswith("http://") and urllib.parse.urlsplit(realm).hostname not in _LOCAL_HOSTS:
            raise InputError("registry token realm is plain HTTP on a non-local host", self.where)
        if "scope" not in fields:
            fields["scope"] = f"repository:{self.ref.repository}:pull"
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(fields)
        headers = {"User-Agent": "edgegate"}
        if self._credentials is not None:
            headers["Authorization"] = _basic(self._credentials)
        try:
            with self._opener.open(urllib.request.Request(url, headers=headers), timeout=TIMEOUT) as resp:
                body = resp.read(1024 * 1024)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise InputError(f"registry token request refused (HTTP {exc.code})", self.where) from None
        except (urllib.error.URLError, OSError) as exc:
            raise InputError(
                f"registry token request failed: {getattr(exc, 'reason', exc)}", self.where
            ) from None
        try:
            doc = json.loads(body)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise InputError("registry token response has no token", self.where)
        return token

    def manifest(self, reference: str) -> tuple[bytes, str]:
        """The manifest (or index) bytes for a tag or digest, and its digest (checked)."""
        with self._request(f"{self.base}/manifests/{reference}", _ACCEPT) as resp:
            data = resp.read(MAX_MANIFEST + 1)
        if len(data) > MAX_MANIFEST:
            raise InputError("manifest is too large", self.where)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise InputError(f"manifest content does not match digest {reference}", self.where)
        return data, digest

    def read_blob(self, digest: str, max_bytes: int) -> bytes:
        with self._request(f"{self.base}/blobs/{digest}") as resp:
            data = resp.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise InputError(f"blob {digest} is larger than {max_bytes} bytes", self.where)
        return bytes(data)

    def download_blob(self, digest: str, dest: Path, max_bytes: int = MAX_BLOB) -> None:
        """Stream blob `digest` to `dest`, checking its size bound and SHA-256."""
        h = hashlib.sha256()
        total = 0
        with self._request(f"{self.base}/blobs/{digest}") as resp, dest.open("wb") as out:
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                total += len(chunk)
                if total > max_bytes:
                    raise InputError(f"blob {digest} is larger than {max_bytes} bytes", self.where)
                h.update(chunk)
                out.write(chunk)
        if "sha256:" + h.hexdigest() != digest:
            raise InputError(f"blob {digest}: downloaded content does not match its digest", self.where)


class RegistryStore:
    """A `BlobStore` over a registry; layers are cached in a private temp dir."""

    def __init__(self, client: RegistryClient, tmp: Path) -> None:
        self.client = client
        self.tmp = tmp
        self.where = client.where

    def read(self, digest: str, max_bytes: int) -> bytes:
        return self.client.read_blob(digest, max_bytes)

    def read_manifest(self, digest: str, max_bytes: int) -> bytes:
        data, _ = self.client.manifest(digest)
        return data

    def open(self, digest: str) -> BinaryIO:
        dest = self.tmp / digest.replace(":", "-")
        if not dest.is_file():
            self.client.download_blob(digest, dest)
        return dest.open("rb")


def pull(ref: str, *, platform: str, insecure: bool = False) -> OpenedImage:
    """Open a registry image as an `OpenedImage` (layers downloaded on demand)."""
    parsed = parse_reference(ref)
    client = RegistryClient(parsed, insecure=insecure)
    data, digest = client.manifest(parsed.reference)
    try:
        doc = json.loads(data)
    except ValueError:
        raise InputError("registry manifest is not JSON", str(parsed)) from None
    if not isinstance(doc, dict):
        raise InputError("registry manifest is not an object", str(parsed))
    tmp = Path(tempfile.mkdtemp(prefix="edgegate-pull-"))
    os.chmod(tmp, 0o700)
    try:
        info = read_oci(
            RegistryStore(client, tmp),
            doc,
            source=ref,
            kind="registry",
            platform=platform,
            manifest_digest=digest,
        )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    info.name = info.name or str(parsed)
    return OpenedImage(info, [lambda: shutil.rmtree(tmp, ignore_errors=True)])
