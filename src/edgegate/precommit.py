"""`edgegate precommit FILE...`: the pre-commit hook. Lints the changed files that edgegate.toml's
``[policy] paths`` name, with that section's rules, data, schemas and overrides; Helm templates
(files inside a chart folder) are skipped, other changed files outside the paths are ignored.

Rules that look across documents (FinOpsPolicy caps, EGP009/EGP010) need the FinOpsPolicy objects
of the run: unchanged files under the paths that declare one are evaluated with the changed
files as context, and only findings on the changed files are reported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgegate.config import Config
from edgegate.discover import DOCUMENT_SUFFIXES, is_helm_template
from edgegate.errors import ConfigError, EdgegateError
from edgegate.findings import GateResult, Status
from edgegate.io.files import read_head

_CONTEXT_KINDS = re.compile(rb"^kind:[ \t]*[\"']?FinOpsPolicy\b|\"kind\"\s*:\s*\"FinOpsPolicy\"", re.M)


def _under(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def _context_files(roots: Sequence[Path], changed: set[Path], config: Config) -> list[Path]:
    from edgegate.discover import scan_repo

    out: list[Path] = []
    for root in roots:
        if root.is_file():
            continue
        if not root.is_dir():
            raise ConfigError("no such file or directory", root)
        for rel in scan_repo(root).manifests:
            p = (root / rel).resolve()
            if p in changed or is_helm_template(p, config.root):
                continue
            try:
                if _CONTEXT_KINDS.search(read_head(p, 256 * 1024)):
                    out.append(p)
            except EdgegateError:
                continue
    return out


def lint_changed(files: Sequence[str | Path], config: Config) -> list[GateResult]:
    """The policy gate over the changed `files` that `config` names."""
    section = config.section("policy")
    if section is None:
        raise ConfigError("the edgegate hook lints what [policy] paths name, and there is no [policy]", config.path)
    roots = [config.resolve(p).resolve() for p in section.get("paths", ["."])]
    picked: list[Path] = []
    helm: list[str] = []
    for f in files:
        p = Path(f).resolve()
        if p.suffix.lower() not in DOCUMENT_SUFFIXES or not _under(p, roots) or not p.is_file():
            continue
        if is_helm_template(p, config.root):
            helm.append(str(f))
            continue
        picked.append(p)
    stats: dict[str, Any] = {"changed": len(picked), "helm_templates_skipped": helm}
    if not picked:
        return [GateResult(gate="policy", status=Status.PASSED, stats={**stats, "note": "no changed file in [policy] paths"})]
    from edgegate.policy.gate import run_from_config

    context = _context_files(roots, set(picked), config)
    results = run_from_config({**section, "paths": [str(p) for p in (*picked, *context)]}, config)
    if not context:
        return [_with_stats(r, stats) for r in results]
    keep = {str(p) for p in picked}
    out = []
    for r in results:
        findings = [f for f in r.findings if not f.location.path or str(Path(f.location.path).resolve()) in keep]
        out.append(GateResult.decide(r.gate, findings, errors=r.errors,
                                     stats={**r.stats, **stats, "context": len(context)},
                                     fail_on=_fail_on(section)))
    return out


def _fail_on(section: dict[str, Any]) -> Any:
    from edgegate.findings import Severity

    value = section.get("fail-on")
    return Severity.parse(str(value)) if value else None


def _with_stats(result: GateResult, stats: dict[str, Any]) -> GateResult:
    result.stats.update(stats)
    return result
