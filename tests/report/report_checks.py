"""Checks the report tests share (imported as a plain module): how the GitHub Actions runner
reads a log line, and validation against the vendored JUnit XSDs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "junit"


@dataclass
class Command:
    name: str
    properties: dict[str, str] = field(default_factory=dict)
    data: str = ""


def _unescape_property(text: str) -> str:
    for token, repl in (("\r", "%0D"), ("\n", "%0A"), (":", "%3A"), (",", "%2C"), ("%", "%25")):
        text = text.replace(repl, token)
    return text


def _unescape_data(text: str) -> str:
    for token, repl in (("\r", "%0D"), ("\n", "%0A"), ("%", "%25")):
        text = text.replace(repl, token)
    return text


def parse_v2(line: str) -> Command | None:
    """actions/runner ``ActionCommand.TryParseV2`` for any command name: the line, trimmed at the
    start, begins with ``::`` and has another ``::`` after the command info."""
    message = line.lstrip()
    if not message.startswith("::"):
        return None
    end = message.find("::", 2)
    if end < 0:
        return None
    info = message[2:end]
    name, _, props = info.partition(" ")
    if not name:
        return None
    cmd = Command(name)
    for prop in filter(None, props.strip().split(",")):
        key, sep, value = prop.partition("=")
        if sep and key and value:
            cmd.properties[key] = _unescape_property(value)
    cmd.data = _unescape_data(message[end + 2 :])
    return cmd


def parse_v1(line: str) -> bool:
    """actions/runner ``ActionCommand.TryParse`` (``##[name ...]data`` anywhere in the line)."""
    start = line.find("##[")
    return start >= 0 and line.find("]", start) >= 0 and line.find("]", start) > start + 3


def log_lines(text: str) -> list[str]:
    """Lines as the runner reads a step's output (.NET ``ReadLine``: CR, LF or CR LF)."""
    return re.split(r"\r\n|\r|\n", text)


def runner_commands(lines: list[str]) -> list[Command]:
    """The workflow commands the runner would act on in `lines`."""
    return [c for c in (parse_v2(ln) for ln in lines) if c is not None]


def junit_schema_errors(text: str) -> dict[str, list[str]]:
    """Validation errors of a JUnit document against the Ant and the Jenkins xunit XSD."""
    from lxml import etree

    doc = etree.fromstring(text.encode("utf-8"))
    out: dict[str, list[str]] = {}
    for key, name in (("ant", "ant-junit.xsd"), ("jenkins", "jenkins-xunit-junit-10.xsd")):
        schema = etree.XMLSchema(etree.parse(str(DATA / name)))
        schema.validate(doc)
        out[key] = [str(e) for e in schema.error_log]
    return out
