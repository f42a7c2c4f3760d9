"""The records catalogers produce: packages, the detected OS, notes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Package:
    """One package found in an image or environment."""

    name: str
    version: str
    ecosystem: str
    purl: str | None
    """None for a package that is not from a registry (e.g. a local directory install)."""
    location: str
    layer: str | None = None
    licenses: list[str] = field(default_factory=list)
    arch: str | None = None
    supplier: str | None = None
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class OSInfo:
    """The distribution from ``/etc/os-release``."""

    id: str
    version_id: str | None = None
    pretty_name: str | None = None
    version_codename: str | None = None
    layer: str | None = None

    @property
    def distro(self) -> str:
        return f"{self.id}-{self.version_id}" if self.version_id else self.id


@dataclass(frozen=True)
class Note:
    """Something a cataloger could not do (a database found and not read, a bad record)."""

    rule_id: str
    message: str
    location: str
    layer: str | None = None
