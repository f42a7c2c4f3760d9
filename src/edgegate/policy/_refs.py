"""Which parts of ``data.edgegate`` a policy may read, decided from its source, conservatively.

Used to leave the run's documents out of ``data`` when no module can see them: `may_read_data`
answers True whenever it cannot rule a read out (the word itself anywhere in a module, even in a
comment or a string; ``data`` or ``data.edgegate`` used whole, indexed with ``[…]`` or imported),
so a policy that reads the inventory always gets it; a wrong False would be a silent pass."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from edgegate.policy.modules import Module, _blank, _tokens


def may_read_data(modules: Iterable[Module], path: Sequence[str]) -> bool:
    """Whether any of `modules` may read ``data.<path>`` (``path`` such as ``("edgegate",
    "inventory")``; only its last key is looked for as a word, so ``inventory_by_kind`` counts)."""
    word = path[-1]
    for module in modules:
        if word in module.source:
            return True
        toks = _tokens(_blank(module.source))
        for i, tok in enumerate(toks):
            if tok.text != "data" or tok.kind != "id" or (i and toks[i - 1].text == "."):
                continue
            keys: list[str] = []
            j = i + 1
            while j + 1 < len(toks) and toks[j].text == "." and toks[j + 1].kind == "id":
                keys.append(toks[j + 1].text)
                j += 2
            # `data` or `data.edgegate` (a prefix of the path) used whole, indexed or imported
            if list(path[: len(keys)]) == keys and len(keys) < len(path):
                return True
    return False
