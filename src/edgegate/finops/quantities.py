"""Kubernetes resource quantities, parsed exactly (`decimal.Decimal`, never floats).

The grammar is Kubernetes' own (``k8s.io/apimachinery/pkg/api/resource``)::

    quantity       ::= signedNumber suffix
    suffix         ::= binarySI | decimalExponent | decimalSI
    binarySI       ::= Ki | Mi | Gi | Ti | Pi | Ei
    decimalSI      ::= n | u | m | "" | k | M | G | T | P | E
    decimalExponent::= e signedNumber | E signedNumber

A quantity has one suffix only, so ``2e3m`` is refused exactly as ``kubectl`` refuses it.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation

__all__ = [
    "GIB",
    "QuantityError",
    "format_cpu",
    "format_memory",
    "parse_cpu",
    "parse_gpu",
    "parse_memory",
    "parse_quantity",
]

GIB = Decimal(1024**3)
"""Bytes in a GiB."""

_BINARY = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "Pi": 1024**5, "Ei": 1024**6}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_QUANTITY = re.compile(rf"^({_NUMBER})(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+|[numkMGTPE]?)$")
_MAX_LEN = 64


class QuantityError(ValueError):
    """A string that is not a valid Kubernetes quantity (or not a valid one for its resource)."""


MAX_QUANTITY = Decimal(2**63 - 1)
"""The largest magnitude accepted in base units (Kubernetes stores quantities in an int64): far
larger values (``1e+28`` cores, ``1e50`` bytes) would overflow the cost arithmetic."""


def parse_quantity(value: object) -> Decimal:
    """Parse a quantity (``"100m"``, ``"1.5"``, ``"512Mi"``, ``"1G"``, ``"1e3"``, or a YAML
    int/float) into an exact `Decimal` in base units, at most `MAX_QUANTITY` in magnitude."""
    amount = _parse_quantity(value)
    if abs(amount) > MAX_QUANTITY:
        raise QuantityError(f"quantity out of range: {str(value)[:_MAX_LEN]!r}")
    return amount


def _parse_quantity(value: object) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise QuantityError(f"not a quantity: {value!r}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # YAML turned `1.5` into a float; its shortest repr is the text the author wrote.
        if value != value or value in (float("inf"), float("-inf")):
            raise QuantityError(f"not a quantity: {value!r}")
        return Decimal(repr(value))
    if not isinstance(value, str):
        raise QuantityError(f"not a quantity: {value!r}")
    text = value.strip()
    if len(text) > _MAX_LEN:
        raise QuantityError(f"quantity too long: {text[:_MAX_LEN]!r}...")
    match = _QUANTITY.match(text)
    if match is None:
        raise QuantityError(f"invalid quantity {value!r}")
    number, suffix = match.groups()
    try:
        amount = Decimal(number)
        if suffix in _BINARY:
            return amount * _BINARY[suffix]
        if suffix[:1] in ("e", "E") and len(suffix) > 1:
            exponent = int(suffix[1:])
            if abs(exponent) > 60:
                raise QuantityError(f"quantity exponent out of range in {value!r}")
            return amount.scaleb(exponent)
        return amount * _DECIMAL[suffix]
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        raise QuantityError(f"invalid quantity {value!r}") from None


def _non_negative(value: object, what: str) -> Decimal:
    amount = parse_quantity(value)
    if amount < 0:
        raise QuantityError(f"negative {what} {value!r}")
    return amount


def parse_cpu(value: object) -> Decimal:
    """CPU in cores (``"250m"`` → 0.25)."""
    return _non_negative(value, "CPU")


def parse_memory(value: object) -> Decimal:
    """Memory in bytes (``"512Mi"`` → 536870912)."""
    return _non_negative(value, "memory")


def parse_gpu(value: object) -> Decimal:
    """A GPU count: extended resources are whole numbers (``"1"``, ``2``)."""
    amount = _non_negative(value, "GPU count")
    if amount != amount.to_integral_value():
        raise QuantityError(f"GPU count must be a whole number, got {value!r}")
    return amount


def format_cpu(cores: Decimal) -> str:
    """Cores as Kubernetes writes them: whole cores (``"2"``) or millicores (``"250m"``),
    rounded up to the millicore."""
    milli = (cores * 1000).to_integral_value(rounding=ROUND_CEILING)
    if milli % 1000 == 0:
        return str(int(milli // 1000))
    return f"{int(milli)}m"


def format_memory(num_bytes: Decimal) -> str:
    """Bytes as a binary quantity, rounded up to the MiB (``"1Gi"``, ``"300Mi"``)."""
    mib = (num_bytes / (1024**2)).to_integral_value(rounding=ROUND_CEILING)
    if mib and mib % 1024 == 0:
        return f"{int(mib // 1024)}Gi"
    return f"{int(mib)}Mi"
