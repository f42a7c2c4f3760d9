"""What the pickle opcode walk reports: the imports a pickle would perform and the stream's shape."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PickleImport:
    """One import the unpickler would perform (`find_class(module, name)`)."""

    module: str
    name: str
    offset: int
    """Byte offset of the importing opcode in the stream."""
    opcode: str
    called: bool = False
    """The imported object is called (REDUCE, OBJ, NEWOBJ, INST) later in the stream."""
    resolved: bool = True
    """False when the operands of STACK_GLOBAL are not literal strings (an evasion attempt)."""
    patched: bool = False
    """BUILD sets state on the imported object itself (not on an instance): it rewrites that
    module or class for everything loaded after it. No pickler writes that."""

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass
class PickleAnalysis:
    """What the opcode walk found in one stream (possibly several pickles in sequence)."""

    imports: list[PickleImport] = field(default_factory=list)
    pickles: int = 0
    """Complete pickles (ended by STOP)."""
    opcodes: int = 0
    protocol: int | None = None
    error: str | None = None
    """Why parsing stopped before the end of the data (the stream is malformed or truncated)."""
    error_offset: int | None = None
    trailing_offset: int | None = None
    """Where data that is not a pickle starts after the last complete pickle, if any."""
    torch_legacy: bool = False
    anomalies: list[str] = field(default_factory=list)
    """Things a valid pickle never does (stack underflow, a memo key never stored)."""
    joblib_arrays: int = 0
    """Arrays whose data joblib stores inside the pickle stream (stepped over, not parsed)."""
    first_value: object = None
    """The first pickle's value when it is a literal (an int, a string), else None."""

    @property
    def complete(self) -> bool:
        return self.error is None and self.pickles > 0


@dataclass
class JoblibArray:
    """Raw array bytes joblib writes right after a NumpyArrayWrapper's BUILD."""

    nbytes: int | None
    """None: object dtype, a nested pickle follows instead of raw bytes."""
    aligned: bool
