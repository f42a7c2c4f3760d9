"""The Rego evaluation worker: runs in its own process so that an engine crash (regopy can
segfault) or engine chatter on stdout can never turn into a pass or corrupt a report.

Protocol: a JSON job on stdin; the JSON answer written to the file named by argv[1]. The engine's
own messages (compile errors) go to this process's stdout, which the parent captures.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def _parse(out: Any) -> Any:
    text = str(out)
    if not out.ok() or text in ("", "undefined", "<error>"):
        return None
    doc = json.loads(text)
    exprs = doc.get("expressions") or [None]
    return exprs[0]


def _run(job: dict[str, Any]) -> dict[str, Any]:
    import regopy

    if job["mode"] == "batch":
        return {"answers": [_run(sub) for sub in job["jobs"]]}

    interp = regopy.Interpreter()
    for name, source in job["modules"]:
        try:
            interp.add_module(name, source)
        except Exception as exc:
            return {"fatal": {"kind": "compile", "module": name, "message": str(exc)}}
    interp.add_data(job.get("data") or {})
    answer: dict[str, Any] = {"results": [], "errors": []}
    if job["mode"] == "lint":
        entrypoints: list[str] = job["entrypoints"]
        if not entrypoints:
            return answer
        try:
            bundle = interp.build("data." + entrypoints[0].replace("/", "."), entrypoints)
        except Exception as exc:
            return {"fatal": {"kind": "compile", "module": None, "message": str(exc)}}
        for index, item in enumerate(job["inputs"]):
            interp.set_input(item)
            per_ns: dict[str, Any] = {}
            for ep in entrypoints:
                value = _parse(interp.query_bundle_entrypoint(bundle, ep))
                if value is None:
                    answer["errors"].append({"input": index, "entrypoint": ep})
                    continue
                per_ns[ep] = value
            answer["results"].append(per_ns)
    elif job["mode"] == "query":
        for item in job["inputs"]:
            if item is not None:
                interp.set_input(item)
            row: dict[str, Any] = {}
            for query in job["queries"]:
                out = interp.query(f"x := {query}")
                ok = out.ok()
                row[query] = {"ok": ok, "value": None}
                if ok:
                    doc = json.loads(str(out)) if str(out) not in ("", "undefined") else {}
                    row[query]["value"] = (doc.get("bindings") or {}).get("x")
            answer["results"].append(row)
    return answer


def main() -> None:
    job = json.load(sys.stdin)
    answer = _run(job)
    sys.stdout.flush()
    with open(sys.argv[1], "w", encoding="utf-8") as fh:
        json.dump(answer, fh)


if __name__ == "__main__":
    main()
