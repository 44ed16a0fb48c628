"""Kubernetes manifests as the deploy operations read them: YAML with several documents,
each checked for what every object needs, with errors naming the document and the field.
No I/O here."""

from __future__ import annotations

import base64
import binascii
import functools
import re
from dataclasses import dataclass
from typing import Any

from runwright.runners.spec import SpecError

FIELD = "options.manifests"


@dataclass(frozen=True)
class Manifest:
    """One document of a manifest: its position (1-based) and the object."""

    index: int
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def api_version(self) -> str:
        return str(self.body["apiVersion"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def namespace(self) -> str | None:
        ns = self.body["metadata"].get("namespace")
        return str(ns) if ns else None

    def label(self) -> str:
        """``document 2 (Deployment web)``: how errors and the log name it."""
        return f"document {self.index} ({self.kind} {self.name})"


def parse_manifests(text: str) -> list[Manifest]:
    """The documents of ``text`` (empty documents skipped).

    Raises SpecError(``options.manifests``, "document N: ...") when a document is not YAML,
    not a mapping, or lacks apiVersion, kind or metadata.name (or has them of the wrong type).
    """
    import yaml

    docs: list[Manifest] = []
    index = 0
    try:
        for raw in yaml.safe_load_all(text):
            index += 1
            if raw is None:
                continue
            docs.append(_check(index, raw))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(FIELD, f"document {index + 1} is not valid YAML{where}: {problem}") from None
    if not docs:
        raise SpecError(FIELD, "holds no document")
    return docs


def _check(index: int, raw: Any) -> Manifest:
    if not isinstance(raw, dict):
        raise SpecError(FIELD, f"document {index}: must be a mapping (an object), got {type(raw).__name__}")
    for key in ("apiVersion", "kind"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise SpecError(FIELD, f"document {index}: {key} is missing or not a string")
    meta = raw.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise SpecError(FIELD, f"document {index} ({raw['kind']}): metadata.name is missing or not a string")
    if raw["kind"] == "Secret":
        for key in ("data", "stringData"):
            if key in raw and not isinstance(raw[key], dict):
                raise SpecError(FIELD, f"document {index} (Secret {meta['name']}): {key} must be a mapping")
    return Manifest(index, raw)


def secret_values(text: object) -> list[str]:
    """Every value of every Secret document in the manifests ``text`` (the ``manifests``
    option's secrets, masked in the stored spec, the log, events, metadata and errors): each
    value of ``data`` and ``stringData`` in clear and in base64, and as the YAML text spells it
    (quoted, escaped, a block scalar), so the stored manifest shows none of it. A Secret under
    any mapping counts (a ``kind: List``'s items too). The documents before one that does not
    parse are read; the text of that document is a secret itself when it names a Secret."""
    if not isinstance(text, str) or "Secret" not in text:
        return []
    return list(_manifest_secret_values(text))


@functools.lru_cache(maxsize=32)
def _manifest_secret_values(text: str) -> tuple[str, ...]:
    import yaml

    found: list[str] = []
    parsed_to = 0  # where the last document read ends
    try:
        for root in yaml.compose_all(text, Loader=yaml.SafeLoader):
            if root is not None:
                found += _node_secrets(text, root)
                parsed_to = root.end_mark.index
    except yaml.YAMLError:
        rest = text[parsed_to:]
        end = re.search(r"^---", rest[1:], re.MULTILINE)  # the broken document, to the next one
        broken = (rest[:end.start() + 1] if end else rest).strip().removeprefix("---").strip()
        if re.search(r"\bSecret\b", broken):
            found.append(broken)
    return tuple(dict.fromkeys(v for v in found if v))


def _node_secrets(text: str, node: Any, seen: set[int] | None = None) -> list[str]:
    """The secret values under YAML node ``node`` (of ``text``): of every mapping in it whose
    ``kind`` is ``Secret``."""
    import yaml

    seen = set() if seen is None else seen
    if id(node) in seen:  # an alias to a node already looked at
        return []
    seen.add(id(node))
    found: list[str] = []
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            found += _node_secrets(text, item, seen)
    elif isinstance(node, yaml.MappingNode):
        pairs = [(k.value if isinstance(k, yaml.ScalarNode) else None, v) for k, v in node.value]
        is_secret = any(k == "kind" and isinstance(v, yaml.ScalarNode) and v.value == "Secret" for k, v in pairs)
        for key, value in pairs:
            if is_secret and key in ("data", "stringData"):
                for scalar in _scalars(value):
                    found += _value_forms(scalar.value, encoded=key == "data")
                    spelled = text[scalar.start_mark.index:scalar.end_mark.index].strip()
                    if spelled:
                        found.append(spelled)
            else:
                found += _node_secrets(text, value, seen)
    return found


def _scalars(node: Any) -> list[Any]:
    """The scalar values under ``node`` (mapping values, sequence items; a merge key's too)."""
    import yaml

    if isinstance(node, yaml.ScalarNode):
        return [node]
    if isinstance(node, yaml.MappingNode):
        return [s for _, value in node.value for s in _scalars(value)]
    if isinstance(node, yaml.SequenceNode):
        return [s for item in node.value for s in _scalars(item)]
    return []


def _value_forms(value: str, *, encoded: bool) -> list[str]:
    """A Secret's value as it may be shown: as written, and in clear (``data`` is base64, its
    clear bytes read as the Redactor matches them) or in base64 (``stringData``, which the API
    server stores and returns as ``data``)."""
    if not encoded:
        return [value, base64.b64encode(value.encode("utf-8", "surrogateescape")).decode("ascii")]
    try:
        clear = base64.b64decode(value, validate=True).decode("utf-8", "surrogateescape")
    except (binascii.Error, ValueError):
        return [value]
    return [value, clear]


__all__ = ["Manifest", "parse_manifests", "secret_values"]
