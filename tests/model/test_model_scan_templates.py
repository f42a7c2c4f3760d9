"""GGUF chat templates that reach Python internals through names the scanner could not see: the
`attribute=` path of jinja2's filters, `map('attr', ...)`, and subscripts, `attr` and `.format`
with names assembled from variables. Each bypass is shown to be live (a plain
`jinja2.Environment` runs a defanged payload that only touches a marker file in tmp_path, or
hands out an internal value) and refused by jinja2's sandbox, then to fail the scan with a
blocking EGM008. Typical benign templates stay clean."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
from gguf_helpers import write_gguf_with_template

from edgegate.findings import Status
from edgegate.model.scan import scan_paths

_MESSAGES = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "hi"},
    {"role": "assistant", "content": "yo"},
    {"role": "user", "content": "again"},
]
_TOOLS = [{"name": "weather", "description": "the weather",
           "parameters": {"properties": {"city": {"type": "string"}, "days": {"type": "integer", "format": "int32"}}}}]


def _raise_exception(msg: str) -> None:
    raise ValueError(msg)


def _render(template: str, sandboxed: bool, **extra: Any) -> str:
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment() if sandboxed else jinja2.Environment()
    return env.from_string(template).render(
        messages=_MESSAGES, tools=_TOOLS, bos_token="<s>", eos_token="</s>", add_generation_prompt=True,
        raise_exception=_raise_exception, **extra,
    )


def _sandbox_refuses(template: str, leak: str, **extra: Any) -> bool:
    from jinja2.exceptions import SecurityError, UndefinedError

    try:
        return leak not in _render(template, sandboxed=True, **extra)
    except (SecurityError, UndefinedError):  # the unsafe attribute came back as an undefined value
        return True


def _scan(tmp_path: Path, template: str) -> Any:
    return scan_paths([write_gguf_with_template(tmp_path / "m.gguf", template)])


def _assert_blocked(tmp_path: Path, template: str) -> None:
    result = _scan(tmp_path, template)
    assert result.status is Status.FAILED
    assert any(f.rule_id == "EGM008" and f.blocking for f in result.findings)


# '_' made without an underscore literal at the start or end of any string
_U = "{% set u = 'im_start'[2] %}"
_AB = "{% set a = u ~ u ~ 'init' ~ u ~ u %}{% set b = u ~ u ~ 'globals' ~ u ~ u %}"
_G = "{% set g = u ~ u ~ 'init' ~ u ~ u ~ '.' ~ u ~ u ~ 'globals' ~ u ~ u %}"
_RUN = "['os'].popen(cmd).read()"
_SUBSCRIPT = _AB + "{{ namespace[a][b]" + _RUN + " }}"

#: templates that run `cmd` in a plain Environment (namespace.__init__.__globals__['os'])
_EXEC = {
    # the review's template: a filter's attribute= keyword with a computed dotted path
    "map-attribute-review": "{% set u = '_' %}" + _G + "{% set m = [namespace]|map(attribute=g)|first %}"
    "{{ m" + _RUN + " }}{% for message in messages %}{{ message['content'] }}{% endfor %}",
    "map-attribute": _U + _G + "{{ ([namespace]|map(attribute=g)|first)" + _RUN + " }}",
    "groupby-positional": _U + _G + "{{ ([namespace]|groupby(g)|first).grouper" + _RUN + " }}",
    "groupby-keyword": _U + _G + "{{ ([namespace]|groupby(attribute=g)|first).grouper" + _RUN + " }}",
    "map-attr-filter": _U + _AB + "{{ ([namespace]|map('attr', a)|map('attr', b)|first)" + _RUN + " }}",
    "map-map-attribute": _U + _G + "{{ ([[namespace]]|map('map', attribute=g)|map('first')|first)" + _RUN + " }}",
    "map-computed-filter": _U + _AB + "{% set f = 'at' ~ 'tr' %}"
    "{{ ([namespace]|map(f, a)|map(f, b)|first)" + _RUN + " }}",
    "map-dyn-kwargs": _U + _G + "{{ ([namespace]|map(**{'attribute': g})|first)" + _RUN + " }}",
    "subscript-name-concat": _U + _SUBSCRIPT,
    "subscript-underscore-names": "{% set u = '_' %}" + _SUBSCRIPT,
    "subscript-setblock": "{% set u %}_{% endset %}" + _SUBSCRIPT,
    "subscript-for-target": "{% for u in ['_'] %}" + _SUBSCRIPT + "{% endfor %}",
    "subscript-format-filter": "{% set u = '%c'|format(95) %}" + _SUBSCRIPT,
    "subscript-replace": _U + "{% set a = 'xxinitxx'|replace('x', u) %}{% set b = 'xxglobalsxx'|replace('x', u) %}"
    "{{ namespace[a][b]" + _RUN + " }}",
    "subscript-join": _U + "{% set a = [u, u, 'init', u, u]|join %}{% set b = [u, u, 'globals', u, u]|join %}"
    "{{ namespace[a][b]" + _RUN + " }}",
    "subscript-plus": _U + "{% set a = u + u + 'init' + u + u %}{% set b = u + u + 'globals' + u + u %}"
    "{{ namespace[a][b]" + _RUN + " }}",
    "subscript-namespace-attr": _U + "{% set ns = namespace(a='', b='') %}{% set ns.a = u ~ u ~ 'init' ~ u ~ u %}"
    "{% set ns.b = u ~ u ~ 'globals' ~ u ~ u %}{{ namespace[ns.a][ns.b]" + _RUN + " }}",
    "subscript-macro-params": _U + "{% macro run(o, k1, k2) %}{{ o[k1][k2]" + _RUN + " }}{% endmacro %}"
    "{{ run(namespace, u ~ u ~ 'init' ~ u ~ u, u ~ u ~ 'globals' ~ u ~ u) }}",
    # the re-review's template: names written as block text, read back through `self.<block>()`
    "self-block-pieces": "{% block i %}_{{''}}_init_{{''}}_{% endblock %}{% block g %}_{{''}}_globals_{{''}}_"
    "{% endblock %}{% set i = self.i()|trim %}{% set g = self.g()|trim %}{{ namespace[i][g]" + _RUN + " }}",
    "self-block-filter": "{% block i %}{% filter replace('X', '_') %}XXinitXX{% endfilter %}{% endblock %}"
    "{% block g %}{% filter replace('X', '_') %}XXglobalsXX{% endfilter %}{% endblock %}"
    "{% set i = self.i() %}{% set g = self.g() %}{{ namespace[i][g]" + _RUN + " }}",
    "macro-output": "{% macro i() %}_{{''}}_init_{{''}}_{% endmacro %}{% macro g() %}_{{''}}_globals_{{''}}_"
    "{% endmacro %}{% set a = i()|trim %}{% set b = g()|trim %}{{ namespace[a][b]" + _RUN + " }}",
    "caller-output": "{% macro m() %}{% set a = caller()|trim %}{{ namespace[a]['_' ~ '_globals__']" + _RUN
    + " }}{% endmacro %}{% call m() %}_{{''}}_init_{{''}}_{% endcall %}",
    "macro-names": "{% macro _() %}{% endmacro %}{% macro init() %}{% endmacro %}{% macro globals() %}"
    "{% endmacro %}{% set u = _.name %}{% set a = u ~ u ~ init.name ~ u ~ u %}"
    "{% set b = u ~ u ~ globals.name ~ u ~ u %}{{ namespace[a][b]" + _RUN + " }}",
    "dict-keyword-names": "{% set u = dict(_=1)|first %}{% set a = u ~ u ~ (dict(init=1)|first) ~ u ~ u %}"
    "{% set b = u ~ u ~ (dict(globals=1)|first) ~ u ~ u %}{{ namespace[a][b]" + _RUN + " }}",
    "loop-previtem": _U + _AB + "{% set ns = namespace(a='', b='') %}{% for x in [a, b, 0] %}"
    "{% if loop.index0 == 1 %}{% set ns.a = loop.previtem %}{% endif %}"
    "{% if loop.index0 == 2 %}{% set ns.b = loop.previtem %}{% endif %}{% endfor %}"
    "{{ namespace[ns.a][ns.b]" + _RUN + " }}",
    # characters sliced out of the printed form of values read from the caller's data
    "repr-characters": "{% set r = messages.append|string %}{% set u = ((messages|first).keys()|string)[4] %}"
    "{% set a = u ~ u ~ r[7:9] ~ r[3] ~ r[5] ~ u ~ u %}"
    "{% set b = u ~ u ~ (range(1)|string)[3] ~ r[4] ~ r[14] ~ r[1] ~ r[17] ~ r[4] ~ r[29] ~ u ~ u %}"
    "{{ namespace[a][b]" + _RUN + " }}",
    "repr-characters-join": "{% set r = messages.append|string %}{% set u = ((messages|first).keys()|string)[4] %}"
    "{% set a = [u, u, r[7:9], r[3], r[5], u, u]|join %}"
    "{% set b = [u, u, (range(1)|string)[3], r[4], r[14], r[1], r[17], r[4], r[29], u, u]|join %}"
    "{{ namespace[a][b]" + _RUN + " }}",
    "repr-characters-plus": "{% set r = messages.append|string %}{% set u = ((messages|first).keys()|string)[4] %}"
    "{% set a = u + u + r[7:9] + r[3] + r[5] + u + u %}"
    "{% set b = u + u + (range(1)|string)[3] + r[4] + r[14] + r[1] + r[17] + r[4] + r[29] + u + u %}"
    "{{ namespace[a][b]" + _RUN + " }}",
}

_F = "('{0.XXinitXX.XXglobalsXX[os].name}'|replace('X','_'))"
_C = _U + "{% set c = u ~ u ~ 'class' ~ u ~ u %}"
_N = _U + "{% set g = u ~ u ~ 'class' ~ u ~ u ~ '.' ~ u ~ u ~ 'name' ~ u ~ u %}"  # '__class__.__name__'

#: templates whose plain-Environment output shows an internal value (the second item) that the
#: sandbox refuses: every filter that reads an attribute path, positional and keyword
_LEAK = {
    "sort-keyword": (_N + "[{{ ['', 0]|sort(attribute=g)|first }}]", "[0]"),
    "sort-positional": (_N + "[{{ ['', 0]|sort(false, false, g)|first }}]", "[0]"),
    "selectattr": (_N + "[{{ ['']|selectattr(g, 'equalto', 'str')|list|length }}]", "[1]"),
    "selectattr-dyn-args": (_N + "[{{ ['']|selectattr(*[g, 'equalto', 'str'])|list|length }}]", "[1]"),
    "rejectattr": (_N + "[{{ ['']|rejectattr(g, 'equalto', 'str')|list|length }}]", "[0]"),
    "unique-keyword": (_N + "[{{ ['', 'x', 0]|unique(attribute=g)|list|length }}]", "[2]"),
    "unique-positional": (_N + "[{{ ['', 'x', 0]|unique(false, g)|list|length }}]", "[2]"),
    "min": (_N + "[{{ ['', 0]|min(attribute=g) }}]", "[0]"),
    "max-positional": (_N + "[{{ ['a', 0]|max(false, g) }}]", "[a]"),
    "sum": (_U + "{% set m = u ~ u ~ 'class' ~ u ~ u ~ '.' ~ u ~ u ~ 'mro' ~ u ~ u %}"
            "{{ ['']|sum(attribute=m, start=()) }}", "<class 'object'>"),
    "join-positional": (_N + "[{{ ['']|join(',', g) }}]", "[str]"),
    "join-keyword": (_N + "[{{ ['']|join(attribute=g) }}]", "[str]"),
    "filter-block": (_C + "{% filter map(attribute=c)|first|string %}x{% endfilter %}", "<class 'str'>"),
    "map-constant-mro": ("{{ [namespace]|map(attribute='mro')|first }}", "method mro"),
    "map-constant-private": ("{% for x in [1] %}{{ [loop]|map(attribute='_iterator')|first }}{% endfor %}",
                             "iterator"),
    "map-constant-dotted-mro": ("{{ [[namespace]]|map(attribute='0.mro')|first }}", "method mro"),
    "str-format-computed": (_U + "{{ ('{0.' ~ u ~ u ~ 'class' ~ u ~ u ~ '}').format('') }}", "<class 'str'>"),
    # '<function _raise_exception at 0x...>' and "<class 'jinja2.utils.Namespace'>": an
    # underscore and 'class' read out of the printed form of functions the template is given
    "subscript-from-function-reprs": ("{% set u = (raise_exception|string)[10] %}"
                                      "{% set n = u ~ u ~ (namespace|string)[1:6] ~ u ~ u %}{{ ''[n] }}",
                                      "<class 'str'>"),
    "str-format-variable": (_C + "{% set f = '{0.' ~ c ~ '}' %}{{ f.format('') }}", "<class 'str'>"),
    # `str.format` obtained other than by a literal `.format(` call: its fields walk to `os`
    "format-attr-filter": ("{{ (" + _F + "|attr('format'))(namespace) }}", "posix"),
    "format-map-attr": ("{{ ([" + _F + "]|map('attr', 'format')|first)(namespace) }}", "posix"),
    "format-map-attribute": ("{{ ([" + _F + "]|map(attribute='format')|first)(namespace) }}", "posix"),
    "format-subscript": ("{{ " + _F + "['format'](namespace) }}", "posix"),
    "format-bound-to-a-name": ("{% set f = " + _F + ".format %}{{ f(namespace) }}", "posix"),
}


@pytest.mark.parametrize("template", list(_EXEC.values()), ids=list(_EXEC))
def test_gguf_template_running_code_through_a_hidden_name_is_blocking(tmp_path: Path, template: str) -> None:
    marker = tmp_path / "PWNED"
    cmd = f"touch {shlex.quote(str(marker))}"
    _render(template, sandboxed=False, cmd=cmd)  # defanged: only touches a file in tmp_path
    assert marker.exists()
    marker.unlink()
    assert _sandbox_refuses(template, "\0", cmd=cmd) and not marker.exists()
    _assert_blocked(tmp_path, template)


@pytest.mark.parametrize(("template", "leak"), list(_LEAK.values()), ids=list(_LEAK))
def test_gguf_template_reading_internals_through_an_attribute_path_is_blocking(
        tmp_path: Path, template: str, leak: str) -> None:
    assert leak in _render(template, sandboxed=False)
    assert _sandbox_refuses(template, leak)
    _assert_blocked(tmp_path, template)


def test_gguf_template_reaching_os_fails_the_cli(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _scan(tmp_path, _EXEC["map-attribute-review"])
    res = cli("model", "scan", str(tmp_path / "m.gguf"), "-f", "json")
    assert res.exit_code == 1


@pytest.mark.parametrize("template", [
    "{% set u = '_' %}{{ messages[0]['content'] }}",
    "{% set u = '_' %}{% set v = '_' %}{{ (u ~ v) | length }}",
], ids=["underscore", "name-join"])
def test_gguf_template_setting_an_underscore_string_is_blocking(tmp_path: Path, template: str) -> None:
    _assert_blocked(tmp_path, template)


_LLAMA3 = (
    "{{ bos_token }}{% for message in messages %}{% set content = '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
_CHATML = (
    "{% set system = messages|selectattr('role', 'equalto', 'system')|map(attribute='content')|list %}"
    "{% if system %}{{ '<|im_start|>system\\n' + system|join('\\n') + '<|im_end|>\\n' }}{% endif %}"
    "{% for message in messages|rejectattr('role', 'equalto', 'system') %}"
    "{{ '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
_MISTRAL = (
    "{% if messages[0]['role'] == 'system' %}{% set system_message = messages[0]['content'] %}"
    "{% set loop_messages = messages[1:] %}{% else %}{% set loop_messages = messages %}{% endif %}"
    "{{ bos_token }}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{% if loop.first and system_message is defined %}"
    "{{ '[INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}{% else %}"
    "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% endif %}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + eos_token }}{% endif %}{% endfor %}"
)
_TOOLS_TEMPLATE = (
    "{% macro field(obj, key) %}{{ obj[key] }}{% endmacro %}"
    "{% set ns = namespace(last=-1, names=[]) %}"
    "{% for tool in tools %}{{ field(tool, 'name') }}: {{ '{}'.format(tool.description) }}\\n"
    "{% for key in tool.parameters.properties %}{% set p = tool.parameters.properties[key] %}"
    "{{ key }} ({{ p['type'] }}){% endfor %}"
    "{% for name, spec in tool.parameters.properties|dictsort %}{{ tool.parameters.properties[name]['type'] }}"
    "{% endfor %}{% for k, v in tool.parameters.properties.items() %}{{ v.type }}{% endfor %}"
    "{% for k in ['name', 'description'] %}{{ tool[k] }}{% endfor %}{% endfor %}"
    "{% for m in messages %}{% if m.role == 'user' %}{% set ns.last = loop.index0 %}{% endif %}"
    "{% set i = loop.index0 + 1 %}{% if i < messages|length %}{{ messages[i]['role'] }}{% endif %}{% endfor %}"
    "{{ messages[ns.last]['content'] }}{{ messages|sort(attribute='role')|map(attribute='role')|join(',') }}"
    "{{ messages|unique(attribute='role')|list|length }}{{ (messages|max(attribute='content')).content }}"
    "{% for g in messages|groupby('role') %}{{ g.grouper }}{% endfor %}"
    "{{ messages|selectattr('role', 'defined')|list|length }}"
    "{{ messages|map(attribute='content')|map('length')|sum }}"
)
#: a JSON schema's `format` key read where only its value is used (not a string's `format` method)
_SCHEMA_FORMAT = (
    "{% for name, p in tools[0].parameters.properties|dictsort %}{{ name }}"
    "{% if p.format is defined and p.format %} ({{ p.format }}, {{ p['format']|tojson }}"
    "{{ ', ' ~ p.format }}){% endif %}{% endfor %}"
)


@pytest.mark.parametrize("template", [_LLAMA3, _CHATML, _MISTRAL, _TOOLS_TEMPLATE, _SCHEMA_FORMAT],
                         ids=["llama3", "chatml", "mistral", "tools", "schema-format"])
def test_gguf_typical_chat_templates_stay_clean(tmp_path: Path, cli, template: str) -> None:  # type: ignore[no-untyped-def]
    assert _render(template, sandboxed=True) == _render(template, sandboxed=False)
    result = _scan(tmp_path, template)
    assert result.status is Status.PASSED
    assert {f.rule_id for f in result.findings} == {"EGM007"}
    assert cli("model", "scan", str(tmp_path / "m.gguf")).exit_code == 0
