"""Per-image policy: which repositories need which signers and attestations, like Sigstore
policy-controller's ``ClusterImagePolicy``.

An image matches a policy when its normalised name (``registry/repository``, Docker's defaults
applied: ``python`` is ``docker.io/library/python``) matches one of the policy's globs: ``*``
matches within one path segment, ``**`` across segments. The first matching policy applies; an
image no policy covers is refused (fail closed). ``mode = "warn"`` reports failures without
failing the gate.

``github-attestations = "OWNER/REPO"`` (or an organisation) also reads the image's attestations
from GitHub's artifact attestation API (``github-api``: another base URL, e.g. GitHub Enterprise
Server's ``https://HOST/api/v3``); they are verified keylessly against the policy's
``identities``, so it needs at least one. Without ``attestations`` it requires SLSA provenance
v1, as ``gh attestation verify`` does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edgegate.errors import ConfigError
from edgegate.sign.keyless import IdentityPolicy

if TYPE_CHECKING:
    from edgegate.admit.github import GitHubAttestations

MODES = ("enforce", "warn")
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"


@dataclass(frozen=True)
class AttestationRule:
    """An attestation every matching image must carry, and the Rego that judges its predicate."""

    predicate_type: str
    rules: tuple[str, ...] = ()
    """Rego files/folders (``builtin:…`` allowed): ``deny``/``violation`` over the statement."""
    namespace: str = "main"


@dataclass(frozen=True)
class ImagePolicy:
    """Who must have signed the images matching `images`, and which attestations they need."""

    name: str
    images: tuple[str, ...]
    keys: tuple[str, ...] = ()
    identities: tuple[IdentityPolicy, ...] = ()
    attestations: tuple[AttestationRule, ...] = ()
    mode: str = "enforce"
    signed: bool = True
    """False: no signature is required (only the attestations, if any)."""
    github: GitHubAttestations | None = None
    """Also read attestations from GitHub's artifact attestation API."""
    _patterns: tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"image policy {self.name!r}: mode must be enforce or warn, not {self.mode!r}")
        if self.signed and not self.keys and not self.identities:
            raise ConfigError(
                f"image policy {self.name!r} requires signatures but names no key or identity "
                "(set keys/identities, or signed = false)"
            )
        if self.github is not None and not self.identities:
            raise ConfigError(
                f"image policy {self.name!r}: github-attestations are verified keylessly and need identities "
                "(e.g. identities = [{ github-repository = \"OWNER/REPO\" }])"
            )
        object.__setattr__(self, "_patterns", tuple(glob_regex(g) for g in self.images))

    def matches(self, name: str) -> bool:
        return any(p.fullmatch(name) for p in self._patterns)

    @property
    def enforced(self) -> bool:
        return self.mode == "enforce"


def glob_regex(glob: str) -> re.Pattern[str]:
    """``*`` within a segment, ``**`` across segments, ``?`` one character."""
    out = []
    i = 0
    while i < len(glob):
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(out))


def select(policies: Sequence[ImagePolicy], name: str) -> ImagePolicy | None:
    """The first policy whose globs match `name`."""
    return next((p for p in policies if p.matches(name)), None)


def policies_from_config(items: Sequence[Mapping[str, Any]], resolve: Any) -> list[ImagePolicy]:
    """``[[admit.policy]]`` tables → policies; `resolve` makes config paths absolute."""
    out = []
    for i, item in enumerate(items):
        name = str(item.get("name") or f"policy {i + 1}")
        atts = tuple(
            AttestationRule(
                predicate_type=str(a["predicate-type"]),
                rules=tuple(r if str(r).startswith("builtin:") else str(resolve(r)) for r in a.get("rules", [])),
                namespace=str(a.get("namespace", "main")),
            )
            for a in item.get("attestations", [])
        )
        github = None
        if item.get("github-attestations") is not None:
            from edgegate.admit.github import DEFAULT_API, GitHubAttestations

            github = GitHubAttestations(str(item["github-attestations"]), str(item.get("github-api") or DEFAULT_API))
            if not atts:
                atts = (AttestationRule(SLSA_PROVENANCE_V1),)
        elif item.get("github-api") is not None:
            raise ConfigError(f"image policy {name!r}: github-api without github-attestations")
        out.append(
            ImagePolicy(
                name=name,
                images=tuple(str(g) for g in item["images"]),
                keys=tuple(str(resolve(k)) for k in item.get("keys", [])),
                identities=tuple(IdentityPolicy.from_config(x) for x in item.get("identities", [])),
                attestations=atts,
                mode=str(item.get("mode", "enforce")),
                signed=bool(item.get("signed", True)),
                github=github,
            )
        )
    return out
