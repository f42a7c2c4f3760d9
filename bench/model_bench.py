"""Model-gate speed, each against a baseline measured in the same run.

    .venv/bin/python bench/model_bench.py [--repeat 5] [--tensors 20000]

- scan, picklescan corpus (109 files): edgegate `scan_paths` per file vs picklescan 1.0.5
  `scan_file_path` per file;
- scan, one opcode-heavy pickle (a state dict of N small tensors rebuilt by numpy, protocol 4):
  edgegate vs picklescan vs the floor, a bare `pickletools.genops` loop over the same bytes;
- scan, a joblib file with large arrays (raw bytes stepped over) vs picklescan;
- bias, COMPAS (7,214 rows, 6 groups): edgegate `run_bias` (CSV read + metrics) vs
  pandas.read_csv + Fairlearn MetricFrame + the three Fairlearn parity/odds functions;
- quant, static facts of a 2-layer 1024-wide MLP: edgegate `quant_facts` vs `onnx.load` alone.

Prints a Markdown table (median of --repeat runs); bench/results/model.md records a run.
"""

from __future__ import annotations

import argparse
import io
import logging
import pickle
import pickletools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "data" / "model-scan" / "picklescan"
COMPAS = SHARED / "data" / "compas" / "compas-two-years.csv"


def _median(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up (imports, page cache)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--tensors", type=int, default=20000)
    args = ap.parse_args()
    logging.getLogger("picklescan").setLevel(logging.CRITICAL)

    import numpy as np
    from picklescan.scanner import scan_file_path

    from edgegate.model.bias import BiasSpec, run_bias
    from edgegate.model.quant import quant_facts
    from edgegate.model.scan import scan_paths

    rows: list[tuple[str, str, float, str, float]] = []
    tmp = Path(tempfile.mkdtemp(prefix="edgegate-model-bench-"))

    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name not in ("README.md", "LICENSE"))
    base = _median(lambda: [scan_file_path(str(p)) for p in files], args.repeat)
    ours = _median(lambda: [scan_paths([p]) for p in files], args.repeat)
    rows.append((f"scan corpus ({len(files)} files)", "picklescan", base, "edgegate", ours))

    state = {f"layer{i}.weight": np.zeros(4, dtype=np.float32) for i in range(args.tensors)}
    big = tmp / "state.pkl"
    big.write_bytes(pickle.dumps(state, protocol=4))
    data = big.read_bytes()
    floor = _median(lambda: sum(1 for _ in pickletools.genops(io.BytesIO(data))), args.repeat)
    pscan = _median(lambda: scan_file_path(str(big)), args.repeat)
    ours = _median(lambda: scan_paths([big]), args.repeat)
    label = f"scan pickle ({args.tensors} arrays, {len(data) / 1e6:.1f} MB)"
    rows.append((label, "pickletools.genops", floor, "edgegate", ours))
    rows.append((label, "pickletools.genops", floor, "picklescan", pscan))

    try:
        import joblib

        jl = tmp / "arrays.joblib"
        joblib.dump({f"a{i}": np.random.default_rng(i).random(1_000_000) for i in range(8)}, jl)
        base = _median(lambda: scan_file_path(str(jl)), args.repeat)
        ours = _median(lambda: scan_paths([jl]), args.repeat)
        rows.append((f"scan joblib ({jl.stat().st_size / 1e6:.0f} MB of arrays)", "picklescan", base, "edgegate", ours))
    except ImportError:
        pass

    import pandas as pd
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
    )

    def fairlearn_run() -> None:
        df = pd.read_csv(COMPAS)
        y = df["two_year_recid"]
        p = df["score_text"].isin(["Medium", "High"]).astype(int)
        s = df["race"]
        frame = MetricFrame(metrics={"fpr": false_positive_rate, "fnr": false_negative_rate, "sel": selection_rate},
                            y_true=y, y_pred=p, sensitive_features=s)
        assert len(frame.by_group) == s.nunique()
        demographic_parity_difference(y, p, sensitive_features=s)
        demographic_parity_ratio(y, p, sensitive_features=s)
        equalized_odds_difference(y, p, sensitive_features=s)

    spec = BiasSpec(label="two_year_recid", prediction="score_text", group="race",
                    positive_values=frozenset({"Medium", "High"}))
    base = _median(fairlearn_run, args.repeat)
    ours = _median(lambda: run_bias(COMPAS, spec), args.repeat)
    rows.append(("bias COMPAS (7,214 rows)", "pandas + Fairlearn", base, "edgegate", ours))

    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.random((1024, 1024), dtype=np.float32), "w1")
    w2 = numpy_helper.from_array(rng.random((1024, 1024), dtype=np.float32), "w2")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("MatMul", ["h", "w2"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1024])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1024])], initializer=[w1, w2])
    model_path = tmp / "mlp.onnx"
    onnx.save(helper.make_model(graph), str(model_path))
    base = _median(lambda: onnx.load(str(model_path), load_external_data=False), args.repeat)
    ours = _median(lambda: quant_facts(model_path), args.repeat)
    rows.append(("quant facts (8 MB MLP)", "onnx.load", base, "edgegate", ours))

    print("| workload | baseline | baseline time | edgegate/other | time | ratio |")
    print("|---|---|---:|---|---:|---:|")
    for what, bname, b, oname, o in rows:
        print(f"| {what} | {bname} | {b * 1000:.1f} ms | {oname} | {o * 1000:.1f} ms | {o / b:.2f}× |")


if __name__ == "__main__":
    main()
