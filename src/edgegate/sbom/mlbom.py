"""ML-BOMs: model weights inventoried without loading them.

Every file is hashed (SHA-256, in parallel, progress on stderr for big inputs) and its format is
detected from its content. Headers are read with explicit bounds: safetensors (JSON header),
GGUF (metadata key/values and tensor infos), ONNX (graph without external data), NumPy (``.npy``
header). Nothing is unpickled or executed. The model card's YAML front matter fills the
CycloneDX ``modelCard``; a Hugging Face repo id is resolved through ``huggingface_hub`` (its
cache and ``HF_HUB_OFFLINE`` honoured) and the snapshot's commit recorded.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from edgegate.errors import InputError
from edgegate.io import headers as _headers

MAX_ONNX_BYTES = 2 * 1024 * 1024 * 1024
MAX_CARD_BYTES = 4 * 1024 * 1024
MAX_CONFIG_BYTES = 4 * 1024 * 1024

_HF_ID = re.compile(r"^(?:hf:|huggingface:)?([A-Za-z0-9][\w.-]{0,95})/([\w.-]{1,96})(?:@([\w./-]{1,128}))?$")

@dataclass
class ModelFile:
    """One file of a model with what its header says."""

    path: str
    size: int
    sha256: str = ""
    format: str = "other"
    tensors: int | None = None
    parameters: int | None = None
    dtypes: dict[str, int] = field(default_factory=dict)
    """dtype → number of parameters of that dtype."""
    details: dict[str, str] = field(default_factory=dict)


@dataclass
class Model:
    """A model: its files, model card fields and provenance."""

    name: str
    source: str
    files: list[ModelFile] = field(default_factory=list)
    card: dict[str, Any] = field(default_factory=dict)
    repo_id: str | None = None
    revision: str | None = None
    architecture: str | None = None
    family: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def parameters(self) -> int | None:
        counts = [f.parameters for f in self.files if f.parameters is not None and f.format != "other"]
        return sum(counts) if counts else None


class BrokenHeaderError(InputError):
    """A model file whose header is malformed (it cannot be inventoried truthfully)."""


# ------------------------------------------------------------------------------ detection


def detect_format(path: Path, head: bytes) -> str:
    """The format of a model file from its first bytes (and zip member names), by the table in
    `edgegate.io.formats`; unlike the model scan, a name alone never makes a binary format."""
    from edgegate.io import formats as _table

    name = path.name.lower()
    magic = _table.by_magic(head)
    if magic == "safetensors" or name.endswith(".safetensors"):
        return "safetensors"
    if magic in ("gguf", "hdf5", "tflite"):
        return magic
    if magic == "npy":
        return "numpy"
    if magic == "zip":
        return _zip_kind(path)
    if magic == "pickle":
        return "pytorch-legacy" if head[2:3] == b"\x8a" else "pickle"
    if name.endswith(".onnx") or (
        head[:1] == b"\x08" and len(head) > 1 and head[1] < 32 and _looks_onnx(path)
    ):
        return "onnx"
    if name.endswith((".json", ".md", ".txt", ".yaml", ".yml", ".model", ".tiktoken", ".py")):
        return "text"
    return "other"


def _looks_onnx(path: Path) -> bool:
    # an ONNX ModelProto: field 1 (ir_version) varint, then usually field 8 (opset) or 2 (producer)
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
    except OSError:
        return False
    return b"\x3a" in head[:64] or b"\x12" in head[2:4] or b"\x42" in head[:64]


def _zip_kind(path: Path) -> str:
    from edgegate.io import zipread

    try:
        with path.open("rb") as fh:
            view = zipread.read_zip(fh, path.stat().st_size, max_members=1_000_000)
    except (zipread.ZipReadError, OSError):
        return "zip"
    names = [m.name for m in view.members]
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return "pytorch"
    if "config.json" in names and any(n.endswith(".weights.h5") for n in names):
        return "keras"
    if names and all(n.endswith(".npy") for n in names):
        return "numpy-npz"
    return "zip"


# ------------------------------------------------------------------------------ headers


def read_safetensors(path: Path, size: int, mf: ModelFile) -> None:
    """Tensors, parameters and dtypes from a safetensors header (the JSON only, bounded)."""
    with path.open("rb") as fh:
        header = _read_header("safetensors", path, lambda: _headers.read_safetensors(fh, size))
    meta = header.metadata
    if isinstance(meta, dict):
        for k, v in list(meta.items())[:20]:
            if isinstance(v, str) and len(v) < 200:
                mf.details[f"metadata.{k}"] = v
    dtypes: Counter[str] = Counter()
    for t in header.tensors:
        dtypes[t.dtype] += t.count
    mf.tensors, mf.parameters, mf.dtypes = len(header.tensors), sum(dtypes.values()), dict(dtypes)


_GGUF_KEEP = (
    "general.architecture",
    "general.name",
    "general.license",
    "general.basename",
    "general.size_label",
    "general.file_type",
    "general.quantization_version",
    "tokenizer.ggml.model",
)


def read_gguf(path: Path, mf: ModelFile) -> None:
    """Metadata, tensor count, parameters and tensor types from a GGUF header."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        header = _read_header(
            "GGUF", path,
            lambda: _headers.read_gguf(fh, size, lambda k: k in _GGUF_KEEP or k.endswith(".context_length")),
        )
    dtypes: Counter[str] = Counter()
    for t in header.tensors:
        dtypes[_ggml_type(t.ggml_type)] += t.count
    mf.tensors, mf.parameters, mf.dtypes = len(header.tensors), sum(dtypes.values()), dict(dtypes)
    mf.details["gguf.version"] = str(header.version)
    for k, v in header.metadata.items():
        if v is not None:
            mf.details[k] = str(v)


_T = TypeVar("_T")


def _read_header(kind: str, path: Path, read: Callable[[], _T]) -> _T:
    try:
        return read()
    except _headers.FormatError as exc:
        raise BrokenHeaderError(f"broken {kind} header: {exc}", str(path)) from None


def _ggml_type(t: int) -> str:
    try:
        from gguf import GGMLQuantizationType

        return str(GGMLQuantizationType(t).name)
    except (ImportError, ValueError):
        return f"ggml_type_{t}"


def read_onnx(path: Path, size: int, mf: ModelFile) -> None:
    """Initializer count, parameters and dtypes of an ONNX graph (external data not loaded)."""
    if size > MAX_ONNX_BYTES:
        raise InputError("ONNX file is over the 2 GiB protobuf limit", path)
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise BrokenHeaderError(f"not a readable ONNX model ({type(exc).__name__})", path) from None
    if model.ir_version <= 0 or not model.HasField("graph"):
        raise BrokenHeaderError("not a readable ONNX model (no IR version or graph)", path)
    params = 0
    dtypes: Counter[str] = Counter()
    inits = list(model.graph.initializer)
    for init in inits:
        count = math.prod(init.dims)
        params += count
        dtypes[_onnx_dtype(onnx.TensorProto.DataType.Name(init.data_type))] += count
    mf.tensors, mf.parameters, mf.dtypes = len(inits), params, dict(dtypes)
    mf.details["onnx.ir_version"] = str(model.ir_version)
    if model.producer_name:
        mf.details["onnx.producer"] = f"{model.producer_name} {model.producer_version}".strip()
    mf.details["onnx.opsets"] = ",".join(f"{o.domain or 'ai.onnx'}:{o.version}" for o in model.opset_import)
    if any(init.data_location == onnx.TensorProto.EXTERNAL for init in inits):
        mf.details["onnx.external_data"] = "true"


_ONNX_DTYPES = {
    "FLOAT": "F32",
    "FLOAT16": "F16",
    "BFLOAT16": "BF16",
    "DOUBLE": "F64",
    "INT8": "I8",
    "UINT8": "U8",
    "INT16": "I16",
    "UINT16": "U16",
    "INT32": "I32",
    "UINT32": "U32",
    "INT64": "I64",
    "UINT64": "U64",
    "BOOL": "BOOL",
    "FLOAT8E4M3FN": "F8_E4M3",
    "FLOAT8E5M2": "F8_E5M2",
    "INT4": "I4",
    "UINT4": "U4",
}


def _onnx_dtype(name: str) -> str:
    """ONNX element type → the safetensors-style names used for every format (F32, I8, ...)."""
    return _ONNX_DTYPES.get(name, name)


def _numpy_dtype(descr: str) -> str:
    """A NumPy ``descr`` (``<f4``, ``|i1``, ``|O``) → F32, I8, OBJECT, ... (others unchanged)."""
    m = re.fullmatch(r"[<>|=]?([fiubcO])(\d*)", descr)
    if m is None:
        return descr
    kind, size = m.group(1), m.group(2)
    if kind == "b":
        return "BOOL"
    if kind == "O":
        return "OBJECT"
    bits = str(int(size) * 8) if size else ""
    return {"f": "F", "i": "I", "u": "U", "c": "C"}[kind] + bits


def read_numpy(path: Path, mf: ModelFile) -> None:
    size = path.stat().st_size
    with path.open("rb") as fh:
        header = _read_header("NumPy", path, lambda: _headers.read_npy_header(fh, size))
    count = math.prod(header.shape)
    mf.tensors, mf.parameters, mf.dtypes = 1, count, {_numpy_dtype(str(header.descr)): count}


def read_npz(path: Path, mf: ModelFile) -> None:
    from edgegate.io import zipread

    params = 0
    dtypes: Counter[str] = Counter()
    tensors = 0
    try:
        with path.open("rb") as fh:
            view = zipread.read_zip(fh, path.stat().st_size)
            for member in view.members:
                if member.is_dir or not member.name.endswith(".npy"):
                    continue
                # only the header is read (bounded), never the array data
                stream = zipread.MemberStream(fh, member, 1 << 62)
                header = _read_header(
                    "NumPy", Path(f"{path}:{member.name}"),
                    lambda: _headers.read_npy_header(stream, member.size),  # type: ignore[arg-type]  # noqa: B023
                )
                count = math.prod(header.shape)
                tensors += 1
                params += count
                dtypes[_numpy_dtype(str(header.descr))] += count
    except zipread.ZipReadError as exc:
        raise BrokenHeaderError(f"unreadable .npz archive: {exc.message}", str(path)) from None
    mf.tensors, mf.parameters, mf.dtypes = tensors, params, dict(dtypes)


# ------------------------------------------------------------------------------ model card


def parse_model_card(path: Path) -> tuple[dict[str, Any], str | None]:
    """The YAML front matter of a model card (README.md), and a warning if it is malformed."""
    from edgegate.io.documents import load_yaml_text
    from edgegate.io.files import read_text_bounded

    try:
        text = read_text_bounded(path, MAX_CARD_BYTES)
    except InputError as exc:
        return {}, f"model card not read: {exc.message}"
    if not text.startswith("---"):
        return {}, None
    end = re.search(r"^---\s*$", text[3:], flags=re.MULTILINE)
    if end is None:
        return {}, "model card front matter has no closing ---"
    front = text[3 : 3 + end.start()]
    try:
        docs = load_yaml_text(front, str(path))
    except InputError as exc:
        return {}, f"model card front matter ignored: {exc}"
    data = docs[0].data if docs else {}
    return (data if isinstance(data, dict) else {}), None


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, (str, int, float))]
    return []


# ------------------------------------------------------------------------------ scanning


def is_hf_repo_id(source: str) -> bool:
    return _HF_ID.match(source) is not None


def resolve_source(
    source: str, revision: str | None, *, progress: bool | None = None
) -> tuple[Path, str | None, str | None]:
    """(local path, repo id, commit) for a local path or a Hugging Face repo id."""
    local = Path(source)
    if local.exists():
        return local, None, None
    m = _HF_ID.match(source)
    if m is None:
        raise InputError(
            "no such file or directory (and not a Hugging Face repo id org/name[@revision])", source
        )
    repo_id = f"{m.group(1)}/{m.group(2)}"
    rev = revision or m.group(3)
    path = _snapshot(repo_id, rev, progress)
    return path, repo_id, path.name


def _snapshot(repo_id: str, revision: str | None, progress: bool | None) -> Path:
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.utils import disable_progress_bars, enable_progress_bars  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover
        raise InputError("huggingface_hub is not installed") from None
    if progress is False:
        disable_progress_bars()
    try:
        path = snapshot_download(repo_id=repo_id, revision=revision)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(
            f"cannot fetch from the Hugging Face Hub: {type(exc).__name__}: {first}", repo_id
        ) from None
    finally:
        if progress is False:
            enable_progress_bars()
    return Path(path)


def _entries(root: Path) -> list[Any]:
    """Files to inventory. Hub snapshots are symlinks into the cache's blobs: followed."""
    from edgegate.sign.hashing import FileEntry, walk_model

    if root.is_file():
        st = root.stat()
        return [FileEntry(root.name, root, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)]
    if not root.is_dir():
        raise InputError("not a file or directory", root)
    if root.parent.name == "snapshots":  # a huggingface_hub cache snapshot
        out = []
        for dirpath, _dirs, files in os.walk(root):
            for fname in files:
                p = Path(dirpath) / fname
                st = p.stat()
                name = p.relative_to(root).as_posix()
                out.append(
                    FileEntry(
                        name, p.resolve(), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev
                    )
                )
        return sorted(out, key=lambda e: e.name)
    return list(walk_model(root, allow_symlinks=True))


def scan_model(source: str, *, revision: str | None = None, progress: bool | None = None) -> Model:
    """Inventory a model directory, file or Hub repo: hashes, formats, tensors, card."""
    from edgegate.sign.hashing import hash_entries

    root, repo_id, commit = resolve_source(source, revision, progress=progress)
    entries = _entries(root)
    if not entries:
        raise InputError("no files to inventory", source)
    name = repo_id or (root.name if root.is_dir() else root.stem)
    model = Model(name=name, source=source, repo_id=repo_id, revision=commit)
    readers: dict[str, Callable[[Path, int, ModelFile], None]] = {
        "safetensors": read_safetensors,
        "gguf": lambda p, s, m: read_gguf(p, m),
        "onnx": read_onnx,
        "numpy": lambda p, s, m: read_numpy(p, m),
        "numpy-npz": lambda p, s, m: read_npz(p, m),
    }
    for entry in entries:
        mf = ModelFile(path=entry.name, size=entry.size)
        try:
            with entry.path.open("rb") as fh:
                head = fh.read(64)
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", entry.path) from None
        mf.format = detect_format(entry.path, head)
        reader = readers.get(mf.format)
        if reader is not None:
            try:
                reader(entry.path, entry.size, mf)
            except BrokenHeaderError as exc:
                # a file whose name claims the format, or with a strong magic, must parse;
                # a weaker content guess under another name is only noted
                if mf.format in ("safetensors", "onnx") and not entry.name.lower().endswith(f".{mf.format}"):
                    model.warnings.append(f"{entry.name}: looks like {mf.format} but is not ({exc.message})")
                    mf.format, mf.tensors, mf.parameters, mf.dtypes = "other", None, None, {}
                else:
                    raise
        model.files.append(mf)
    digests = hash_entries(entries, progress=progress, label="hashing model files")
    for mf in model.files:
        mf.sha256 = digests[mf.path]
    if root.is_dir():
        card_path = root / "README.md"
        if card_path.is_file():
            model.card, warning = parse_model_card(card_path)
            if warning:
                model.warnings.append(warning)
        cfg = root / "config.json"
        if cfg.is_file() and cfg.stat().st_size <= MAX_CONFIG_BYTES:
            try:
                conf = json.loads(cfg.read_bytes())
            except (ValueError, UnicodeDecodeError, RecursionError):
                model.warnings.append("config.json is not valid JSON")
                conf = {}
            if isinstance(conf, dict):
                archs = conf.get("architectures")
                if isinstance(archs, list) and archs and isinstance(archs[0], str):
                    model.architecture = archs[0]
                if isinstance(conf.get("model_type"), str):
                    model.family = conf["model_type"]
    if not any(f.format not in ("text", "other") for f in model.files):
        model.warnings.append("no model weight file found (only text or unknown files)")
    return model


# ------------------------------------------------------------------------------ CycloneDX


def model_bom(model: Model) -> tuple[Any, Callable[[dict[str, Any]], None]]:
    """The ML-BOM for `model` and the patch that adds its ``modelCard`` (cyclonedx-python-lib
    has no model for it yet; the patched document is validated against the 1.6 schema)."""
    from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, XsUri
    from cyclonedx.model.component import Component, ComponentType, Pedigree
    from cyclonedx.model.dependency import Dependency
    from packageurl import PackageURL

    from edgegate.sbom.bom import licenses_for, new_bom, properties

    card = model.card
    purl = None
    ext_refs = []
    if model.repo_id:
        org, _, short = model.repo_id.partition("/")
        purl = PackageURL(type="huggingface", namespace=org, name=short, version=model.revision)
        url = f"https://huggingface.co/{model.repo_id}"
        if model.revision:
            url += f"/tree/{model.revision}"
        ext_refs.append(ExternalReference(type=ExternalReferenceType.DISTRIBUTION, url=XsUri(url)))
    lic = card.get("license")
    lic_names = []
    if isinstance(lic, str) and lic.lower() not in ("other", "unknown"):
        lic_names.append(lic)
    elif isinstance(card.get("license_name"), str):
        lic_names.append(card["license_name"])
    ancestors = [
        Component(
            type=ComponentType.MACHINE_LEARNING_MODEL,
            name=base,
            bom_ref=f"base-model:{base}",
            purl=_hf_purl(base),
        )
        for base in _as_list(card.get("base_model"))
    ]
    formats = sorted({f.format for f in model.files if f.format not in ("text", "other")})
    dtypes: Counter[str] = Counter()
    for f in model.files:
        dtypes.update(f.dtypes)
    props = {
        "edgegate:model:parameters": str(model.parameters) if model.parameters is not None else None,
        "edgegate:model:tensors": str(sum(f.tensors or 0 for f in model.files)) if formats else None,
        "edgegate:model:formats": ",".join(formats) or None,
        "edgegate:model:dtypes": ",".join(f"{k}:{v}" for k, v in sorted(dtypes.items())) or None,
        "edgegate:model:hf:repo": model.repo_id,
        "edgegate:model:hf:revision": model.revision,
        "edgegate:model:library": card.get("library_name")
        if isinstance(card.get("library_name"), str)
        else None,
    }
    subject = Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=model.name,
        version=model.revision,
        bom_ref="model",
        purl=purl,
        licenses=licenses_for(lic_names),
        external_references=ext_refs,
        pedigree=Pedigree(ancestors=ancestors) if ancestors else None,
        properties=properties(props),
    )
    bom = new_bom(subject)
    deps = []
    for i, f in enumerate(model.files):
        fprops = {
            "edgegate:file:format": f.format,
            "edgegate:file:size": str(f.size),
            "edgegate:file:tensors": str(f.tensors) if f.tensors is not None else None,
            "edgegate:file:parameters": str(f.parameters) if f.parameters is not None else None,
            "edgegate:file:dtypes": ",".join(f"{k}:{v}" for k, v in sorted(f.dtypes.items())) or None,
            **{f"edgegate:file:{k}": v for k, v in f.details.items()},
        }
        comp = Component(
            type=ComponentType.FILE,
            name=f.path,
            bom_ref=f"file:{i}:{f.path}",
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=f.sha256)],
            properties=properties(fprops),
        )
        bom.components.add(comp)
        deps.append(Dependency(ref=comp.bom_ref))
        bom.dependencies.add(Dependency(ref=comp.bom_ref))
    bom.dependencies.add(Dependency(ref=subject.bom_ref, dependencies=deps))

    def patch(doc: dict[str, Any]) -> None:
        mc = model_card(model)
        if mc:
            doc["metadata"]["component"]["modelCard"] = mc

    return bom, patch


def _hf_purl(name: str) -> Any:
    from packageurl import PackageURL

    m = _HF_ID.match(name)
    if m is None:
        return None
    return PackageURL(type="huggingface", namespace=m.group(1), name=m.group(2))


def model_card(model: Model) -> dict[str, Any]:
    """The CycloneDX 1.6 ``modelCard`` object for `model` (empty when nothing is known)."""
    card = model.card
    params: dict[str, Any] = {}
    task = card.get("pipeline_tag")
    if isinstance(task, str):
        params["task"] = task
    if model.family:
        params["architectureFamily"] = model.family
    if model.architecture:
        params["modelArchitecture"] = model.architecture
    datasets = _as_list(card.get("datasets"))
    if datasets:
        params["datasets"] = [{"type": "dataset", "name": d} for d in datasets]
    out: dict[str, Any] = {}
    if params:
        out["modelParameters"] = params
    extra = []
    for key in ("language", "tags", "library_name", "base_model"):
        values = _as_list(card.get(key))
        if values:
            extra.append({"name": f"huggingface:{key}", "value": ",".join(values)})
    if extra:
        out["properties"] = extra
    return out
