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
