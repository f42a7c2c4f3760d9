"""GitHub artifact attestations of an image, read from GitHub's REST API as ``gh attestation
verify`` reads them.

``GET {api}/repos/{owner}/{repo}/attestations/sha256:{hex}`` (or ``/orgs/{org}/…``) answers
``{"attestations": [{"bundle": <Sigstore bundle v0.3>, …}]}``. Each bundle's DSSE envelope is
handed to the same verification as cosign's attestations (`edgegate.admit.bundles`): keyless,
through sigstore-python, against the policy's identities, and its in-toto subject must be the
image digest. Nothing the API says is trusted by itself: an attestation that does not verify is
never used.

The token is gh's: ``GH_TOKEN`` or ``GITHUB_TOKEN`` for api.github.com, ``GH_ENTERPRISE_TOKEN``
or ``GITHUB_ENTERPRISE_TOKEN`` for any other ``github-api`` (GitHub Enterprise Server), so a
config that names another host never receives the github.com token. It is sent only to the API
origin (redirects are refused, so it cannot follow one elsewhere) and never printed. Plain
HTTP is refused except to localhost. Responses are bounded (`MAX_RESPONSE` per page,
`MAX_PAGES` pages). HTTP 404 is GitHub's answer for "no attestation of this digest" (or a
repository the token cannot see): the required attestation is missing (exit 1). 401/403, other
statuses, an unreachable API or a malformed answer are errors (exit 2).
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from edgegate.admit.bundles import Envelope, envelope_from_bundle
from edgegate.admit.cosign import MALFORMED, NO_ATTESTATION, AdmitFailure
from edgegate.errors import ConfigError, InputError

DEFAULT_API = "https://api.github.com"
TOKEN_ENV = ("GH_TOKEN", "GITHUB_TOKEN")
ENTERPRISE_TOKEN_ENV = ("GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN")
MAX_RESPONSE = 16 * 1024 * 1024
"""Largest API response page read."""
MAX_PAGES = 10
PER_PAGE = 100
TIMEOUT = 30
_LOCAL = {"localhost", "127.0.0.1", "::1"}
_OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
_REPO = re.compile(r"[A-Za-z0-9._-]{1,100}")
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


class GitHubAPIError(InputError):
    """The attestation API could not be read (exit 2)."""


@dataclass(frozen=True)
class GitHubAttestations:
    """Where an image's GitHub attestations are looked up: ``owner/repo`` or an organisation."""

    owner: str
    api: str = DEFAULT_API

    def __post_init__(self) -> None:
        owner, _, repo = self.owner.partition("/")
        if not _OWNER.fullmatch(owner) or (repo and (not _REPO.fullmatch(repo) or repo in (".", ".."))):
            raise ConfigError(f"github-attestations {self.owner!r} is not OWNER/REPO or an organisation name")
        parts = urllib.parse.urlsplit(self.api)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigError(f"github-api {self.api!r} is not an http(s) URL")
        if parts.scheme == "http" and parts.hostname not in _LOCAL:
            raise ConfigError(f"github-api {self.api!r}: plain HTTP is allowed for localhost only")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ConfigError(f"github-api {self.api!r} must be a plain base URL (no query or credentials)")

    def url(self, digest: str) -> str:
        kind = "repos" if "/" in self.owner else "orgs"
        base = self.api.rstrip("/")
        return f"{base}/{kind}/{self.owner}/attestations/{urllib.parse.quote(digest, safe=':')}?per_page={PER_PAGE}"

    def describe(self) -> str:
        return f"GitHub {'repository' if '/' in self.owner else 'organisation'} {self.owner}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _token_names(api: str) -> tuple[str, ...]:
    github_com = urllib.parse.urlsplit(api).hostname == urllib.parse.urlsplit(DEFAULT_API).hostname
    return TOKEN_ENV if github_com else ENTERPRISE_TOKEN_ENV


def _token(api: str) -> str | None:
    for name in _token_names(api):
        value = os.environ.get(name)
        if value:
            return value
    return None


def _same_origin(url: str, base: str) -> bool:
    a, b = urllib.parse.urlsplit(url), urllib.parse.urlsplit(base)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def _get(url: str, where: GitHubAttestations, token: str | None) -> tuple[int, Any, bytes]:
    headers = {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "edgegate",
    }
    if token:
        headers["Authorization"] = f"Bearer {token}"
    opener = urllib.request.build_opener(_NoRedirect)
    req = urllib.request.Request(url, headers=headers)
    shown = where.describe()
    try:
        with opener.open(req, timeout=TIMEOUT) as resp:
            body = resp.read(MAX_RESPONSE + 1)
            if len(body) > MAX_RESPONSE:
                raise GitHubAPIError(f"{shown}: attestation API response is larger than {MAX_RESPONSE} bytes")
            return int(resp.status), resp.headers, bytes(body)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code, exc.headers, b""
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise GitHubAPIError(f"{shown}: attestation API unreachable: {reason}") from None


def fetch_bundles(where: GitHubAttestations, digest: str) -> list[tuple[str, bytes]]:
    """The bundles GitHub holds for `digest`: (origin, bundle JSON bytes). None found (HTTP 404
    or an empty list) is `AdmitFailure`; other API failures are `GitHubAPIError`."""
    token = _token(where.api)
    url: str | None = where.url(digest)
    shown = where.describe()
    out: list[tuple[str, bytes]] = []
    pages = 0
    while url is not None:
        pages += 1
        if pages > MAX_PAGES:
            raise GitHubAPIError(f"{shown}: more than {MAX_PAGES} pages of attestations for {digest}")
        status, headers, body = _get(url, where, token)
        if status == 404 and pages == 1:
            raise AdmitFailure(
                NO_ATTESTATION,
                f"{shown} has no attestation of {digest} (HTTP 404: none, or not visible to the token)",
            )
        if status in (401, 403):
            hint = f"set {' or '.join(_token_names(where.api))}" if token is None else "check the token's access"
            raise GitHubAPIError(f"{shown}: attestation API refused access (HTTP {status}; {hint})")
        if 300 <= status < 400:
            raise GitHubAPIError(f"{shown}: attestation API answered a redirect (HTTP {status}); not followed")
        if status != 200:
            raise GitHubAPIError(f"{shown}: attestation API answered HTTP {status}")
        out.extend(_bundles(body, shown, len(out)))
        link = headers.get("Link", "") if headers else ""
        found = _NEXT.search(link or "")
        url = urllib.parse.urljoin(url, found.group(1)) if found else None
        if url is not None and not _same_origin(url, where.api):
            raise GitHubAPIError(f"{shown}: attestation API's next page is on another origin; not followed")
    if not out:
        raise AdmitFailure(NO_ATTESTATION, f"{shown} has no attestation of {digest}")
    return out


def _bundles(body: bytes, shown: str, start: int) -> list[tuple[str, bytes]]:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise GitHubAPIError(f"{shown}: attestation API response is not JSON") from None
    items = doc.get("attestations") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise GitHubAPIError(f"{shown}: attestation API response has no attestations list")
    out = []
    for i, item in enumerate(items, start + 1):
        origin = f"{shown} attestation {i}"
        bundle = item.get("bundle") if isinstance(item, dict) else None
        if isinstance(bundle, dict):
            out.append((origin, json.dumps(bundle).encode()))
        else:
            # `bundle_url` alone (a snappy-compressed blob elsewhere) is not read: kept as a
            # bundle that cannot verify, so it is never used.
            out.append((origin, b""))
    return out


def github_envelopes(where: GitHubAttestations, digest: str) -> tuple[list[Envelope], list[str]]:
    """The DSSE envelopes of GitHub's attestations of `digest`, and why others were unusable (or
    why there are none); API failures are `GitHubAPIError`."""
    envelopes: list[Envelope] = []
    unusable: list[str] = []
    try:
        found = fetch_bundles(where, digest)
    except AdmitFailure as exc:
        return [], [exc.reason]
    for origin, data in found:
        if not data:
            unusable.append(f"{origin}: no inline bundle (bundle_url only is not read)")
            continue
        try:
            envelopes.append(envelope_from_bundle(data, origin))
        except AdmitFailure as exc:
            if exc.rule_id != MALFORMED:
                raise
            unusable.append(exc.reason)
    return envelopes, unusable
