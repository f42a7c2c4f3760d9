"""The price sheet: hourly rates per vCPU, GiB, GPU type and edge device type.

A sheet is YAML or JSON validated against ``schemas/prices.schema.json``. The package ships an
example sheet (``edgegate/finops/prices/default.yaml``) that says it is an example.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from edgegate.errors import InputError
from edgegate.io import load_documents
from edgegate.resources import schema_path

__all__ = ["DEFAULT_PRICES", "DevicePrice", "PriceSheet", "load_prices"]

DEFAULT_PRICES = Path(__file__).resolve().parent / "prices" / "default.yaml"
"""The shipped example sheet."""

_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True)
class DevicePrice:
    """An edge device type: price per device-hour and the GPU type of its accelerator."""

    hour: Decimal
    gpu_type: str | None = None


@dataclass(frozen=True)
class PriceSheet:
    """Hourly rates (exact decimals) and where they came from."""

    source: str
    currency: str
    vcpu_hour: Decimal
    gib_hour: Decimal
    gpu_hour: Mapping[str, Decimal]
    devices: Mapping[str, DevicePrice] = field(default_factory=dict)
    hours_per_month: Decimal = Decimal(730)
    nodes: int | None = None
    example: bool = False
    name: str | None = None

    def gpu_price(self, gpu_type: str | None) -> tuple[str, Decimal]:
        """The (type, hourly price) that prices a GPU of `gpu_type`; unknown types fall back to
        ``default``. Raises `KeyError` when neither is in the sheet."""
        for candidate in _gpu_candidates(gpu_type):
            if candidate in self.gpu_hour:
                return candidate, self.gpu_hour[candidate]
        if "default" in self.gpu_hour:
            return "default", self.gpu_hour["default"]
        raise KeyError(gpu_type or "default")


def _gpu_candidates(gpu_type: str | None) -> list[str]:
    """Spellings of a GPU type as clouds label nodes: ``nvidia-tesla-t4`` (GKE),
    ``NVIDIA-A10G`` / ``Tesla-T4`` (gpu-feature-discovery), ``a10g`` (Karpenter)."""
    if not gpu_type:
        return []
    t = gpu_type.strip().lower().replace("_", "-").replace(" ", "-")
    out = [t, t.replace("tesla-", "")]
    if not t.startswith("nvidia-"):
        out += [f"nvidia-{t}", f"nvidia-{t.replace('tesla-', '')}"]
    return list(dict.fromkeys(out))


def _dec(value: Any) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def load_prices(path: str | Path | None = None) -> PriceSheet:
    """Load and validate a price sheet (the shipped example when `path` is None)."""
    import jsonschema

    p = Path(path) if path is not None else DEFAULT_PRICES
    docs = load_documents(p, max_bytes=_MAX_BYTES)
    shown = str(path) if path is not None else "<default prices>"
    if len(docs) != 1:
        raise InputError("a price sheet is one YAML or JSON document", shown)
    doc = docs[0]
    schema = json.loads(schema_path("prices.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc.data))
    if error is not None:
        pointer = "".join(f"/{p}" for p in error.absolute_path)
        where = pointer or "top level"
        raise InputError(f"invalid price sheet at {where}: {error.message}", shown, doc.line_of(pointer))
    data: Mapping[str, Any] = doc.data
    devices = {
        name: DevicePrice(hour=_dec(d["hour"]), gpu_type=d.get("gpu_type"))
        for name, d in (data.get("devices") or {}).items()
    }
    for name, device in devices.items():
        if device.gpu_type is not None and device.gpu_type not in data["gpu_hour"]:
            raise InputError(
                f"device {name!r} names gpu_type {device.gpu_type!r}, which gpu_hour does not price",
                shown,
                doc.line_of(f"/devices/{name}/gpu_type"),
            )
    return PriceSheet(
        source=shown,
        currency=data["currency"],
        vcpu_hour=_dec(data["vcpu_hour"]),
        gib_hour=_dec(data["gib_hour"]),
        gpu_hour={k: _dec(v) for k, v in data["gpu_hour"].items()},
        devices=devices,
        hours_per_month=_dec(data.get("hours_per_month", 730)),
        nodes=data.get("nodes"),
        example=bool(data.get("example", False)),
        name=data.get("name"),
    )
