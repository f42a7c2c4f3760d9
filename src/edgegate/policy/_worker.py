"""The Rego evaluation worker: runs in its own process so that an engine crash (regopy can
segfault) or engine chatter on stdout can never turn into a pass or corrupt a report.

Protocol: a JSON job on stdin; the JSON answer written to the file named by argv[1]. The engine's
own messages (compile errors) go to this process's stdout, which the parent captures.

Every query's output is read as raw text: regopy's `Output` parses it as JSON in its constructor,
and some errors (an unknown function, data colliding with a package, removed builtins) come back
with ``ok() == True`` and an ``(error (errormsg …))`` text instead, which would raise there.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

_ERRORMSG = re.compile(r"\(errormsg\s+(?:\d+:)?([^\n)]*)")


class _EngineFailure(Exception):
    """The engine returned something that is neither a value nor a plain evaluation error."""


def _raw(call: Any, *args: Any) -> tuple[bool, str]:
    """Run a low-level regopy query function; its ok flag and output text."""
    from regopy import rego_shared

    impl = call(*args)
    try:
        if not rego_shared.rego_output_ok(impl):
            return False, ""  # reading the text of a failed output segfaults regopy 1.5.2
        return True, str(rego_shared.rego_output_string(impl))
    finally:
        rego_shared.rego_free_output(impl)


def _decode(ok: bool, text: str) -> dict[str, Any] | None:
    """The output document; None for an evaluation error (``ok() == False``) or undefined."""
    if not ok or text.strip() in ("", "undefined", "<error>"):
        return None
    stripped = text.lstrip()
    if stripped.startswith("(error"):
        m = _ERRORMSG.search(stripped)
        raise _EngineFailure(m.group(1).strip() if m else stripped.splitlines()[0])
    try:
        doc = json.loads(text)
    except ValueError:
        m = _ERRORMSG.search(stripped)
        if m:  # an error inside a value: {"expressions":[(error (errormsg …) …)]}
            raise _EngineFailure(m.group(1).strip()) from None
        raise _EngineFailure(f"unreadable engine output: {stripped.splitlines()[0][:200]}") from None
    if isinstance(doc, list):
        doc = doc[0] if doc else {}
    return doc if isinstance(doc, dict) else None


def _entrypoint_value(interp: Any, bundle: Any, ep: str) -> Any:
    from regopy import rego_shared

    doc = _decode(*_raw(rego_shared.rego_bundle_query_entrypoint, interp._impl, bundle._impl, ep))
    if doc is None:
        return None
    exprs = doc.get("expressions") or [None]
    return exprs[0]


def _query_value(interp: Any, query: str) -> tuple[bool, Any, str]:
    from regopy import rego_shared

    try:
        ok, text = _raw(rego_shared.rego_query, interp._impl, f"x := {query}")
        if not ok:
            return False, None, ""
        doc = _decode(ok, text)
    except _EngineFailure as exc:
        return False, None, str(exc)
    except Exception as exc:
        return False, None, f"{type(exc).__name__}: {exc}"
    return True, ((doc or {}).get("bindings") or {}).get("x"), ""


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
    try:
        interp.add_data(job.get("data") or {})
    except Exception as exc:
        return {"fatal": {"kind": "engine", "entrypoint": None, "message": f"data: {exc}"}}
    answer: dict[str, Any] = {"results": [], "errors": []}
    if job["mode"] == "lint":
        entrypoints: list[str] = job["entrypoints"]
        labels: list[str] = job.get("labels") or entrypoints
        if not entrypoints:
            return answer
        try:
            bundle = interp.build("data." + entrypoints[0].replace("/", "."), entrypoints)
        except Exception as exc:
            return {"fatal": {"kind": "compile", "module": None, "message": str(exc)}}
        for index, item in enumerate(job["inputs"]):
            interp.set_input(item)
            per_ns: dict[str, Any] = {}
            for ep, label in zip(entrypoints, labels, strict=True):
                try:
                    value = _entrypoint_value(interp, bundle, ep)
                except _EngineFailure as exc:
                    return {"fatal": {"kind": "engine", "entrypoint": label, "input": index, "message": str(exc)}}
                except Exception as exc:
                    message = f"{type(exc).__name__}: {exc}"
                    return {"fatal": {"kind": "engine", "entrypoint": label, "input": index, "message": message}}
                if value is None:
                    answer["errors"].append({"input": index, "entrypoint": label})
                    continue
                per_ns[label] = value
            answer["results"].append(per_ns)
    elif job["mode"] == "query":
        for item in job["inputs"]:
            if item is not None:
                interp.set_input(item)
            row: dict[str, Any] = {}
            for query in job["queries"]:
                ok, value, message = _query_value(interp, query)
                row[query] = {"ok": ok, "value": value, "message": message}
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
