"""Rego throughput over generated manifests: a reused interpreter with one `query` per document
(the naive mode) against `build` once + `query_bundle_entrypoint` (what edgegate does), plus
edgegate's whole `lint` (YAML parse, schema validation, engine in a child process) end to end.

    .venv/bin/python bench/policy_throughput.py [--docs 10000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _manifest(i: int) -> dict:  # type: ignore[type-arg]
    image = f"registry.example.com/team/app{i}:latest" if i % 3 == 0 else f"registry.example.com/team/app{i}@sha256:{i:064x}"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"app-{i}", "namespace": "bench", "labels": {"app": f"app-{i}"}, "annotations": {}},
        "spec": {
            "replicas": 1 + i % 4,
            "template": {
                "metadata": {"labels": {"app": f"app-{i}"}},
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": image,
                            "securityContext": {"runAsNonRoot": i % 5 != 0, "allowPrivilegeEscalation": False},
                            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
                        }
                    ]
                },
            },
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--naive-docs", type=int, default=200, help="the naive mode is slow: a sample")
    args = parser.parse_args()
    import regopy

    from edgegate.policy.modules import load_modules, resolve_rule_dir

    modules = load_modules([resolve_rule_dir("builtin:edge-ai")])
    docs = [_manifest(i) for i in range(args.docs)]
    data = {"edgegate": {"org": "example.com", "allowed_registries": ["registry.example.com"], "inventory": []}}

    interp = regopy.Interpreter()
    for m in modules:
        interp.add_module(m.path, m.source)
    interp.add_data(data)
    start = time.perf_counter()
    for doc in docs[: args.naive_docs]:
        interp.set_input(doc)
        json.loads(str(interp.query("x := data.main")))
    naive = args.naive_docs / (time.perf_counter() - start)

    interp2 = regopy.Interpreter()
    for m in modules:
        interp2.add_module(m.path, m.source)
    interp2.add_data(data)
    start = time.perf_counter()
    bundle = interp2.build("data.main", ["main"])
    denies = 0
    for doc in docs:
        interp2.set_input(doc)
        value = json.loads(str(interp2.query_bundle_entrypoint(bundle, "main")))["expressions"][0]
        denies += len(value.get("deny", []))
    bundled = len(docs) / (time.perf_counter() - start)

    from edgegate.policy.lint import LintOptions, lint

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "manifests.yaml"
        path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
        data_path = Path(tmp) / "data.yaml"
        data_path.write_text(yaml.safe_dump({"edgegate": {k: v for k, v in data["edgegate"].items() if k != "inventory"}}))
        start = time.perf_counter()
        result = lint([path], LintOptions(rules=["builtin:edge-ai"], data=[data_path]))
        whole = len(docs) / (time.perf_counter() - start)

    print(f"rules: {len(modules)} files of the shipped edge-ai pack; documents: {len(docs)}")
    print(f"naive (query per document)        {naive:8.0f} docs/s  (sample of {args.naive_docs})")
    print(f"build + query_bundle_entrypoint   {bundled:8.0f} docs/s  ({denies} denies)")
    print(f"edgegate lint end to end          {whole:8.0f} docs/s  ({len(result.findings)} findings)")
    print(f"ratio bundle / naive: {bundled / naive:.1f}x")


if __name__ == "__main__":
    main()
