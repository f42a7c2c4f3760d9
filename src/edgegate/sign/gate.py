"""`[verify]` in edgegate.toml → the same `verify_gate` the `edgegate verify` command runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgegate.config import Config
from edgegate.findings import GateResult
from edgegate.sign.keyless import IdentityPolicy
from edgegate.sign.verify import VerifyRequest, default_bundle, verify_gate

_TRUST_KEYS = (
    "key",
    "identity",
    "issuer",
    "github-repository",
    "github-ref",
    "github-workflow",
    "github-trigger",
    "github-sha",
    "instance",
    "offline",
    "allow-symlinks",
)




def requests_from_config(section: Mapping[str, Any], config: Config) -> list[VerifyRequest]:
    """One `VerifyRequest` per ``[[verify.artifacts]]`` entry, section-level keys as defaults.

    An artifact gives either its own key or its own identity policy; a section-level default of
    the other kind does not mix in.
    """
    defaults = {k: section[k] for k in _TRUST_KEYS if k in section}
    out: list[VerifyRequest] = []
    for item in section.get("artifacts", []):
        own = {k: item[k] for k in _TRUST_KEYS if k in item}
        has_key = "key" in own
        has_identity = any(k in own for k in ("identity", "issuer", "github-repository"))
        merged = dict(defaults)
        if has_key:
            for k in ("identity", "issuer", "github-repository", "github-ref", "github-workflow",
                      "github-trigger", "github-sha"):
                merged.pop(k, None)
        if has_identity:
            merged.pop("key", None)
        merged.update(own)
        path = config.resolve(item["path"])
        bundle = config.resolve(item["bundle"]) if "bundle" in item else default_bundle(path)
        out.append(
            VerifyRequest(
                path=path,
                bundle=bundle,
                key=config.resolve(merged["key"]) if "key" in merged else None,
                policy=IdentityPolicy.from_config(merged),
                kind=str(item.get("kind", "auto")),
                instance=str(merged.get("instance", "production")),
                offline=bool(merged.get("offline", True)),
                allow_symlinks=bool(merged.get("allow-symlinks", False)),
                shown=config.display_path(item["path"]),
            )
        )
    return out


def run_from_config(section: Mapping[str, Any], config: Config) -> list[GateResult]:
    from edgegate.progress import shared

    # inside `edgegate check` on a terminal: hashing shows its bytes in check's one display
    return [verify_gate(requests_from_config(section, config), progress=shared() is not None)]
