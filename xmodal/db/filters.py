"""The filter language: parsed and validated into a small public AST.

A filter is a JSON-like dict, matched against each row's payload. Only payload fields
declared in the collection's ``payload_schema`` can be filtered on, so a typo fails loudly
instead of silently matching nothing.

Forms::

    {"kind": "image"}                          # equality (shorthand for {"$eq": "image"})
    {"year": {"$gte": 2020, "$lt": 2024}}      # several operators on one field are AND-ed
    {"kind": "image", "year": 2021}            # several keys are AND-ed
    {"$or": [{"kind": "image"}, {"kind": "video"}]}
    {"$and": [...]}  {"$not": {...}}
    {"tags": {"$in": ["cat", "dog"]}}          # list fields: true when any element is listed
    {"caption": {"$exists": True}}

Operators on a field: ``$eq $ne $in $nin $gt $gte $lt $lte $exists`` (and ``$not`` wrapping
a field's operator dict, e.g. ``{"year": {"$not": {"$gt": 5}}}``).
Logical operators at any level: ``$and`` / ``$or`` (a non-empty list of filters), ``$not`` (one filter).
The empty filter ``{}`` matches every row.

Semantics (the same as MongoDB's, so users' intuitions carry over):

* A field that is absent or ``None`` is "missing". Missing fields fail ``$eq $in $gt $gte $lt $lte``
  and satisfy ``$ne $nin`` and ``$exists: false``. ``$not`` is the plain complement.
* On ``list[str]`` / ``list[int]`` fields ``$eq x`` means "contains x", ``$ne x`` "does not
  contain x", ``$in`` "shares an element", ``$nin`` "shares none"; order comparisons are refused.
* ``int`` and ``float`` fields compare numerically with each other's literals; ``str`` fields compare
  lexicographically; ``bool`` fields accept only ``$eq $ne $in $nin $exists``; ``json`` fields accept
  equality operators and ``$exists``.

Parsing rejects, with :class:`~xmodal.errors.InvalidInput` naming the problem: unknown operators,
undeclared fields, non-string keys, literals of the wrong type, NaN, nesting deeper than
``DBConfig.max_filter_depth``, more than ``DBConfig.max_filter_nodes`` conditions and ``$in`` lists
longer than ``DBConfig.max_filter_in_values`` (the database's own settings, passed as ``limits``).

The AST (``Cond``, ``And``, ``Or``, ``Not``) is what backends translate: the embedded engine turns it
into a numpy mask over columnar payload arrays (:mod:`xmodal.db.columns`), the Milvus backend into a
Milvus boolean expression. :func:`evaluate` is the plain-Python reference evaluator (used by tests).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Union

from xmodal.config import DBConfig
from xmodal.errors import InvalidInput

__all__ = ["FIELD_OPS", "LOGICAL_OPS", "ORDER_OPS", "EQUALITY_OPS", "ALLOWED_OPS", "Cond", "And", "Or", "Not", "Node",
           "parse_filter", "evaluate"]

FIELD_OPS: tuple[str, ...] = ("$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$exists")
LOGICAL_OPS: tuple[str, ...] = ("$and", "$or", "$not")
ORDER_OPS: tuple[str, ...] = ("$gt", "$gte", "$lt", "$lte")
EQUALITY_OPS: tuple[str, ...] = ("$eq", "$ne", "$in", "$nin", "$exists")
# Which operators each payload type allows.
ALLOWED_OPS: dict[str, tuple[str, ...]] = {
    "str": FIELD_OPS,
    "int": FIELD_OPS,
    "float": FIELD_OPS,
    "bool": EQUALITY_OPS,
    "list[str]": EQUALITY_OPS,
    "list[int]": EQUALITY_OPS,
    "json": EQUALITY_OPS,
}


@dataclass(frozen=True)
class Cond:
    """``field op value``. For ``$in``/``$nin`` the value is a tuple; for ``$exists`` a bool."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class And:
    children: tuple["Node", ...]


@dataclass(frozen=True)
class Or:
    children: tuple["Node", ...]


@dataclass(frozen=True)
class Not:
    child: "Node"


Node = Union[Cond, And, Or, Not]
_DEFAULT_LIMITS = DBConfig()


class _Budget:
    """Counts conditions while parsing so a hostile filter cannot blow up memory or time."""

    def __init__(self, limits: DBConfig) -> None:
        self.nodes = 0
        self.limits = limits

    def spend(self) -> None:
        self.nodes += 1
        if self.nodes > self.limits.max_filter_nodes:
            raise InvalidInput(f"filter has more than {self.limits.max_filter_nodes} conditions")

    def check_depth(self, depth: int) -> None:
        if depth > self.limits.max_filter_depth:
            raise InvalidInput(f"filter is nested deeper than {self.limits.max_filter_depth} levels")


def parse_filter(where: Mapping[str, Any] | None, schema: Mapping[str, str],
                 limits: DBConfig | None = None) -> Node | None:
    """Validate ``where`` against the declared payload ``schema`` and return its AST.

    ``None`` and ``{}`` return ``None`` (match everything), so callers can skip filtering cheaply.
    ``limits``: the database's settings bounding a filter's size (default: ``DBConfig()``).
    """
    if where is None:
        return None
    node = _parse_doc(where, schema, depth=0, budget=_Budget(limits or _DEFAULT_LIMITS))
    if isinstance(node, And) and not node.children:
        return None
    return node


def _parse_doc(doc: Any, schema: Mapping[str, str], depth: int, budget: _Budget) -> Node:
    budget.check_depth(depth)
    if not isinstance(doc, Mapping):
        raise InvalidInput(f"filter must be a dict, got {type(doc).__name__}")
    parts: list[Node] = []
    for key, value in doc.items():
        if not isinstance(key, str):
            raise InvalidInput(f"filter key {key!r} must be a string")
        if key in ("$and", "$or"):
            if not isinstance(value, (list, tuple)) or not value:
                raise InvalidInput(f"filter operator {key} needs a non-empty list of filters")
            children = tuple(_parse_doc(v, schema, depth + 1, budget) for v in value)
            parts.append(And(children) if key == "$and" else Or(children))
        elif key == "$not":
            parts.append(Not(_parse_doc(value, schema, depth + 1, budget)))
        elif key.startswith("$"):
            raise InvalidInput(f"unknown filter operator {key!r} (known: {', '.join(LOGICAL_OPS)} at top level)")
        else:
            parts.append(_parse_field(key, value, schema, depth + 1, budget))
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _parse_field(name: str, spec: Any, schema: Mapping[str, str], depth: int, budget: _Budget) -> Node:
    budget.check_depth(depth)
    if name not in schema:
        shown = name if len(name) <= 64 else name[:64] + "..."
        declared = ", ".join(sorted(schema)) or "none"
        raise InvalidInput(f"filter on undeclared payload field {shown!r} (declared: {declared})")
    ptype = schema[name]
    if not isinstance(spec, Mapping) or not any(isinstance(k, str) and k.startswith("$") for k in spec):
        budget.spend()
        return Cond(name, "$eq", _literal(name, ptype, "$eq", spec))
    parts: list[Node] = []
    for op, value in spec.items():
        if not isinstance(op, str) or not op.startswith("$"):
            raise InvalidInput(f"filter on {name!r}: cannot mix operators and plain keys ({op!r})")
        if op == "$not":
            parts.append(Not(_parse_field(name, value, schema, depth + 1, budget)))
            continue
        if op not in FIELD_OPS:
            raise InvalidInput(f"unknown filter operator {op!r} on field {name!r} (known: {', '.join(FIELD_OPS)})")
        if op not in ALLOWED_OPS[ptype]:
            raise InvalidInput(f"filter operator {op} is not allowed on {ptype} field {name!r}")
        budget.spend()
        if op == "$exists":
            if not isinstance(value, bool):
                raise InvalidInput(f"filter on {name!r}: $exists needs true or false, got {value!r}")
            parts.append(Cond(name, op, value))
        elif op in ("$in", "$nin"):
            if not isinstance(value, (list, tuple)):
                raise InvalidInput(f"filter on {name!r}: {op} needs a list, got {type(value).__name__}")
            if len(value) > budget.limits.max_filter_in_values:
                raise InvalidInput(f"filter on {name!r}: {op} list longer than {budget.limits.max_filter_in_values}")
            parts.append(Cond(name, op, tuple(_literal(name, ptype, op, v) for v in value)))
        else:
            parts.append(Cond(name, op, _literal(name, ptype, op, value)))
    if not parts:
        raise InvalidInput(f"filter on {name!r} has no operators")
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _literal(name: str, ptype: str, op: str, value: Any) -> Any:
    """Check one literal against the field's type; returns it normalised (floats for numbers)."""
    if ptype == "json":
        return value
    base = ptype[5:-1] if ptype.startswith("list[") else ptype
    ok: bool
    if base == "str":
        ok = isinstance(value, str)
    elif base == "bool":
        ok = isinstance(value, bool)
    elif base == "int" and ptype.startswith("list["):
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:  # int / float scalars compare numerically
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and isinstance(value, float) and math.isnan(value):
            raise InvalidInput(f"filter on {name!r}: {op} with NaN matches nothing; use $exists")
    if not ok:
        raise InvalidInput(f"filter on {ptype} field {name!r}: {op} value {value!r} is a {type(value).__name__}")
    return value


def _contains(container: Any, x: Any) -> bool:
    return any(v == x and type(v) is type(x) for v in container)


def _eq(a: Any, b: Any) -> bool:
    """Equality without Python's True == 1 conflation (a bool never equals a number here)."""
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return a == b


def evaluate(node: Node | None, payload: Mapping[str, Any], schema: Mapping[str, str]) -> bool:
    """Reference evaluator of a parsed filter against one payload (slow, obviously correct)."""
    if node is None:
        return True
    if isinstance(node, And):
        return all(evaluate(c, payload, schema) for c in node.children)
    if isinstance(node, Or):
        return any(evaluate(c, payload, schema) for c in node.children)
    if isinstance(node, Not):
        return not evaluate(node.child, payload, schema)
    value = payload.get(node.field)
    missing = value is None
    op = node.op
    if op == "$exists":
        return (not missing) == node.value
    is_list = schema[node.field].startswith("list[")
    if op in ("$eq", "$ne"):
        if missing:
            hit = False
        elif is_list:
            hit = isinstance(value, list) and _contains(value, node.value)
        else:
            hit = _eq(value, node.value)
        return hit if op == "$eq" else not hit
    if op in ("$in", "$nin"):
        if missing:
            hit = False
        elif is_list:
            hit = isinstance(value, list) and any(_contains(value, x) for x in node.value)
        else:
            hit = any(_eq(value, x) for x in node.value)
        return hit if op == "$in" else not hit
    if missing:
        return False
    if op == "$gt":
        return value > node.value
    if op == "$gte":
        return value >= node.value
    if op == "$lt":
        return value < node.value
    return value <= node.value  # $lte
