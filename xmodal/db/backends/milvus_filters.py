"""Translate a parsed xmodal filter (:mod:`xmodal.db.filters` AST) into a Milvus boolean expression.

The filter is parsed and validated by the same parser the embedded engine uses, so both backends
accept and refuse the same filters; this module only prints the AST in Milvus' grammar.

A row may lack a declared field. Collections store that in a BOOL presence column per field
(``n_0``...: Milvus servers before 2.5 have no nullable columns, and Milvus evaluates comparisons on
NULL as "unknown", on which Milvus Lite and the server disagree under ``not``); collections written
by older xmodal versions use nullable columns and ``is not null``. Every atom is guarded by one or
the other so it is plainly true or false; ``$ne`` / ``$nin`` / ``$not`` are then plain complements
and match rows lacking the field, as the filter language specifies. Nothing from the caller is spliced in as text:
strings go through JSON quoting (which Milvus' grammar parses, escapes included), numbers are
printed from Python numbers, and field names are replaced by generated column names (``p_0``...).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from xmodal.config import DBConfig
from xmodal.db.filters import And, Cond, Node, Not, Or, parse_filter
from xmodal.errors import UnsupportedByBackend

COMPARISONS = {"$eq": "==", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
NEGATIONS = {"$ne": "$eq", "$nin": "$in"}
MATCH_ALL = ""


@dataclass(frozen=True)
class Column:
    """A declared payload field as Milvus sees it: the generated column name, the xmodal type and the
    BOOL column saying the row has a value (``None``: a nullable column, the older layout)."""

    column: str
    type: str
    present: str | None = None

    def guard(self, has: bool = True) -> str:
        if self.present is None:
            return f"{self.column} is not null" if has else f"{self.column} is null"
        return f"{self.present} == {'true' if has else 'false'}"


def literal(value: Any) -> str:
    """One already-validated literal in Milvus syntax."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise UnsupportedByBackend(f"filter literal {value!r}: the Milvus backend compares only strings, numbers "
                               "and booleans")


def literal_list(values: Any) -> str:
    return "[" + ", ".join(literal(v) for v in values) + "]"


class MilvusFilter:
    """Compiles filters against one collection's declared payload columns."""

    def __init__(self, columns: Mapping[str, Column], limits: DBConfig | None = None):
        self.columns = dict(columns)
        self.schema = {k: c.type for k, c in self.columns.items()}
        self.limits = limits  # the database's bounds on a filter's size (see filters.parse_filter)

    def compile(self, where: Mapping[str, Any] | None) -> str:
        """The Milvus expression for ``where``; ``""`` when it matches everything."""
        node = parse_filter(where, self.schema, self.limits)
        return MATCH_ALL if node is None else self.node(node)

    def node(self, node: Node) -> str:
        if isinstance(node, And):
            return "(" + " and ".join(self.node(c) for c in node.children) + ")"
        if isinstance(node, Or):
            return "(" + " or ".join(self.node(c) for c in node.children) + ")"
        if isinstance(node, Not):
            return f"(not {self.node(node.child)})"
        return self.cond(node)

    def cond(self, cond: Cond) -> str:
        col = self.columns[cond.field]
        c = col.column
        if cond.op == "$exists":
            return f"({col.guard(bool(cond.value))})"
        if cond.op in NEGATIONS:
            return f"(not {self.cond(Cond(cond.field, NEGATIONS[cond.op], cond.value))})"
        if col.type == "json":
            raise UnsupportedByBackend(f"filter operator {cond.op} on json field {cond.field!r} is not supported "
                                       "by the Milvus backend (only $exists); declare a typed field instead")
        if cond.op == "$in" and not cond.value:
            # Nothing is in an empty list. Milvus servers before 2.4 parse neither `[]` nor a bare
            # `false` as a predicate: a contradiction on the field's own guard says it.
            return f"({col.guard(True)} and {col.guard(False)})"
        if col.type.startswith("list["):
            if cond.op == "$eq":
                return f"({col.guard()} and array_contains({c}, {literal(cond.value)}))"
            return f"({col.guard()} and array_contains_any({c}, {literal_list(cond.value)}))"  # $in
        if cond.op == "$in":
            return f"({col.guard()} and {c} in {literal_list(cond.value)})"
        return f"({col.guard()} and {c} {COMPARISONS[cond.op]} {literal(cond.value)})"
