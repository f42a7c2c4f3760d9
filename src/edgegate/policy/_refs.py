"""Whether a policy may read documents edgegate puts under ``data.edgegate``, decided from its
source, conservatively.

Used to leave the run's documents (``data.edgegate.inventory``, ``inventory_by_kind``) out of
``data`` when no module can see them. `may_read` answers True whenever it cannot rule a read
out: a reference to one of the keys; ``data`` or ``data.edgegate`` used whole, indexed with
``[…]``, iterated or imported (``import data.edgegate as e`` reads through ``e``); a module of
package ``edgegate`` itself. A policy that reads the inventory always gets it: a wrong False
would be a silent pass."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from edgegate.policy.modules import Module, _blank, _tokens


def may_read(modules: Iterable[Module], keys: Collection[str], root: str = "edgegate") -> bool:
    """Whether any of `modules` may read ``data.<root>.<key>`` for one of `keys`."""
    for module in modules:
        if module.package == root or module.package.startswith(root + "."):
            return True
        toks = _tokens(_blank(module.source))
        for i, tok in enumerate(toks):
            if tok.text != "data" or tok.kind != "id" or (i and toks[i - 1].text == "."):
                continue
            path: list[str] = []
            j = i + 1
            while j + 1 < len(toks) and toks[j].text == "." and toks[j + 1].kind == "id" and len(path) < 2:
                path.append(toks[j + 1].text)
                j += 2
            if not path or (path[0] == root and (len(path) == 1 or path[1] in keys)):
                return True
    return False
