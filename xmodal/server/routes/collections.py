"""Collections of a namespace: list, create with a schema, describe, drop."""
from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Depends, Query, Response

from xmodal.db.api import VectorField
from xmodal.server.auth import Principal
from xmodal.server.deps import get_state, principal
from xmodal.server.namespaces import names_in
from xmodal.server.schemas import CollectionInfo, CollectionList, CreateCollection, VectorFieldSpec
from xmodal.server.state import ServerState

router = APIRouter(prefix="/v1/collections", tags=["collections"])
NamespaceQuery = Query(None, max_length=64, description="another namespace this key was granted; default: the key's own")


def describe(state: ServerState, namespace: str, name: str) -> CollectionInfo:
    col = state.collection(namespace, name)
    return CollectionInfo(name=name, namespace=namespace,
                          vectors={f: VectorFieldSpec(**vf.to_dict()) for f, vf in col.vector_fields.items()},
                          payload_schema=dict(col.payload_schema), metadata=dict(col.metadata), count=col.count())


@router.get("", response_model=CollectionList, summary="collections of the namespace")
def list_collections(namespace: Optional[str] = NamespaceQuery, who: Principal = Depends(principal),
                     state: ServerState = Depends(get_state)) -> CollectionList:
    ns = who.namespace_for(namespace, "read")
    return CollectionList(namespace=ns, collections=names_in(ns, state.db.list_collections()))


@router.post("", response_model=CollectionInfo, status_code=201, summary="create a collection with a schema")
def create_collection(body: CreateCollection, namespace: Optional[str] = NamespaceQuery,
                      who: Principal = Depends(principal), state: ServerState = Depends(get_state)) -> CollectionInfo:
    ns = who.namespace_for(namespace, "admin")
    phys = state.physical(ns, body.name)
    fields = {f: VectorField.from_dict(spec.model_dump()) for f, spec in body.vectors.items()}
    with state.write_lock:
        state.db.create_collection(phys, vectors=fields, payload_schema=body.payload_schema,
                                   metadata=body.metadata, exist_ok=body.exist_ok)
    return describe(state, ns, body.name)


@router.get("/{name}", response_model=CollectionInfo, summary="schema, metadata and size of a collection")
def get_collection(name: str, namespace: Optional[str] = NamespaceQuery, who: Principal = Depends(principal),
                   state: ServerState = Depends(get_state)) -> CollectionInfo:
    return describe(state, who.namespace_for(namespace, "read"), name)


@router.delete("/{name}", status_code=204, response_class=Response, summary="drop a collection and its data")
def drop_collection(name: str, namespace: Optional[str] = NamespaceQuery, who: Principal = Depends(principal),
                    state: ServerState = Depends(get_state)) -> Response:
    ns = who.namespace_for(namespace, "admin")
    state.collection(ns, name)  # 404 when absent, before touching anything
    with state.write_lock:
        state.forget_library(ns, name)
        state.db.drop_collection(state.physical(ns, name))
    return Response(status_code=204)
