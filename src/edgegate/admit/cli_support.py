"""The `edgegate admit` command's plumbing: options from flags and [admit], and ``--pin``."""

from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from edgegate.admit.gate import env_mirrors, options_from_config, parse_mirrors
from edgegate.admit.policy import AttestationRule, ImagePolicy
from edgegate.admit.verify import AdmitOptions
from edgegate.errors import InputError
from edgegate.findings import GateResult
from edgegate.sign.keyless import IdentityPolicy


def _config_for(paths: Sequence[Path], config_file: Path | None) -> tuple[object, dict[str, object]] | None:
    from edgegate.config import find_config, load_config

    start = paths[0] if paths and paths[0].is_dir() else (paths[0].parent if paths else None)
    found = config_file or (find_config(start) if start is not None and start.exists() else None)
    if found is None:
        return None
    cfg = load_config(found)
    section = cfg.section("admit")
    if section is None:
        if config_file is not None:
            raise InputError("config has no [admit] section", config_file)
        return None
    return cfg, section


def build_options(
    paths: Sequence[Path],
    *,
    config_file: Path | None,
    keys: Sequence[Path],
    identity: str | None,
    issuer: str | None,
    github_repository: str | None,
    github_ref: str | None,
    attestations: Sequence[str],
    mirrors: Sequence[str],
    insecure: bool,
    oci_dir: Path | None,
    platform: str | None,
    jobs: int | None,
    staging: bool,
    vuln_db: Path | None = None,
    fail_on: str | None = None,
    sbom_dir: Path | None = None,
    sbom: str | None = None,
) -> tuple[list[str], AdmitOptions]:
    """The manifest paths and options: [admit] (when found) overridden by the flags."""
    from edgegate.config import Config

    run_paths = [str(p) for p in paths]
    found = _config_for(paths, config_file)
    if found is not None:
        cfg, section = found
        assert isinstance(cfg, Config)
        opts = options_from_config(section, cfg)
        project_dir = len(paths) == 1 and paths[0].resolve() in (cfg.root, cfg.path)
        if project_dir:
            run_paths = [cfg.display_path(str(p)) for p in section.get("paths", ["."])]  # type: ignore[attr-defined]
    else:
        opts = AdmitOptions()
    rules = tuple(_attestation(a) for a in attestations)
    has_identity = bool(identity or github_repository)
    if keys or has_identity:
        opts.policies = [
            ImagePolicy(
                name="command line",
                images=("**",),
                keys=tuple(str(k) for k in keys),
                identities=(
                    IdentityPolicy(identity=identity, issuer=issuer, github_repository=github_repository,
                                   github_ref=github_ref),
                ) if has_identity else (),
                attestations=rules,
            )
        ]
    elif rules:
        raise InputError("--attestation needs --key or --identity (who must have signed it)")
    elif not opts.policies:
        raise InputError(
            "no trust given: pass --key PUB or --identity/--issuer, or configure [[admit.policy]] in edgegate.toml"
        )
    opts.mirrors.update(parse_mirrors(list(mirrors)))
    opts.mirrors.update(env_mirrors() if not mirrors else {})
    opts.insecure = opts.insecure or insecure
    if oci_dir is not None:
        opts.oci_dir = oci_dir
    if platform:
        opts.platform = platform
    if jobs is not None:
        if jobs < 1:
            raise InputError("--jobs must be at least 1")
        opts.jobs = jobs
    if staging:
        opts.instance = "staging"
    if vuln_db is not None or fail_on is not None:
        from edgegate.findings import Severity
        from edgegate.vuln.scan import ScanSettings

        settings = opts.vuln if opts.vuln is not None else ScanSettings()
        if vuln_db is not None:
            settings.db = vuln_db
        if fail_on is not None:
            try:
                settings.fail_on = Severity.parse(fail_on)
            except ValueError:
                raise InputError(f"--fail-on {fail_on!r}: expected critical, high, medium, low or info") from None
        if settings.db is None:
            raise InputError("--fail-on needs --vuln-db (or [admit.vuln] db): admit scans offline only")
        opts.vuln = settings
    if sbom_dir is not None:
        opts.sbom_dir = sbom_dir
    if sbom is not None:
        from edgegate.admit.vuln import sbom_mode
        from edgegate.errors import ConfigError

        try:
            opts.sbom = sbom_mode(sbom)
        except ConfigError as exc:
            raise InputError(f"--sbom: {exc.message}") from None
        if opts.vuln is None:
            raise InputError("--sbom needs --vuln-db (or [admit.vuln]): it chooses the SBOM that is scanned")
    return run_paths, opts


def _attestation(spec: str) -> AttestationRule:
    ptype, sep, rules = spec.partition("=")
    if not ptype.strip():
        raise InputError(f"--attestation {spec!r}: the predicate type is empty")
    return AttestationRule(ptype.strip(), (rules.strip(),) if sep and rules.strip() else ())


def pin_manifests(result: GateResult, *, patch: Path | None, write: bool) -> None:
    """Pin every resolved image reference to ``name@digest``: a unified diff to `patch`, and/or
    the manifests rewritten in place (atomically, same mode)."""
    edits: dict[str, dict[int, list[tuple[str, str]]]] = {}
    table = next((t for t in result.stats.get("tables", []) if t.get("title") == "Images"), None)
    for where, image, digest, _verdict in (table or {}).get("rows", []):
        if not digest or "@" in image:
            continue
        path, _, line = str(where).rpartition(":")
        edits.setdefault(path, {}).setdefault(int(line), []).append((image, f"{image}@{digest}"))
    diffs: list[str] = []
    for path, by_line in sorted(edits.items()):
        text = Path(path).read_text(encoding="utf-8")
        lines = text.splitlines(keepends=True)
        new = list(lines)
        for line_no, pairs in by_line.items():
            for old, pinned in set(pairs):
                if 0 < line_no <= len(new) and old in new[line_no - 1]:
                    new[line_no - 1] = new[line_no - 1].replace(old, pinned, 1)
        if new == lines:
            continue
        diffs.extend(difflib.unified_diff(lines, new, fromfile=f"a/{path}", tofile=f"b/{path}"))
        if write:
            _replace(Path(path), "".join(new))
    if patch is not None:
        patch.write_text("".join(diffs), encoding="utf-8")


def _replace(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=".edgegate-pin-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
