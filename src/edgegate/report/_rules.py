"""What the reports say about a rule: a short name, its kind (security or not), help text from
the rule's docs and a link to them. Used by the SARIF rule descriptors.

A rule is looked up by gate and rule id: the shipped rule families by prefix, advisories of the
vuln gate by id (help links to osv.dev), anything else (your own Rego rules) as a policy rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DOCS = "https://github.com/edgegate/edgegate/blob/main/docs/"

SECURITY = "security"
"""The kind whose rules carry GitHub's ``security`` tag and a ``security-severity``."""


@dataclass(frozen=True)
class RuleInfo:
    """How a rule is presented."""

    name: str
    kind: str
    """``security``, ``cost``, ``quality``, ``fairness`` or ``policy``."""
    tags: tuple[str, ...]
    help_text: str
    help_markdown: str
    help_uri: str


@dataclass(frozen=True)
class _Family:
    kind: str
    doc: str
    about: str
    tags: tuple[str, ...] = ()


# The shipped pack's rules by id: (kind, extra tags).
_POLICY_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "EGP001": (SECURITY, ("supply-chain",)),
    "EGP002": (SECURITY, ("supply-chain",)),
    "EGP003": (SECURITY, ("kubernetes",)),
    "EGP004": (SECURITY, ("kubernetes",)),
    "EGP005": ("quality", ("reliability",)),
    "EGP006": ("cost", ("finops",)),
    "EGP007": (SECURITY, ("data-classification",)),
    "EGP008": (SECURITY, ("ai-alignment",)),
    "EGP009": ("cost", ("finops",)),
    "EGP010": ("cost", ("finops",)),
    "EGP011": ("cost", ("finops",)),
    "EGP012": (SECURITY, ("kubernetes", "coverage")),
}

_FAMILIES: list[tuple[str, str, _Family]] = [
    # (gate, rule-id prefix, family); "" matches any gate
    ("", "EGP", _Family(SECURITY, "rules.md#rules", "A rule of the shipped edge-AI rule pack (builtin:edge-ai).")),
    ("", "EGC", _Family("cost", "cost.md#rule-ids", "A FinOps rule of the cost gate: caps, budgets and cost-allocation tags.", ("finops",))),
    ("sbom", "EGS", _Family(SECURITY, "sbom.md#rules", "An SBOM rule: a required SBOM, or what an image or model could not be catalogued from.", ("supply-chain", "sbom"))),
    ("sbom", "EGD", _Family(SECURITY, "sbom.md#rules", "An SBOM rule: a required SBOM, or what an image or model could not be catalogued from.", ("supply-chain", "sbom"))),
    ("", "EGS", _Family(SECURITY, "sign.md#exit-codes-and-reasons", "A signature check: Sigstore bundles, key pairs and OpenSSF model signing.", ("supply-chain", "signature"))),
    ("model-quant", "EGM02", _Family("cost", "model.md#the-finops-link-modelquant-manifests", "The FinOps link: a FinOpsPolicy that requires quantization needs a quantized model file.", ("finops", "model"))),
    ("", "EGM", _Family(SECURITY, "model.md#edgegate-model-scan-path", "An unsafe model file: code that would run when the model is loaded, found without loading it.", ("model",))),
    ("", "EGB", _Family("fairness", "model.md", "A fairness limit of the model bias gate, computed from the predictions per group.", ("model",))),
    ("", "EGV", _Family(SECURITY, "vuln.md#findings-and-reports", "A condition of the vulnerability scan itself (database, ignores, VEX, unscannable components).", ("vulnerability",))),
    ("vuln", "", _Family(SECURITY, "vuln.md#findings-and-reports", "A known vulnerability in a dependency.", ("vulnerability", "dependency"))),
    ("model-quant", "", _Family("quality", "model.md", "A quantization fact or drift limit of the model quant gate.", ("model",))),
    ("model-bias", "", _Family("fairness", "model.md", "A fairness limit of the model bias gate.", ("model",))),
    ("cost", "", _Family("cost", "cost.md", "A FinOps rule of the cost gate.", ("finops",))),
]
_POLICY = _Family("policy", "policy.md", "A rule of your own policy (Rego, conftest semantics).", ("policy",))

_ADVISORY = re.compile(r"^(PYSEC|GHSA|CVE|OSV|RUSTSEC|GO|DSA|DLA|USN|ALSA|ALBA|ALEA|DEBIAN|UBUNTU|MAL|PSF)-", re.I)


def _family(gate: str, rule_id: str) -> _Family:
    for g, prefix, fam in _FAMILIES:
        if (not g or g == gate) and (not prefix or rule_id.startswith(prefix)):
            return fam
    return _POLICY


def short_name(title: str | None, rule_id: str, limit: int = 48) -> str:
    """A rule name in PascalCase from a short title (``ImagePinnedByDigest``), else the id."""
    words = re.findall(r"[A-Za-z0-9]+", title or "")
    name = "".join(w[:1].upper() + w[1:] for w in words)
    if not name or len(name) > limit:
        return re.sub(r"[^A-Za-z0-9]+", "", rule_id.title()) or "Rule"
    return name


def rule_info(gate: str, rule_id: str, title: str | None, details: Mapping[str, Any] | None = None) -> RuleInfo:
    """How rule `rule_id` of `gate` is presented (`title` and `details` from one of its findings)."""
    fam = _family(gate, rule_id)
    kind, tags = fam.kind, fam.tags
    if rule_id in _POLICY_KINDS:
        kind, extra = _POLICY_KINDS[rule_id]
        tags = (*extra,)
    shown_title = title or rule_id
    uri = DOCS + fam.doc
    about = fam.about
    name = short_name(title, rule_id)
    if gate == "vuln" and _ADVISORY.match(rule_id):
        uri = f"https://osv.dev/vulnerability/{rule_id}"
        name = "VulnerableDependency" + re.sub(r"[^A-Za-z0-9]+", "", rule_id.title())
        shown_title = f"Known vulnerability {rule_id}"
        summary = (title or "").strip()
        aliases = details.get("aliases") if isinstance(details, Mapping) else None
        about = f"{rule_id}: {summary}" if summary else f"Advisory {rule_id}."
        if isinstance(aliases, list) and aliases:
            about += f" Aliases: {', '.join(str(a) for a in aliases)}."
    text = f"{shown_title}. {about} Rule {rule_id}, {gate} gate ({kind}). Documentation: {uri}"
    markdown = f"**{_md(shown_title)}** (`{rule_id}`, {gate} gate, {kind})\n\n{_md(about)}\n\n[Documentation]({uri})"
    return RuleInfo(name=name, kind=kind, tags=(gate, kind, *tags), help_text=text, help_markdown=markdown, help_uri=uri)


def _md(text: str) -> str:
    for ch in "\\`*_[]<>|":
        text = text.replace(ch, "\\" + ch)
    return text
