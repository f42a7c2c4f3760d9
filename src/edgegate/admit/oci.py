"""What `admit` needs from an OCI registry beyond pulling: manifests by tag or digest with their
media type, missing-is-``None`` lookups (a signature tag that is not there), the referrers API
with the referrers-tag fallback, and pushing blobs and manifests (for ``sign --image``).

Built on `edgegate.sbom.registry.RegistryClient` (its reference parsing, token and basic auth,
localhost-only plain HTTP); Docker credential helpers are added by `edgegate.admit.credentials`.
Every body is read with a bound; every manifest fetched by digest is checked against it.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol

from edgegate.errors import InputError
from edgegate.sbom.registry import TIMEOUT, Reference, RegistryClient, _basic

MAX_MANIFEST = 4 * 1024 * 1024
"""Largest image manifest, index or signature manifest accepted."""
MAX_SIGNATURE_BLOB = 4 * 1024 * 1024
"""Largest signature payload, DSSE envelope or bundle read."""

INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
ACCEPT = ", ".join(INDEX_TYPES + MANIFEST_TYPES)


class RegistryStatusError(InputError):
    """The registry answered with an HTTP error status (or could not be reached: status 0)."""

    def __init__(self, message: str, where: str, status: int) -> None:
        super().__init__(message, where)
        self.status = status


@dataclass(frozen=True)
class Manifest:
    """A manifest or index: its bytes, digest (computed), media type and parsed document."""

    data: bytes
    digest: str
    media_type: str
    doc: dict[str, Any]

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES or (
            "manifests" in self.doc and "layers" not in self.doc
        )


def parse_manifest(data: bytes, where: str, expected: str | None = None) -> Manifest:
    """Parse manifest bytes; a digest mismatch, non-JSON or non-object → `InputError`."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if expected is not None and expected != digest:
        raise InputError(f"manifest content does not match digest {expected}", where)
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise InputError("manifest is not JSON", where) from None
    if not isinstance(doc, dict):
        raise InputError("manifest is not a JSON object", where)
    media = doc.get("mediaType")
    if not isinstance(media, str):
        media = INDEX_TYPES[0] if "manifests" in doc else MANIFEST_TYPES[0]
    return Manifest(data, digest, media, doc)


class ImageSource(Protocol):
    """Where images and their signatures are read from: a registry or an OCI layout directory."""

    def manifest(self, ref: Reference, reference: str, *, missing_ok: bool = False) -> Manifest | None: ...

    def blob(self, ref: Reference, digest: str, max_bytes: int) -> bytes: ...

    def referrers(self, ref: Reference, digest: str) -> list[dict[str, Any]]: ...


class OciClient(RegistryClient):
    """A `RegistryClient` for one repository with status-aware requests and pushing."""

    def __init__(self, ref: Reference, *, insecure: bool = False) -> None:
        super().__init__(ref, insecure=insecure)
        if self._credentials is None:
            from edgegate.admit.credentials import helper_credentials

            self._credentials = helper_credentials(ref.registry)
        self.where = f"{ref.registry}/{ref.repository}"

    def call(
        self,
        method: str,
        url: str,
        *,
        accept: str | None = None,
        data: bytes | None = None,
        content_type: str | None = None,
        max_bytes: int = MAX_MANIFEST,
        allow: tuple[int, ...] = (),
    ) -> tuple[int, Any, bytes]:
        """One request; returns (status, headers, body). Statuses in `allow` are returned; other
        errors raise `RegistryStatusError` naming the repository."""
        headers = {"User-Agent": "edgegate"}
        if accept:
            headers["Accept"] = accept
        if content_type:
            headers["Content-Type"] = content_type
        if self._auth:
            headers["Authorization"] = self._auth
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with self._opener.open(req, timeout=TIMEOUT) as resp:
                body = resp.read(max_bytes + 1)
                if len(body) > max_bytes:
                    raise InputError(f"registry response larger than {max_bytes} bytes", self.where)
                return int(resp.status), resp.headers, bytes(body)
        except urllib.error.HTTPError as exc:
            challenge = exc.headers.get("WWW-Authenticate", "") if exc.headers else ""
            exc.close()
            if exc.code == 401 and self._auth is None and challenge:
                self._authenticate(challenge)
                return self.call(
                    method, url, accept=accept, data=data, content_type=content_type,
                    max_bytes=max_bytes, allow=allow,
                )
            if exc.code in allow:
                return exc.code, exc.headers, b""
            what = urllib.parse.urlsplit(url).path.split("/v2/", 1)[-1]
            if exc.code in (401, 403):
                raise RegistryStatusError(
                    f"registry refused access (HTTP {exc.code}) to {what}", self.where, exc.code
                ) from None
            if exc.code == 404:
                raise RegistryStatusError(f"not found in registry: {what}", self.where, 404) from None
            raise RegistryStatusError(f"registry answered HTTP {exc.code} for {what}", self.where, exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RegistryStatusError(f"registry unreachable: {reason}", self.where, 0) from None

    def _authenticate(self, challenge: str) -> None:
        if challenge.lower().startswith("basic"):
            if self._credentials is None:
                raise RegistryStatusError(
                    "registry requires credentials (EDGEGATE_REGISTRY_USERNAME/PASSWORD, docker "
                    "config.json auths or a credential helper)",
                    self.where,
                    401,
                )
            self._auth = _basic(self._credentials)
        else:
            self._token = self._fetch_token(challenge)
            self._auth = f"Bearer {self._token}"

    def get_manifest(self, reference: str, *, missing_ok: bool = False) -> Manifest | None:
        """The manifest for a tag or digest; ``None`` for 404 when `missing_ok`."""
        status, headers, body = self.call(
            "GET", f"{self.base}/manifests/{reference}", accept=ACCEPT,
            allow=(404,) if missing_ok else (),
        )
        if status == 404:
            return None
        expected = reference if reference.startswith("sha256:") else None
        m = parse_manifest(body, f"{self.where}:{reference}", expected)
        header_type = (headers.get("Content-Type") or "").split(";")[0].strip()
        if "mediaType" not in m.doc and header_type:
            m = Manifest(m.data, m.digest, header_type, m.doc)
        return m

    def get_blob(self, digest: str, max_bytes: int) -> bytes:
        """A blob by digest, bounded and checked."""
        _, _, body = self.call("GET", f"{self.base}/blobs/{digest}", max_bytes=max_bytes)
        if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            raise InputError(f"blob {digest} does not match its digest", self.where)
        return body

    def get_referrers(self, digest: str) -> list[dict[str, Any]]:
        """Descriptors of the manifests whose subject is `digest`: the referrers API, else
        (a registry without it, such as distribution 2.x) the ``sha256-<hex>`` fallback tag."""
        status, _, body = self.call(
            "GET", f"{self.base}/referrers/{digest}", accept=INDEX_TYPES[0], allow=(404, 405, 400)
        )
        if status == 200:
            index = parse_manifest(body, f"{self.where}: referrers of {digest}")
            return _descriptors(index, self.where)
        fallback = self.get_manifest(fallback_tag(digest), missing_ok=True)
        if fallback is None:
            return []
        return _descriptors(fallback, self.where)

    def push_blob(self, data: bytes) -> str:
        """Upload a blob (monolithic POST then PUT); returns its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        status, _, _ = self.call("HEAD", f"{self.base}/blobs/{digest}", allow=(404,))
        if status == 200:
            return digest
        _, headers, _ = self.call("POST", f"{self.base}/blobs/uploads/", data=b"")
        location = headers.get("Location") or ""
        if not location:
            raise InputError("registry gave no upload location", self.where)
        if location.startswith("/"):
            parts = urllib.parse.urlsplit(self.base)
            location = f"{parts.scheme}://{parts.netloc}{location}"
        sep = "&" if "?" in location else "?"
        self.call(
            "PUT", f"{location}{sep}digest={urllib.parse.quote(digest)}", data=data,
            content_type="application/octet-stream",
        )
        return digest

    def push_manifest(self, reference: str, data: bytes, media_type: str) -> str:
        """PUT a manifest under a tag or digest; returns its digest."""
        self.call("PUT", f"{self.base}/manifests/{reference}", data=data, content_type=media_type)
        return "sha256:" + hashlib.sha256(data).hexdigest()


def fallback_tag(digest: str) -> str:
    """The referrers-tag-schema tag for `digest` (``sha256-<hex>``)."""
    return digest.replace(":", "-")


def _descriptors(index: Manifest, where: str) -> list[dict[str, Any]]:
    items = index.doc.get("manifests")
    if items is None:
        return []
    if not isinstance(items, list):
        raise InputError("referrers index: 'manifests' is not a list", where)
    return [d for d in items if isinstance(d, dict) and isinstance(d.get("digest"), str)]


class RegistrySource:
    """An `ImageSource` over registries: one `OciClient` per repository, reused by every lookup.
    `mirrors` maps a registry host to the host that serves it (``registry.example=127.0.0.1:5000``)."""

    def __init__(self, *, insecure: bool = False, mirrors: dict[str, str] | None = None) -> None:
        import threading

        self.insecure = insecure
        self.mirrors = dict(mirrors or {})
        self._clients: dict[tuple[str, str], OciClient] = {}
        self._lock = threading.Lock()

    def served(self, ref: Reference) -> Reference:
        host = self.mirrors.get(ref.registry)
        return Reference(host, ref.repository, ref.tag, ref.digest) if host else ref

    def client(self, ref: Reference) -> OciClient:
        real = self.served(ref)
        key = (real.registry, real.repository)
        with self._lock:
            found = self._clients.get(key)
            if found is None:
                found = OciClient(real, insecure=self.insecure and real.host in _LOCAL)
                self._clients[key] = found
            return found

    def manifest(self, ref: Reference, reference: str, *, missing_ok: bool = False) -> Manifest | None:
        return self.client(ref).get_manifest(reference, missing_ok=missing_ok)

    def blob(self, ref: Reference, digest: str, max_bytes: int) -> bytes:
        return self.client(ref).get_blob(digest, max_bytes)

    def referrers(self, ref: Reference, digest: str) -> list[dict[str, Any]]:
        return self.client(ref).get_referrers(digest)


_LOCAL = {"localhost", "127.0.0.1", "::1", "[::1]"}
