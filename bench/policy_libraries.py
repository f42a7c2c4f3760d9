"""Public policy libraries as acceptance yardsticks (run in place from their sources; nothing is
committed): every test_* rule through `opa test` and through `edgegate policy test` (same result
per test), and `policy lint` on the library's sample manifests against `conftest test`.

    .venv/bin/python bench/policy_libraries.py --conftest PATH --opa PATH LIBRARY_DIR...

A library folder's name picks its layout (policies/, policy/, demo/ …); see LAYOUTS.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

EDGEGATE = str(Path(sys.executable).with_name("edgegate"))
# name part -> (policy folder, rego version, sample manifests glob or None, lint flags)
LAYOUTS = {
    "k8s-security-policies": ("policies", "v0", None, []),
    "library": (".", "v0", None, []),
    "rego-policies": ("policy", "v0", "policy/**/test_data/unit/*.yml", ["--all-namespaces"]),
    "deprek8ion": ("policies", "v0", "demo/*.yaml", []),
}


def _opa_tests(opa: str, folder: Path, version: str) -> dict[str, str]:
    args = [opa, "test", "--format", "json", *(["--v0-compatible"] if version == "v0" else []), str(folder)]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    try:
        items = json.loads(proc.stdout)
    except ValueError:
        return {"<opa test>": "error: " + (proc.stderr or proc.stdout).strip()[:200]}
    if isinstance(items, dict):
        return {"<opa test>": "error: " + json.dumps(items)[:200]}
    out = {}
    for t in items:
        name = f"{str(t['package']).removeprefix('data.')}.{t['name']}"
        out[name] = "error" if t.get("error") else "fail" if t.get("fail") else "skip" if t.get("skip") else "pass"
    return out


def _edgegate_tests(folder: Path, version: str) -> dict[str, str]:
    proc = subprocess.run([EDGEGATE, "policy", "test", str(folder), "--rego-version", version, "-f", "json"],
                          capture_output=True, text=True, check=False)
    if proc.returncode == 2 and not proc.stdout.strip():  # (an ERROR test is exit 2 with a report)
        return {"<edgegate policy test>": "error: " + proc.stderr.strip()[:200]}
    gate = json.loads(proc.stdout)["gates"][0]
    return {name: {"pass": "pass", "ERROR": "error"}.get(result, "fail")
            for name, _, result in gate["stats"]["tables"][0]["rows"]}



def _lint_pairs(conftest: str, root: Path, policy: str, version: str, pattern: str, flags: list[str]) -> tuple[int, list[str]]:
    agree = 0
    disagree = []
    for f in sorted(root.glob(pattern)):
        rel = str(f.relative_to(root))
        c = subprocess.run([conftest, "test", "--no-color", "-o", "json", "--show-builtin-errors", "-p", policy,
                            "--rego-version", version, *flags, rel], cwd=root, capture_output=True, text=True, check=False)
        e = subprocess.run([EDGEGATE, "policy", "lint", "--no-builtin-schemas", "-f", "json", "-p", policy,
                            "--rego-version", version, *flags, rel], cwd=root, capture_output=True, text=True, check=False)
        try:
            want = Counter(m["msg"] for r in json.loads(c.stdout) for m in r.get("failures") or [])
            want_status = "fail" if c.returncode else "pass"
        except ValueError:
            want, want_status = Counter(), "error"
        if e.returncode == 2:
            got, got_status = Counter(), "error"
        else:
            got = Counter(x["message"] for x in json.loads(e.stdout)["gates"][0]["findings"]
                          if not x["details"]["rule"].startswith("warn"))
            got_status = "fail" if e.returncode else "pass"
        if (want_status, want) == (got_status, got):
            agree += 1
        else:
            disagree.append(f"{rel}: conftest {want_status} {dict(want)} / edgegate {got_status} {dict(got)} {e.stderr.strip()[:200]}")
    return agree, disagree


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conftest", required=True)
    parser.add_argument("--opa", required=True)
    parser.add_argument("libraries", nargs="+", type=Path)
    args = parser.parse_args()
    print("| library | test_* rules (opa test: pass/fail/error) | edgegate policy test equal to opa test | sample manifests: lint equal to conftest |")
    print("|---|---|---|---|")
    for lib in args.libraries:
        layout = next(v for k, v in LAYOUTS.items() if lib.name.endswith(k))
        policy, version, pattern, flags = layout
        folder = lib / policy
        want = _opa_tests(args.opa, folder, version)
        got = _edgegate_tests(folder, version) if any(v != "skip" for v in want.values()) else {}
        counted = {k: v for k, v in want.items() if v != "skip"}
        same = sum(1 for k, v in counted.items() if got.get(k) == v)
        tally = Counter(counted.values())
        lint = "—"
        if pattern:
            agree, disagree = _lint_pairs(args.conftest, lib, policy, version, pattern, flags)
            lint = f"{agree} of {agree + len(disagree)}"
            for d in disagree[:5]:
                print("    lint disagreement:", d, file=sys.stderr)
        for k, v in counted.items():
            if got.get(k) != v:
                print(f"    test disagreement: {k}: opa {v}, edgegate {got.get(k)}", file=sys.stderr)
        print(f"| {lib.name} | {len(counted)} ({tally['pass']}/{tally['fail']}/{tally['error']}) | "
              f"{same} of {len(counted)} | {lint} |")


if __name__ == "__main__":
    main()
