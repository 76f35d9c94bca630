"""Question answering with evidence and recommendation (xmodal.apps) over a namespace's library.

Items go in and out as refs; the apps layer works with stored paths, which never leave the server.
Interaction histories live beside each library, so namespaces keep their users apart too.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from fastapi import APIRouter, Depends, Path as PathParam, Query

from xmodal.apps import qa, recommend
from xmodal.errors import InvalidInput
from xmodal.ingest.layout import parse_kinds
from xmodal.server.auth import Principal
from xmodal.server.deps import get_state, principal
from xmodal.server.routes.collections import NamespaceQuery
from xmodal.server.routes.media import KindQuery, LibraryQuery, limit_k, stored_item
from xmodal.server.schemas import (AskRequest, AskResponse, EvidenceOut, InteractionIn, RecommendationOut)
from xmodal.server.state import ServerState

router = APIRouter(prefix="/v1/apps", tags=["apps"])
UserPath = PathParam(..., min_length=1, max_length=128)


def _refs(lib, paths: list[str]) -> dict[str, tuple[str, str]]:
    """{stored path: (ref, display name)} for the items behind ``paths``."""
    wanted = sorted({p for p in paths if p})
    if not wanted:
        return {}
    return {p: (item.id, item.name) for p, item in lib.items(wanted).items()}


@router.post("/ask", response_model=AskResponse, summary="answer a question from the library, with evidence")
def ask(body: AskRequest, library: Optional[str] = LibraryQuery, namespace: Optional[str] = NamespaceQuery,
        who: Principal = Depends(principal), state: ServerState = Depends(get_state)) -> AskResponse:
    ns = who.namespace_for(namespace, "read")
    lib = state.library(ns, library)
    answer = qa.ask(lib, body.question, k=body.k, kinds=parse_kinds(body.kind), where=body.where,
                    llm="auto" if body.llm else None)
    refs = _refs(lib, [e.path for e in answer.evidence])
    evidence = [EvidenceOut(ref=refs.get(e.path, ("", ""))[0], name=refs.get(e.path, ("", e.path))[1] or "",
                            kind=e.kind, score=float(e.score), source=e.source, text=e.text, time=e.time,
                            end=e.end, page=e.page)
                for e in answer.evidence]
    # Media answers quote their item's stored path: show its name instead, never a server path.
    names = {e.path: (refs.get(e.path, ("", ""))[1] or Path(e.path).name) for e in answer.evidence}

    def private(text: Optional[str]) -> Optional[str]:
        for path in sorted(names, key=len, reverse=True):
            text = text.replace(path, names[path]) if text else text
        return text

    return AskResponse(question=answer.question, answer=private(answer.answer), found=answer.found,
                       confidence=float(answer.confidence), citations=list(answer.citations), evidence=evidence,
                       generated=private(answer.generated), generated_citations=list(answer.generated_citations),
                       llm_error=answer.llm_error)


@router.post("/interactions", status_code=201, summary="record that a user liked / viewed / disliked an item")
def record(body: InteractionIn, library: Optional[str] = LibraryQuery, namespace: Optional[str] = NamespaceQuery,
           who: Principal = Depends(principal), state: ServerState = Depends(get_state)) -> dict:
    ns = who.namespace_for(namespace, "write")
    stored_item(state, ns, library, body.ref)  # 400 / 404 before anything is stored
    lib = state.library(ns, library)
    with state.write_lock:
        event = recommend.record_interaction(lib, body.user, body.ref, body.event, weight=body.weight)
    return {"user": event.user, "ref": body.ref, "event": event.event, "weight": event.weight, "ts": event.ts}


@router.get("/users/{user}/recommendations", response_model=list[RecommendationOut],
            summary="the user's next items (profile, recent likes, co-likes; diversified)")
def recommendations(user: str = UserPath, k: int = Query(10), kind: Optional[list[str]] = KindQuery,
                    diversity: Optional[float] = Query(None, ge=0, le=1), include_seen: bool = False,
                    library: Optional[str] = LibraryQuery, namespace: Optional[str] = NamespaceQuery,
                    who: Principal = Depends(principal),
                    state: ServerState = Depends(get_state)) -> list[RecommendationOut]:
    ns = who.namespace_for(namespace, "read")
    lib = state.library(ns, library)
    recs = recommend.recommend(lib, user, limit_k(state, k), kinds=parse_kinds(kind), diversity=diversity,
                               exclude_seen=not include_seen)
    refs = _refs(lib, [r.path for r in recs] + [r.because for r in recs if r.because])
    out = []
    for r in recs:
        ref, name = refs.get(r.path, ("", ""))
        if not ref:
            continue  # an item removed since it was liked
        out.append(RecommendationOut(ref=ref, name=name, kind=r.kind, score=float(r.score),
                                     because=refs.get(r.because, (None, ""))[0] if r.because else None))
    return out


@router.delete("/users/{user}", summary="forget a user's history and profile")
def forget(user: str = UserPath, library: Optional[str] = LibraryQuery, namespace: Optional[str] = NamespaceQuery,
           who: Principal = Depends(principal), state: ServerState = Depends(get_state)) -> dict:
    ns = who.namespace_for(namespace, "write")
    lib = state.library(ns, library)
    if not user.strip():
        raise InvalidInput("user must be non-empty")
    with state.write_lock:
        n = recommend.interactions(lib).forget(user)
    return {"user": user, "events_removed": n}
