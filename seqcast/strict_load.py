"""Reading the YAML and JSON files people write (mappings, models, window specs).

PyYAML and ``json`` keep the last of two equal keys without a word: ``params: {order:
[1, 0, 0], order: [2, 0, 0]}`` fitted (2,0,0), a mapping naming ``date_column`` twice read
the second. Here a key given twice in one mapping is an error naming the key and where.

>>> from seqcast.errors import parse_problem
>>> try:
...     yaml.load("a: 1\\nb: 2\\na: 3\\n", Loader=StrictLoader)
... except yaml.YAMLError as exc:
...     parse_problem(exc)
"found key 'a' given twice at line 3, column 1"
>>> json_loads('{"a": 1, "a": 2}')
Traceback (most recent call last):
...
ValueError: key 'a' given twice
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (merge keys ``<<`` aside)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                twice = key in seen
            except TypeError:  # an unhashable key: the base class says so
                break
            if twice:
                raise yaml.constructor.ConstructorError("while constructing a mapping", node.start_mark,
                                                        f"found key {key!r} given twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _unique(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} given twice")
        out[key] = value
    return out


def json_loads(text: str) -> Any:
    """``json.loads`` that refuses a key given twice in one object."""
    return json.loads(text, object_pairs_hook=_unique)


def read_text(path: str | Path) -> str:
    """A YAML/JSON file's text, UTF-8 (:func:`decode_utf8`). Raises ``OSError`` when it cannot
    be read and ``ValueError`` when it is not UTF-8 (a file saved as cp1252 with a ``# café``
    comment was ``internal error UnicodeDecodeError``)."""
    return decode_utf8(Path(path).read_bytes())


def decode_utf8(data: bytes) -> str:
    """``data`` as text, a byte order mark (Notepad) dropped; else ``ValueError`` naming the
    first byte that is not UTF-8 and its line.

    >>> decode_utf8(b"\\xef\\xbb\\xbf- sarima\\n")
    '- sarima\\n'
    >>> decode_utf8(b"- sarima\\n# caf\\xe9\\n")
    Traceback (most recent call last):
    ...
    ValueError: not UTF-8 text (byte 0xe9 on line 2); save it as UTF-8
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValueError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); save it as UTF-8") from None
