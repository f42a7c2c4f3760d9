"""`edgegate.toml` / `[tool.edgegate]` discovery, loading and validation.

The top level is validated against `schemas/config.schema.json`; each gate's section against
`schemas/config/<gate>.schema.json` when that file exists, so every gate owns its own keys.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from edgegate.errors import ConfigError, EdgegateError, InputError
from edgegate.io.files import read_text_bounded
from edgegate.io.parse import loads_toml
from edgegate.resources import schema_path

CONFIG_NAMES = ("edgegate.toml", ".edgegate.toml")
ALLOWED_ENV = "EDGEGATE_ALLOWED_PATHS"
"""Folders outside the project that config paths may name (os.pathsep-separated; set by the CI
owner, never by the config under review)."""


@dataclass
class Config:
    """A loaded configuration. Relative paths in it are relative to `root` (the file's folder)."""

    path: Path | None
    root: Path
    data: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any] | None:
        value = self.data.get(name)
        return value if isinstance(value, dict) else None

    def resolve(self, value: str | Path) -> Path:
        """A path from the config, made absolute against the config's folder. In a pull request
        the config is the author's, so the path must resolve (symlinks followed) inside the
        project folder or a folder listed in ``$EDGEGATE_ALLOWED_PATHS``; else a `ConfigError`."""
        p = Path(value)
        full = p if p.is_absolute() else self.root / p
        if self.path is None:  # no config file: paths came from the command line
            return full
        from edgegate.io.paths import is_inside

        allowed = [self.root, *(Path(a) for a in os.environ.get(ALLOWED_ENV, "").split(os.pathsep) if a)]
        if not any(is_inside(full, root) for root in allowed):
            raise ConfigError(
                f"path {str(value)!r} resolves outside the project folder {self.root} "
                f"(list extra folders in ${ALLOWED_ENV})",
                self.path,
            )
        return full

    def display_path(self, value: str | Path) -> str:
        """`resolve(value)`, shown relative to the working directory when it is below it (short
        paths in reports)."""
        full = self.resolve(value)
        try:
            return str(full.relative_to(Path.cwd()))
        except ValueError:
            return str(full)

    def expiry_date(self, value: Any, where: str) -> date | None:
        """An ``expires`` value (a TOML date or datetime, or a YYYY-MM-DD string) as a date."""
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}.expires: must be a date (YYYY-MM-DD), got {value!r}", self.path)

    @property
    def shown(self) -> str:
        return str(self.path) if self.path else "<defaults>"


def find_config(start: str | Path) -> Path | None:
    """The config for `start`: the file itself, or the `edgegate.toml` (or a `pyproject.toml`
    with `[tool.edgegate]`) from `start` upwards to the repository root (a folder holding
    `.git`). Two configs on that way (or side by side) are a `ConfigError`: in a pull request a
    config added below or beside the project's own would replace it silently (every gate it
    sets up, gone)."""
    p = Path(os.path.abspath(start))  # from where it is named: a committed `m -> ../outside` stays here
    if p.is_file():
        return p.resolve()
    found: Path | None = None
    here = p if not p.is_symlink() else p.parent
    for folder in (here, *here.parents):
        for candidate in _configs_in(folder):
            if found is None:
                found = candidate
            else:
                raise ConfigError(
                    f"two configs apply here, {found} and {candidate} (the nearer one would replace the other);"
                    " name the one to use with --config", p,
                )
        if (folder / ".git").exists():
            break
    return found


def _configs_in(folder: Path) -> list[Path]:
    out = [folder / name for name in CONFIG_NAMES if (folder / name).is_file()]
    pyproject = folder / "pyproject.toml"
    if pyproject.is_file() and _has_tool_section(pyproject):
        out.append(pyproject)
    return out


def _has_tool_section(pyproject: Path) -> bool:
    try:
        data = loads_toml(read_text_bounded(pyproject), pyproject)
    except EdgegateError:
        return False
    return isinstance(data.get("tool"), dict) and "edgegate" in data["tool"]


def load_config(path: str | Path) -> Config:
    """Load and validate a config file (`edgegate.toml` or a `pyproject.toml`). The project
    folder is the folder the file is in; a config that is a symlink to a file elsewhere is
    refused (it would move the project, and what its paths may reach, out of the checkout)."""
    from edgegate.io.paths import is_inside

    p = Path(path)
    folder = Path(os.path.abspath(p)).parent
    if p.is_symlink() and not is_inside(p, folder):
        raise ConfigError("the config file is a symlink to a file outside its folder", p)
    try:
        text = read_text_bounded(p, 4 * 1024 * 1024)
    except Exception as exc:
        raise ConfigError(str(getattr(exc, "message", exc)), p) from None
    try:
        raw = loads_toml(text, p)
    except InputError as exc:
        raise ConfigError(exc.message, p, exc.line) from None
    if p.name == "pyproject.toml":
        tool = raw.get("tool", {})
        data = tool.get("edgegate") if isinstance(tool, dict) else None
        if not isinstance(data, dict):
            raise ConfigError("no [tool.edgegate] table", p)
        prefix = "tool.edgegate."
    else:
        data = raw
        prefix = ""
    validate_config(data, p, prefix)
    return Config(path=p.resolve(), root=folder.resolve(), data=data)


def _load_schema(name: str) -> dict[str, Any] | None:
    try:
        path = schema_path(name)
    except FileNotFoundError:
        return None
    if not path.is_file():
        return None
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return result


def validate_config(data: Mapping[str, Any], path: Path, prefix: str = "") -> None:
    """Validate `data` against the config schemas; raise `ConfigError` naming the key."""
    top = _load_schema("config.schema.json")
    if top is None:  # pragma: no cover - broken installation
        raise ConfigError("edgegate's config schema is missing from this installation", path)
    if isinstance(data, dict):
        _kebab_keys(data, top, path, prefix)
    _validate(data, top, path, prefix)
    for name, section in data.items():
        if isinstance(section, dict):
            schema = _load_schema(f"config/{name}.schema.json")
            if schema is not None:
                _kebab_keys(section, schema, path, f"{prefix}{name}.")
                _validate(section, schema, path, f"{prefix}{name}.")


def _kebab_keys(data: dict[str, Any], schema: Mapping[str, Any], path: Path, prefix: str) -> None:
    """Keys are kebab-case everywhere: an old snake_case spelling of a known key is renamed in
    place, with a deprecation warning (both spellings at once is an error). Nested tables with
    a schema of their own (``[model.scan]``) are handled too; free-form tables are left alone."""
    props = schema.get("properties", {})
    if not isinstance(props, dict):
        return
    for key in list(data):
        new = key.replace("_", "-")
        if new != key and key not in props and new in props:
            if new in data:
                raise ConfigError(f"'{prefix}{key}' and '{prefix}{new}' are the same key; keep '{new}'", path)
            from edgegate._cli import warning_line

            warning_line(f"{path}: '{prefix}{key}' is deprecated; write '{prefix}{new}'")
            data[new] = data.pop(key)
    for key, value in data.items():
        sub = props.get(key)
        if isinstance(value, dict) and isinstance(sub, dict) and "properties" in sub:
            _kebab_keys(value, sub, path, f"{prefix}{key}.")


def _validate(data: Any, schema: Mapping[str, Any], path: Path, prefix: str) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is None:
        return
    key = prefix + ".".join(str(p) for p in error.absolute_path)
    key = key.rstrip(".")
    if error.validator == "additionalProperties":
        extra = _extra_keys(error)
        if extra:
            where = f"{key}." if key else ""
            hint = did_you_mean(extra.split(", ")[0], error.schema.get("properties", {}))
            raise ConfigError(f"unknown key '{where}{extra}'{hint}", path)
    where = f"'{key}'" if key else "top level"
    raise ConfigError(f"invalid value at {where}: {error.message}", path)


def _extra_keys(error: Any) -> str:
    props = set(error.schema.get("properties", {}))
    patterns = error.schema.get("patternProperties", {})
    import re

    extra = [
        k
        for k in error.instance
        if k not in props and not any(re.search(pat, k) for pat in patterns)
    ]
    return ", ".join(sorted(map(str, extra)))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of `choices`, or ``""``."""
    import difflib

    options = [str(c) for c in choices]
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(word.replace("_", "-"), options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def default_config(root: str | Path) -> Config:
    """An empty config rooted at `root`, for commands run without a config file."""
    return Config(path=None, root=Path(root).resolve(), data={})


def section_for(name: str, start: str | Path, config_file: str | Path | None = None,
                no_config: bool = False) -> tuple[Mapping[str, Any], Config]:
    """The `name` section and its config for a command run on `start`: `config_file`, or the
    config found from `start` upwards (`find_config`), or none (`no_config`, or nothing found:
    an empty section and the defaults rooted at the current folder)."""
    if no_config:
        return {}, default_config(Path.cwd())
    begin = Path(start)
    if begin.is_file():
        begin = begin.parent  # find_config takes a file as the config itself
    found = config_file or find_config(begin)
    if found is None:
        return {}, default_config(Path.cwd())
    if not Path(found).exists():
        raise ConfigError("no such config file", found)
    if not Path(found).is_file():
        raise ConfigError("not a regular file (a config is a TOML file)", found)
    cfg = load_config(found)
    return cfg.section(name) or {}, cfg
