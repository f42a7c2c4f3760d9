"""`edgegate model scan|quant|bias`. Engines are imported inside the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgegate._cli import DebugOpt, FormatOpt, OutputOpt, run_command
from edgegate.findings import GateResult

app = typer.Typer(
    help="Model gates: unsafe model files (scan), quantization facts and drift (quant), fairness (bias).",
    no_args_is_help=True,
)


@app.command("scan")
def scan(
    paths: Annotated[list[Path], typer.Argument(help="Model files or folders (scanned recursively).")],
    strict: Annotated[
        bool, typer.Option("--strict", help="Unknown imports and custom Keras objects fail (uninspected files always fail).")
    ] = False,
    allow: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--allow", help="Treat the pickle import MODULE.NAME as safe (repeatable)."),
    ] = None,
    deny: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--deny", help="Treat imports from MODULE or MODULE.NAME as dangerous (repeatable)."),
    ] = None,
    max_member_mb: Annotated[
        int, typer.Option("--max-member-mb", min=1, help="Largest archive member read, in MiB.")
    ] = 1024,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Find code-execution risks in model files without loading them (pickle, PyTorch, NumPy,
    joblib, Keras, ONNX external data, safetensors, GGUF, zip/7z). Exit 1 on a dangerous file."""

    def produce() -> list[GateResult]:
        from edgegate.model.scan import ScanOptions, scan_paths

        opts = ScanOptions(
            strict=strict,
            allow=frozenset(allow or ()),
            deny=frozenset(deny or ()),
            max_member_bytes=max_member_mb * 1024 * 1024,
        )
        return [scan_paths(paths, opts)]

    raise typer.Exit(run_command(produce, formats=fmt, output=output, debug=debug, command="edgegate model scan"))


@app.command("quant")
def quant(
    model: Annotated[Path, typer.Argument(help="The ONNX model to check.")],
    reference: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--reference", "-r", help="The fp32 model to compare outputs, size and latency against."),
    ] = None,
    inputs: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--inputs", help="A .npz/.npy file or folder of them (default: seeded random inputs)."),
    ] = None,
    require_quantized: Annotated[
        bool, typer.Option("--require-quantized", help="Fail when the model is not quantized.")
    ] = False,
    max_abs_error: Annotated[Optional[float], typer.Option(help="Fail above this max abs error.")] = None,  # noqa: UP045
    mean_abs_error: Annotated[Optional[float], typer.Option(help="Fail above this mean abs error.")] = None,  # noqa: UP045
    min_cosine: Annotated[float, typer.Option(help="Fail below this cosine similarity.")] = 0.99,
    min_top1: Annotated[float, typer.Option(help="Fail below this top-1 agreement (classifiers).")] = 0.98,
    max_size_ratio: Annotated[Optional[float], typer.Option(help="Fail above this size ratio.")] = None,  # noqa: UP045
    max_latency_ratio: Annotated[Optional[float], typer.Option(help="Fail above this latency ratio.")] = None,  # noqa: UP045
    samples: Annotated[int, typer.Option(min=1, help="Random input samples when --inputs is not given.")] = 16,
    runs: Annotated[int, typer.Option(min=1, help="Timed runs per model (median is reported).")] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the random inputs.")] = 0,
    shape: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--shape", help="Random inputs: NAME=1x3x224x224 sets the dynamic dimensions (repeatable)."),
    ] = None,
    top1_output: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--top1-output", help="Output holding class scores on its last axis (repeatable; default: "
                                            "Softmax/LogSoftmax outputs and rank-2 linear heads)."),
    ] = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Is the ONNX model quantized (QDQ, QLinear*, integer ops, low-precision weights)? With
    --reference: output drift, size and latency ratios against the fp32 model."""

    def produce() -> list[GateResult]:
        from edgegate.model.drift import parse_shapes
        from edgegate.model.quant import DriftThresholds, run_quant

        t = DriftThresholds(
            max_abs_error=max_abs_error,
            mean_abs_error=mean_abs_error,
            min_cosine=min_cosine,
            min_top1_agreement=min_top1,
            max_size_ratio=max_size_ratio,
            max_latency_ratio=max_latency_ratio,
        )
        return [
            run_quant(model, reference=reference, inputs=inputs, thresholds=t, require_quantized=require_quantized,
                      samples=samples, runs=runs, seed=seed, shapes=parse_shapes(shape or []),
                      top1_outputs=top1_output or None)
        ]

    raise typer.Exit(run_command(produce, formats=fmt, output=output, debug=debug, command="edgegate model quant"))


@app.command("bias")
def bias(
    predictions: Annotated[Path, typer.Argument(help="CSV (or Parquet / JSON lines with pandas) of predictions.")],
    label: Annotated[str, typer.Option("--label", help="Column with the true binary label.")],
    group: Annotated[
        list[str], typer.Option("--group", help="Column with a sensitive attribute; repeat it for intersectional "
                                                 "groups (--group race --group sex).")
    ],
    prediction: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--prediction", help="Column with the binary (or categorical) prediction."),
    ] = None,
    score: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--score", help="Column with a score; prediction = score >= --threshold."),
    ] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="Score threshold.")] = None,  # noqa: UP045
    privileged: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--privileged", help="Reference group for gaps and disparate impact."),
    ] = None,
    positive_label: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--positive-label", help="Label value meaning positive (default 1/true/yes)."),
    ] = None,
    positive_values: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--positive-values", help="Comma-separated prediction values meaning positive, e.g. Medium,High."),
    ] = None,
    favourable_label: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--favourable-label", help="The prediction value that is the favourable outcome (1, 0, or a "
                                                 "categorical value such as Low); default: judge both outcomes."),
    ] = None,
    min_group_size: Annotated[
        int, typer.Option("--min-group-size", min=1, help="Groups with fewer rows are reported but not judged.")
    ] = 1,
    max_fpr_gap: Annotated[float, typer.Option(help="Fail above this FPR gap.")] = 0.10,
    max_fnr_gap: Annotated[float, typer.Option(help="Fail above this FNR gap.")] = 0.10,
    min_disparate_impact: Annotated[float, typer.Option(help="Fail below this ratio (four-fifths rule).")] = 0.80,
    max_dp_difference: Annotated[
        Optional[float], typer.Option(help="Fail above this demographic parity difference.")  # noqa: UP045
    ] = None,
    min_dp_ratio: Annotated[Optional[float], typer.Option(help="Fail below this demographic parity ratio.")] = None,  # noqa: UP045
    max_eo_difference: Annotated[
        Optional[float], typer.Option(help="Fail above this equalized odds difference.")  # noqa: UP045
    ] = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Group fairness of a binary classifier: per-group rates, parity and odds gaps, the
    four-fifths rule. Exit 1 when a limit is exceeded, 2 on unusable data."""

    def produce() -> list[GateResult]:
        from edgegate.model.bias import BiasSpec, Thresholds, run_bias

        spec = BiasSpec(
            label=label,
            group=group[0] if len(group) == 1 else tuple(group),
            prediction=prediction,
            score=score,
            threshold=threshold,
            privileged=privileged,
            positive_label=positive_label,
            positive_values=_split(positive_values),
            favourable_label=favourable_label,
            min_group_size=min_group_size,
        )
        t = Thresholds(
            max_fpr_gap=max_fpr_gap,
            max_fnr_gap=max_fnr_gap,
            min_disparate_impact=min_disparate_impact,
            max_demographic_parity_difference=max_dp_difference,
            min_demographic_parity_ratio=min_dp_ratio,
            max_equalized_odds_difference=max_eo_difference,
        )
        return [run_bias(predictions, spec, t)]

    raise typer.Exit(run_command(produce, formats=fmt, output=output, debug=debug, command="edgegate model bias"))


def _split(value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    items = frozenset(v.strip() for v in value.split(",") if v.strip())
    return items or None
