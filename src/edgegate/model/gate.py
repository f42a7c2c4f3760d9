"""`edgegate check` entry point for the `[model]` section (sub-tables scan, quant, bias).

It calls the same library functions as `edgegate model scan|quant|bias`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from edgegate.config import Config
from edgegate.errors import ConfigError, EdgegateError
from edgegate.findings import GateResult, Status


def run_from_config(section: Mapping[str, Any], config: Config) -> list[GateResult]:
    """Run every configured model gate: scan, then quant (one result per model), then bias."""
    results: list[GateResult] = []
    if not any(k in section for k in ("scan", "quant", "bias")):
        raise ConfigError("[model] needs at least one of [model.scan], [model.quant], [model.bias]", config.path)
    if "scan" in section:
        results.extend(_guarded("model-scan", lambda: [_scan(section["scan"], config)]))
    if "quant" in section:
        results.extend(_guarded("model-quant", lambda: _quant(section["quant"], config)))
    if "bias" in section:
        entries = section["bias"]
        for entry in entries if isinstance(entries, list) else [entries]:
            results.extend(_guarded("model-bias", functools.partial(_bias_list, entry, config)))
    return results


def _guarded(gate: str, run: Callable[[], list[GateResult]]) -> list[GateResult]:
    """One sub-gate's bad input is that sub-gate's error; the others still run and report."""
    try:
        return run()
    except EdgegateError as exc:
        return [GateResult(gate=gate, status=Status.ERROR, errors=[str(exc)])]


def _scan(cfg: Mapping[str, Any], config: Config) -> GateResult:
    from edgegate.model.scan import ScanOptions, scan_paths

    paths = cfg.get("paths") or []
    if not paths:
        raise ConfigError("[model.scan] needs 'paths'", config.path)
    opts = ScanOptions(
        strict=bool(cfg.get("strict", False)),
        allow=frozenset(cfg.get("allow", [])),
        deny=frozenset(cfg.get("deny", [])),
        max_member_bytes=int(cfg.get("max-member-mb", 1024)) * 1024 * 1024,
    )
    return scan_paths([config.resolve(p) for p in paths], opts)


_DRIFT_KEYS = {
    "max-abs-error": "max_abs_error",
    "mean-abs-error": "mean_abs_error",
    "min-cosine": "min_cosine",
    "min-top1-agreement": "min_top1_agreement",
    "max-size-ratio": "max_size_ratio",
    "max-latency-ratio": "max_latency_ratio",
}


def _quant(cfg: Mapping[str, Any], config: Config) -> list[GateResult]:
    from edgegate.model.quant import DriftThresholds, run_quant

    models = cfg.get("models") or []
    manifests = cfg.get("manifests") or []
    if not models and not manifests:
        raise ConfigError(
            "[model.quant] needs [[model.quant.models]] entries or 'manifests' (the FinOps link)", config.path
        )
    out = []
    if manifests:
        from edgegate.model.finops_link import check_required_quantization

        out.append(
            check_required_quantization(
                [config.resolve(p) for p in manifests],
                [config.resolve(p) for p in cfg.get("model-dirs") or []],
            )
        )
    for entry in models:
        merged = {
            **{k: v for k, v in cfg.items() if k not in ("models", "manifests", "model-dirs")},
            **entry,
        }
        defaults = DriftThresholds()
        thresholds = DriftThresholds(
            **{attr: merged.get(key, getattr(defaults, attr)) for key, attr in _DRIFT_KEYS.items()}
        )
        reference = merged.get("reference")
        inputs = merged.get("inputs")
        shapes = {str(k): [int(d) for d in v] for k, v in (merged.get("shapes") or {}).items()}
        out.append(
            run_quant(
                config.resolve(merged["path"]),
                reference=config.resolve(reference) if reference else None,
                inputs=config.resolve(inputs) if inputs else None,
                thresholds=thresholds,
                require_quantized=bool(merged.get("require-quantized", False)),
                samples=int(merged.get("samples", 16)),
                runs=int(merged.get("runs", 20)),
                seed=int(merged.get("seed", 0)),
                shapes=shapes,
                top1_outputs=merged.get("top1-outputs") or None,
            )
        )
    return out


_BIAS_KEYS = {
    "max-fpr-gap": "max_fpr_gap",
    "max-fnr-gap": "max_fnr_gap",
    "min-disparate-impact": "min_disparate_impact",
    "max-demographic-parity-difference": "max_demographic_parity_difference",
    "min-demographic-parity-ratio": "min_demographic_parity_ratio",
    "max-equalized-odds-difference": "max_equalized_odds_difference",
}


def _bias_list(cfg: Mapping[str, Any], config: Config) -> list[GateResult]:
    return [_bias(cfg, config)]


def _bias(cfg: Mapping[str, Any], config: Config) -> GateResult:
    from edgegate.model.bias import BiasSpec, Thresholds, run_bias

    for key in ("predictions", "label", "group"):
        if key not in cfg:
            raise ConfigError(f"[model.bias] needs '{key}'", config.path)
    positive_values = cfg.get("positive-values")
    group = cfg["group"]
    spec = BiasSpec(
        label=cfg["label"],
        group=group if isinstance(group, str) else tuple(map(str, group)),
        prediction=cfg.get("prediction"),
        score=cfg.get("score"),
        threshold=cfg.get("threshold"),
        privileged=cfg.get("privileged"),
        positive_label=None if cfg.get("positive-label") is None else str(cfg["positive-label"]),
        positive_values=frozenset(map(str, positive_values)) if positive_values else None,
        favourable_label=None if cfg.get("favourable-label") is None else str(cfg["favourable-label"]),
        min_group_size=int(cfg.get("min-group-size", 1)),
    )
    defaults = Thresholds()
    thresholds = Thresholds(**{attr: cfg.get(key, getattr(defaults, attr)) for key, attr in _BIAS_KEYS.items()})
    return run_bias(config.resolve(cfg["predictions"]), spec, thresholds)
