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
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (merge keys ``<<`` aside)
    and the integers YAML 1.1 reads other than written (``010`` -> 8, ``1:30`` -> 90).

    >>> from seqcast.errors import parse_problem
    >>> try:
    ...     yaml.load("epochs: 010\\n", Loader=StrictLoader)
    ... except yaml.YAMLError as exc:
    ...     parse_problem(exc)
    "'010' is an octal number in YAML (8); write it without the leading 0, or quote it for text at line 1, column 9"
    >>> yaml.load("a: 0\\nb: 10\\nc: -7\\nd: '010'\\ne: 0x1F\\n", Loader=StrictLoader)
    {'a': 0, 'b': 10, 'c': -7, 'd': '010', 'e': 31}
    """

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        """YAML 1.1 integers, but not those people do not mean: ``010`` is octal 8 and
        ``1:30`` base 60 (90) there; each is an error saying so (quote it for text)."""
        text = str(node.value).replace("_", "").lstrip("+-")
        if node.style is None and (":" in text or (len(text) > 1 and text[0] == "0" and text.isdigit())):
            kind = "a base-60 number" if ":" in text else "an octal number"
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is {kind} in YAML ({super().construct_yaml_int(node)}); "
                f"write it without {'the colon' if ':' in text else 'the leading 0'}, or quote it for text",
                node.start_mark)
        return super().construct_yaml_int(node)

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


StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)


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
