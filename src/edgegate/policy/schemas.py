"""JSON Schema validation of manifests by apiVersion/kind (shipped schemas in `schemas/kinds/`,
plus any folders the user names)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgegate.errors import InputError
from edgegate.findings import Finding, Location, Severity
from edgegate.io.documents import Document, pointer_of
from edgegate.io.files import read_text_bounded
from edgegate.resources import data_dir


@dataclass(frozen=True)
class KindSchema:
    path: Path
    kind: str
    api_version: str | None
    schema: dict[str, Any]


def shipped_schema_dirs() -> list[Path]:
    folder = data_dir("schemas") / "kinds"
    return [folder] if folder.is_dir() else []


def load_schemas(folders: Iterable[Path], *, check: bool = True) -> list[KindSchema]:
    """Every ``*.json`` schema in `folders`, checked to be a valid JSON Schema (`check`; the
    shipped ones are checked by the tests: jsonschema costs up to seconds to import, so a run
    whose documents no schema applies to does not import it)."""
    out: list[KindSchema] = []
    for folder in folders:
        if not folder.exists():
            raise InputError("no such schema directory", folder)
        files = [folder] if folder.is_file() else sorted(folder.glob("*.json"))
        for f in files:
            try:
                schema = json.loads(read_text_bounded(f, 8 * 1024 * 1024))
            except json.JSONDecodeError as exc:
                raise InputError(f"malformed JSON in schema: {exc.msg}", f, exc.lineno) from None
            if not isinstance(schema, dict):
                raise InputError("a JSON Schema must be an object", f)
            if check:
                _check_schema(f, schema)
            match = schema.get("x-edgegate-match") or {}
            kind = match.get("kind") or f.name.split(".")[0].split("_")[0].split("-")[0]
            out.append(KindSchema(f, str(kind), match.get("apiVersion"), schema))
    return out


def _check_schema(path: Path, schema: dict[str, Any]) -> None:
    import jsonschema

    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise InputError(f"invalid JSON Schema at {where}: {exc.message}", path) from None


def _applies(schema: KindSchema, doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    kind = doc.get("kind")
    if not isinstance(kind, str) or kind.lower() != schema.kind.lower():
        return False
    return schema.api_version is None or doc.get("apiVersion") == schema.api_version


def validate_documents(
    documents: Sequence[Document], schemas: Sequence[KindSchema], gate: str = "policy"
) -> tuple[list[Finding], int]:
    """Schema findings for every document a schema applies to, and how many were validated."""
    findings: list[Finding] = []
    checked = 0
    for doc in documents:
        for ks in schemas:
            if not _applies(ks, doc.data):
                continue
            checked += 1
            import jsonschema

            cls = jsonschema.validators.validator_for(ks.schema, default=jsonschema.Draft202012Validator)
            validator = cls(ks.schema)
            for error in sorted(validator.iter_errors(doc.data), key=lambda e: list(map(str, e.absolute_path))):
                pointer = pointer_of(error.absolute_path)
                findings.append(
                    Finding(
                        gate=gate,
                        rule_id=f"schema/{ks.kind}",
                        severity=Severity.HIGH,
                        title=f"{ks.kind} schema",
                        message=f"{pointer or '/'}: {error.message}",
                        location=Location(doc.path, doc.line_of(pointer), None, pointer or "/"),
                        details={"schema": ks.path.name, "document": doc.index},
                    )
                )
    return findings, checked
