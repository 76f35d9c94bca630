"""Validation of everything a caller hands the database, before anything is written.

All checks raise :class:`~xmodal.errors.InvalidInput` naming the item and the problem, so a bad
batch is refused whole and nothing stored changes.
"""
from __future__ import annotations

import math
import re
from typing import Any, Mapping, Sequence

import numpy as np

from xmodal.config import DBConfig
from xmodal.db.api import INDEX_KINDS, METRICS, PAYLOAD_TYPES, Id, VectorField
from xmodal.errors import InvalidInput

__all__ = ["INDEX_PARAMS", "PARAM_DOES_NOT_APPLY", "QUERY_PARAMS", "check_name", "check_vector_field",
           "check_payload_schema", "check_id", "check_ids", "check_vectors", "check_payload_value", "check_payload",
           "check_k", "check_queries", "check_query_params", "id_sequence"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_INT64 = (-(2**63), 2**63 - 1)
_DEFAULT_LIMITS = DBConfig()
_F32 = np.dtype(np.float32)  # a caller that passes no settings gets the defaults

# Index parameters each kind uses. Anything else is refused, never ignored: a typo, or a knob of
# another kind that would silently change nothing (issue 16: refine_factor on ivf_flat).
_COMMON_PARAMS = {"min_train": int, "refine_factor": int}
INDEX_PARAMS: dict[str, dict[str, type]] = {
    "flat": {},
    "hnsw": {"M": int, "ef_construction": int, "ef_search": int},
    "ivf_flat": {"min_train": int, "nlist": int, "nprobe": int},  # exact distances: nothing to re-rank
    "ivf_pq": {**_COMMON_PARAMS, "nlist": int, "nprobe": int, "m": int, "nbits": int},
    "pq": {**_COMMON_PARAMS, "m": int, "nbits": int},
    "opq": {**_COMMON_PARAMS, "nlist": int, "nprobe": int, "m": int, "nbits": int, "opq_niter": int},
    "sq8": {**_COMMON_PARAMS},
    "lsh": {**_COMMON_PARAMS, "nbits": int},
    "kdtree": {"leaf_size": int},
}
# Why a parameter some kind uses does nothing on the others (the refusal says so).
PARAM_DOES_NOT_APPLY: dict[str, str] = {
    "refine_factor": "this kind does not re-rank (its distances are exact or it has no compressed codes)",
    "min_train": "this kind is not trained",
    "nlist": "this kind has no inverted lists",
    "nprobe": "this kind has no inverted lists",
    "m": "this kind has no product quantiser",
    "nbits": "this kind has no quantiser codes of that size",
    "opq_niter": "this kind learns no OPQ rotation",
    "M": "this kind is not a graph",
    "ef_construction": "this kind is not a graph",
    "ef_search": "this kind is not a graph",
    "leaf_size": "this kind is not a tree",
}
# Per-query search parameters each kind accepts.
QUERY_PARAMS: dict[str, tuple[str, ...]] = {
    "flat": (),
    "hnsw": ("ef", "ef_search"),
    "ivf_flat": ("nprobe",),
    "ivf_pq": ("nprobe", "refine_factor"),
    "pq": ("refine_factor",),
    "opq": ("nprobe", "refine_factor"),
    "sq8": ("refine_factor",),
    "lsh": ("refine_factor",),
    "kdtree": (),
}


def check_name(name: Any, what: str, limits: DBConfig | None = None) -> str:
    """Names end up in file names and messages: keep them short and plain (``limits``: the
    database's settings, default ``DBConfig()``)."""
    most = (limits or _DEFAULT_LIMITS).max_name_length
    if not isinstance(name, str) or not name or len(name) > most or not _NAME.match(name):
        raise InvalidInput(
            f"{what} name {name!r} is invalid: use 1-{most} letters, digits, '_', '-', '.',"
            " starting with a letter or '_'"
        )
    return name


def check_vector_field(name: str, spec: Any, limits: DBConfig | None = None) -> VectorField:
    limits = limits or _DEFAULT_LIMITS
    check_name(name, "vector field", limits)
    if isinstance(spec, Mapping):
        spec = VectorField.from_dict(spec)
    if not isinstance(spec, VectorField):
        raise InvalidInput(f"vector field {name!r}: expected a VectorField, got {type(spec).__name__}")
    dim = spec.dim
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or not 1 <= dim <= limits.max_dim:
        raise InvalidInput(f"vector field {name!r}: dim must be an integer in 1..{limits.max_dim}, got {dim!r}")
    if spec.metric not in METRICS:
        raise InvalidInput(f"vector field {name!r}: unknown metric {spec.metric!r} (known: {', '.join(METRICS)})")
    if spec.index not in INDEX_KINDS:
        raise InvalidInput(f"vector field {name!r}: unknown index kind {spec.index!r} (known: {', '.join(INDEX_KINDS)})")
    if spec.index == "kdtree" and spec.metric == "ip":
        raise InvalidInput(f"vector field {name!r}: kdtree supports l2 and cosine, not ip")
    allowed = INDEX_PARAMS[spec.index]
    for key, value in dict(spec.params).items():
        if key not in allowed:
            why = PARAM_DOES_NOT_APPLY.get(key, "unknown parameter") if any(
                key in other for other in INDEX_PARAMS.values()) else "unknown parameter"
            raise InvalidInput(
                f"vector field {name!r}: parameter {key!r} is refused for index {spec.index!r}: {why}"
                f" (parameters of {spec.index!r}: {', '.join(allowed) or 'none'})"
            )
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise InvalidInput(f"vector field {name!r}: parameter {key!r} must be a positive integer, got {value!r}")
    m = spec.params.get("m")
    if m is not None and dim % m:
        raise InvalidInput(f"vector field {name!r}: PQ parameter m={m} must divide dim={dim}")
    nbits = spec.params.get("nbits")
    if nbits is not None and spec.index != "lsh" and not 1 <= nbits <= 16:
        raise InvalidInput(f"vector field {name!r}: nbits must be in 1..16, got {nbits}")
    return VectorField(dim=int(dim), metric=spec.metric, index=spec.index, params=dict(spec.params))


def check_payload_schema(schema: Mapping[str, str] | None, limits: DBConfig | None = None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, ptype in dict(schema or {}).items():
        check_name(key, "payload field", limits)
        if ptype not in PAYLOAD_TYPES:
            raise InvalidInput(f"payload field {key!r}: unknown type {ptype!r} (known: {', '.join(PAYLOAD_TYPES)})")
        out[key] = ptype
    return out


def check_id(value: Any, max_length: int = DBConfig.max_id_length) -> Id:
    """Ids are ints (int64) or non-empty strings of at most ``max_length`` characters (the
    database's ``DBConfig.max_id_length``); 1 and "1" are different ids."""
    kind = type(value)
    if kind is str and 0 < len(value) <= max_length:  # fast path (upsert speed)
        return value
    if kind is int and _INT64[0] <= value <= _INT64[1]:
        return value
    if isinstance(value, np.integer):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidInput(f"id {value!r} has type {type(value).__name__}; ids must be int or str")
    if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
        raise InvalidInput(f"id {value} does not fit in a signed 64-bit integer")
    if isinstance(value, str) and not 0 < len(value) <= max_length:
        raise InvalidInput(f"id {value[:40]!r} must have 1..{max_length} characters")
    return value


def check_ids(ids: Any, unique: bool = True, limits: DBConfig | None = None) -> list[Id]:
    if isinstance(ids, (str, bytes, int)) or ids is None:
        raise InvalidInput(f"ids must be a sequence of ids, got {type(ids).__name__}")
    most = (limits or _DEFAULT_LIMITS).max_id_length
    out = [check_id(i, most) for i in ids]
    if unique and len(set(map(_id_key, out))) != len(out):
        seen: set = set()
        for i in out:
            if _id_key(i) in seen:
                raise InvalidInput(f"id {i!r} appears twice in one batch")
            seen.add(_id_key(i))
    return out


def _id_key(i: Id) -> tuple[type, Id]:
    return (type(i), i)


def check_vectors(field: str, spec: VectorField, value: Any, n: int | None) -> np.ndarray:
    """A float32 C-contiguous (n, dim) array of finite numbers (a (dim,) vector counts as one row)."""
    try:  # (a float32 array as is: asarray's argument parsing costs as much as the checks below)
        arr = value if type(value) is np.ndarray and value.dtype is _F32 else np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"vector field {field!r}: not a numeric array ({exc})") from exc
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise InvalidInput(f"vector field {field!r}: expected shape (n, {spec.dim}), got {arr.shape}")
    if arr.shape[1] != spec.dim:
        raise InvalidInput(f"vector field {field!r}: wrong dimension {arr.shape[1]}, expected {spec.dim}")
    if n is not None and arr.shape[0] != n:
        raise InvalidInput(f"vector field {field!r}: {arr.shape[0]} vectors for {n} ids")
    if arr.shape[0] == 1:  # one query per call: the cheapest check that is still complete
        row = arr[0]
        one = float(row.dot(row))
        if math.isfinite(one) and (one > 0 or spec.metric != "cosine"):
            return np.ascontiguousarray(arr)
    # One pass for both checks: a squared norm is finite iff the row is (float64: no overflow).
    sq = np.einsum("ij,ij->i", arr, arr, dtype=np.float64)
    if not np.isfinite(sq).all():
        bad = int(np.argwhere(~np.isfinite(arr))[0][0])
        raise InvalidInput(f"vector field {field!r}: row {bad} contains NaN or infinity")
    if spec.metric == "cosine" and not sq.all():
        raise InvalidInput(f"vector field {field!r}: row {int(np.argmin(sq))} is all zeros (no cosine direction)")
    return np.ascontiguousarray(arr)


def check_payload_value(field: str, ptype: str, value: Any) -> Any:
    """Check one declared payload value; ``None`` means absent and is always allowed."""
    if value is None:
        return None
    # The common cases, checked cheaply (upsert speed).
    if (ptype == "str" and type(value) is str) or (ptype == "bool" and type(value) is bool) \
            or (ptype == "int" and type(value) is int and _INT64[0] <= value <= _INT64[1]) \
            or (ptype == "float" and type(value) is float and math.isfinite(value)):
        return value
    ok: bool
    if ptype == "str":
        ok = isinstance(value, str)
    elif ptype == "int":
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        if ok:
            value = int(value)
            ok = _INT64[0] <= value <= _INT64[1]
    elif ptype == "float":
        ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
        if ok:
            value = float(value)
            if not math.isfinite(value):
                raise InvalidInput(f"payload field {field!r}: {value} is not a finite number")
    elif ptype == "bool":
        ok = isinstance(value, (bool, np.bool_))
        value = bool(value) if ok else value
    elif ptype in ("list[str]", "list[int]"):
        elem = str if ptype == "list[str]" else int
        ok = isinstance(value, (list, tuple)) and all(
            isinstance(v, elem) and not isinstance(v, bool) for v in value
        )
        value = list(value) if ok else value
    else:  # json
        ok = True
    if not ok:
        raise InvalidInput(f"payload field {field!r}: expected {ptype}, got {type(value).__name__} {str(value)[:40]!r}")
    return value


def check_payload(schema: Mapping[str, str], payload: Any, where: str) -> dict:
    """Validate declared fields of one payload; undeclared keys are kept as free JSON."""
    if payload is None:
        return {}
    if type(payload) is not dict and not isinstance(payload, Mapping):  # (isinstance on an ABC is slow)
        raise InvalidInput(f"{where}: payload must be a dict, got {type(payload).__name__}")
    out: dict = {}
    for key, value in payload.items():
        if not isinstance(key, str):
            raise InvalidInput(f"{where}: payload key {key!r} must be a string")
        if key in schema:
            value = check_payload_value(key, schema[key], value)
            if value is None:
                continue
        out[key] = value
    return out


def check_k(k: Any) -> int:
    if type(k) is int and k > 0:  # the usual case, without the general checks (once per search)
        return k
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise InvalidInput(f"k must be a positive integer, got {k!r}")
    return int(k)


def check_queries(field: str, spec: VectorField, queries: Any) -> np.ndarray:
    arr = check_vectors(field, spec, queries, None)
    return arr


def check_query_params(field: str, spec: VectorField, params: Mapping[str, Any] | None) -> dict:
    if not params:
        return {}
    if type(params) is not dict and not isinstance(params, Mapping):  # (isinstance on an ABC is slow)
        raise InvalidInput(f"search params must be a dict, got {type(params).__name__}")
    allowed = QUERY_PARAMS[spec.index] + ("exact",)
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key == "exact":  # brute force on any kind (ground truth, audits)
            if not isinstance(value, bool):
                raise InvalidInput(f"search parameter 'exact' must be true or false, got {value!r}")
            out[key] = value
            continue
        if key not in allowed:
            raise InvalidInput(
                f"search parameter {key!r} does not apply to {spec.index!r} field {field!r}"
                f" (accepted: {', '.join(allowed) or 'none'})"
            )
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
            raise InvalidInput(f"search parameter {key!r} must be a positive integer, got {value!r}")
        out[key] = int(value)
    return out


def id_sequence(ids: Sequence[Id], limits: DBConfig | None = None) -> list[Id]:
    """Lookup-side id check: duplicates allowed (get the same id twice)."""
    return check_ids(ids, unique=False, limits=limits)
