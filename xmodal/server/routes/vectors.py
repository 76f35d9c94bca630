"""Raw vectors of a collection: upsert, delete, get, and kNN / range / threshold search."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
from fastapi import APIRouter, Depends

from xmodal.errors import InvalidInput, NotFound, TooLarge
from xmodal.server.auth import Principal
from xmodal.server.deps import get_state, principal
from xmodal.server.routes.collections import NamespaceQuery
from xmodal.server.schemas import (Count, DeleteRequest, GetRequest, HitOut, PointId, PointOut, SearchResponse,
                                   UpsertRequest, VectorSearch)
from xmodal.server.state import ServerState

router = APIRouter(prefix="/v1/collections/{name}", tags=["vectors"])


def to_matrix(rows: Sequence[Sequence[float]], what: str) -> np.ndarray:
    """Rows of floats as a float32 matrix, refusing ragged, empty or non-finite input by name."""
    try:
        arr = np.asarray(rows, dtype=np.float32)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{what}: vectors must all have the same length ({exc})") from exc
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise InvalidInput(f"{what}: expected a non-empty list of equal-length vectors")
    if not np.isfinite(arr).all():
        raise InvalidInput(f"{what}: contains NaN or infinite values (or values beyond float32)")
    return arr


def _vectors_out(vectors: Optional[dict]) -> Optional[dict[str, list[float]]]:
    if vectors is None:
        return None
    return {k: np.asarray(v, dtype=np.float32).tolist() for k, v in vectors.items()}


def _check_count(n: int, limit: int, what: str) -> None:
    if n > limit:
        raise TooLarge(f"{what}: {n} items exceed the per-request limit of {limit}")


@router.put("/points", response_model=Count, summary="insert or replace points (all or none)")
def upsert(name: str, body: UpsertRequest, namespace: Optional[str] = NamespaceQuery,
           who: Principal = Depends(principal), state: ServerState = Depends(get_state)) -> Count:
    ns = who.namespace_for(namespace, "write")
    _check_count(len(body.points), state.settings.max_points_per_request, "upsert")
    col = state.collection(ns, name)
    ids = [p.id for p in body.points]
    if len(set(ids)) != len(ids):
        raise InvalidInput("upsert: the same id appears more than once in one request")
    # Points may carry different subsets of fields; group them so each db call is one consistent batch.
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, p in enumerate(body.points):
        unknown = set(p.vectors) - set(col.vector_fields)
        if unknown:
            raise InvalidInput(f"point {p.id!r}: unknown vector field(s) {sorted(unknown)} in collection {name!r}")
        groups.setdefault(tuple(sorted(p.vectors)), []).append(i)
    batches = []
    for fields, rows in groups.items():
        vecs = {f: to_matrix([body.points[i].vectors[f] for i in rows], f"point vectors {f!r}") for f in fields}
        for f, arr in vecs.items():  # checked up front so a multi-batch upsert rarely needs its rollback
            if arr.shape[1] != col.vector_fields[f].dim:
                raise InvalidInput(f"field {f!r} of collection {name!r} has dimension {col.vector_fields[f].dim}, "
                                   f"got vectors of length {arr.shape[1]}")
        batches.append(([ids[i] for i in rows], vecs, [body.points[i].payload for i in rows]))
    with state.write_lock:
        if len(batches) == 1:
            col.upsert(*batches[0])
        else:
            _upsert_all_or_none(col, batches)
    return Count(count=len(ids))


def _upsert_all_or_none(col, batches) -> None:
    """Several db batches behave as one: on failure the rows already written are put back."""
    all_ids = [i for b in batches for i in b[0]]
    before = {r.id: r for r in col.get(all_ids, with_vectors=True)}
    done: list[Any] = []
    try:
        for b in batches:
            col.upsert(*b)
            done.extend(b[0])
    except Exception:
        new_ids = [i for i in done if i not in before]
        if new_ids:
            col.delete(ids=new_ids)
        for rid in done:
            if rid in before:
                r = before[rid]
                col.delete(ids=[rid])
                if r.vectors:
                    col.upsert([rid], {f: np.asarray(v)[None, :] for f, v in r.vectors.items()}, [r.payload])
        raise


@router.post("/points/delete", response_model=Count, summary="delete points by ids or by a filter")
def delete(name: str, body: DeleteRequest, namespace: Optional[str] = NamespaceQuery,
           who: Principal = Depends(principal), state: ServerState = Depends(get_state)) -> Count:
    ns = who.namespace_for(namespace, "write")
    if body.ids is None and not body.where:
        raise InvalidInput("delete: give 'ids' or a non-empty 'where' filter (to empty a collection, drop it)")
    if body.ids is not None:
        _check_count(len(body.ids), state.settings.max_points_per_request, "delete")
    col = state.collection(ns, name)
    with state.write_lock:
        n = col.delete(ids=body.ids, where=body.where or None)
    return Count(count=int(n))


@router.post("/points/get", response_model=list[PointOut], summary="points by id (missing ids are skipped)")
def get_points(name: str, body: GetRequest, namespace: Optional[str] = NamespaceQuery,
               who: Principal = Depends(principal), state: ServerState = Depends(get_state)) -> list[PointOut]:
    ns = who.namespace_for(namespace, "read")
    _check_count(len(body.ids), state.settings.max_points_per_request, "get")
    col = state.collection(ns, name)
    return [PointOut(id=r.id, payload=r.payload or {}, vectors=_vectors_out(r.vectors) if body.with_vectors else None)
            for r in col.get(body.ids, with_vectors=body.with_vectors)]


@router.get("/points/{point_id}", response_model=PointOut, summary="one point by id")
def get_point(name: str, point_id: str, with_vectors: bool = False, namespace: Optional[str] = NamespaceQuery,
              who: Principal = Depends(principal), state: ServerState = Depends(get_state)) -> PointOut:
    ns = who.namespace_for(namespace, "read")
    col = state.collection(ns, name)
    candidates: list[PointId] = [point_id]
    if point_id.lstrip("-").isdigit() and len(point_id) < 20:
        candidates.insert(0, int(point_id))
    for cid in candidates:
        found = col.get([cid], with_vectors=with_vectors)
        if found:
            r = found[0]
            return PointOut(id=r.id, payload=r.payload or {}, vectors=_vectors_out(r.vectors) if with_vectors else None)
    raise NotFound(f"point {point_id!r} does not exist in collection {name!r}")


@router.post("/search", response_model=SearchResponse, summary="kNN, range or threshold search with a raw vector")
def search(name: str, body: VectorSearch, namespace: Optional[str] = NamespaceQuery,
           who: Principal = Depends(principal), state: ServerState = Depends(get_state)) -> SearchResponse:
    ns = who.namespace_for(namespace, "read")
    s = state.settings
    col = state.collection(ns, name)
    field = body.field
    if field is None:
        if len(col.vector_fields) != 1:
            raise InvalidInput(f"search: collection {name!r} has fields {sorted(col.vector_fields)}; name one in 'field'")
        field = next(iter(col.vector_fields))
    if (body.vector is None) == (body.vectors is None):
        raise InvalidInput("search: give exactly one of 'vector' or 'vectors'")
    queries = to_matrix([body.vector] if body.vector is not None else body.vectors, "search query")
    _check_count(len(queries), s.max_points_per_request, "search queries")
    if body.k > s.max_k:
        raise InvalidInput(f"search: k={body.k} exceeds the server limit of {s.max_k}")
    if body.mode == "knn":
        hits = col.search(field, queries, k=body.k, where=body.where, params=body.params,
                          with_payload=body.with_payload, with_vectors=body.with_vectors)
    elif body.mode == "range":
        if body.radius is None:
            raise InvalidInput("search: mode 'range' needs 'radius'")
        hits = col.range_search(field, queries, radius=body.radius, where=body.where, with_payload=body.with_payload)
    else:
        if body.min_similarity is None:
            raise InvalidInput("search: mode 'threshold' needs 'min_similarity'")
        hits = col.threshold_search(field, queries, min_similarity=body.min_similarity, where=body.where,
                                    with_payload=body.with_payload)
    cap = s.max_range_hits
    return SearchResponse(results=[[HitOut(id=h.id, score=float(h.score), payload=h.payload,
                                           vectors=_vectors_out(h.vectors) if body.with_vectors else None)
                                    for h in row[:cap]] for row in hits])
