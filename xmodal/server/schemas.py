"""Request and response bodies of the API; they are also what the OpenAPI document shows."""
from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from xmodal.db.api import METRICS

PointId = Union[StrictInt, StrictStr]
MetricName = Literal[METRICS]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VectorFieldSpec(_Strict):
    dim: int = Field(..., ge=1, le=65_536, description="vector dimension")
    metric: MetricName = "cosine"
    index: str = Field("flat", max_length=32, description="index kind: flat, hnsw, ivf_flat, ivf_pq, pq, ...")
    params: dict[str, Any] = Field(default_factory=dict, description="index parameters")


class CreateCollection(_Strict):
    name: str = Field(..., min_length=1, max_length=64)
    vectors: dict[str, VectorFieldSpec] = Field(..., min_length=1, description="named vector fields")
    payload_schema: dict[str, str] = Field(default_factory=dict, description="field -> str|int|float|bool|list[str]|list[int]|json")
    metadata: dict[str, Any] = Field(default_factory=dict)
    exist_ok: bool = False


class CollectionInfo(BaseModel):
    name: str
    namespace: str
    vectors: dict[str, VectorFieldSpec]
    payload_schema: dict[str, str]
    metadata: dict[str, Any]
    count: int


class CollectionList(BaseModel):
    namespace: str
    collections: list[str]


class Point(_Strict):
    id: PointId
    vectors: dict[str, list[float]] = Field(..., min_length=1)
    payload: Optional[dict[str, Any]] = None


class UpsertRequest(_Strict):
    points: list[Point] = Field(..., min_length=1)


class DeleteRequest(_Strict):
    ids: Optional[list[PointId]] = None
    where: Optional[dict[str, Any]] = Field(None, description="filter; {} is refused, name ids or a condition")


class GetRequest(_Strict):
    ids: list[PointId] = Field(..., min_length=1)
    with_vectors: bool = False


class PointOut(BaseModel):
    id: PointId
    payload: dict[str, Any]
    vectors: Optional[dict[str, list[float]]] = None


class VectorSearch(_Strict):
    field: Optional[str] = Field(None, description="vector field; may be omitted when the collection has one")
    vector: Optional[list[float]] = None
    vectors: Optional[list[list[float]]] = Field(None, description="a batch of queries instead of `vector`")
    mode: Literal["knn", "range", "threshold"] = "knn"
    k: int = Field(10, ge=1)
    radius: Optional[float] = Field(None, description="range mode: l2 distance or 1 - cosine")
    min_similarity: Optional[float] = Field(None, description="threshold mode (cosine / ip fields)")
    where: Optional[dict[str, Any]] = None
    params: Optional[dict[str, Any]] = None
    with_payload: bool = True
    with_vectors: bool = False


class HitOut(BaseModel):
    id: PointId
    score: float
    payload: Optional[dict[str, Any]] = None
    vectors: Optional[dict[str, list[float]]] = None


class SearchResponse(BaseModel):
    results: list[list[HitOut]]


class Count(BaseModel):
    count: int


class MediaResult(BaseModel):
    ref: str = Field(..., description="the item's id: the handle for /v1/media/thumbnail, /file, /similar")
    name: str
    kind: str
    score: float
    evidence: dict[str, Any] = Field(default_factory=dict, description="time (s) and text that matched")
    scores: dict[str, float] = Field(default_factory=dict, description="raw score in each fused ranked list")
    payload: dict[str, Any] = Field(default_factory=dict)
    relevance: float = Field(0.0, description="estimated chance (0..1) that the item is what was asked for")
    signals: dict[str, float] = Field(default_factory=dict, description="relevance of each kind of evidence")


class MediaSearchResponse(BaseModel):
    results: list[MediaResult]
    took_ms: float
    query_text: Optional[str] = Field(None, description="what was heard in a speech query")
    warning: Optional[str] = Field(None, description="set when the library's model cannot read the query's language")
    query_language: Optional[str] = Field(None, description="language code the speech query was heard in")


class IndexFolder(_Strict):
    path: str = Field(..., min_length=1, max_length=4096, description="folder or file inside a configured root")
    prune: bool = Field(False, description="forget indexed files that disappeared from under the path")
    ocr: bool = Field(True, description="read text in images and video frames (slower)")
    speech: bool = Field(True, description="transcribe speech in audio and video (slower)")
    background: bool = Field(False, description="answer 202 with a job id at once; poll /v1/media/jobs/{id}")
    library: Optional[str] = None


class UploadedFile(BaseModel):
    name: str
    ref: str
    kind: str
    bytes: int


class UploadResponse(BaseModel):
    files: list[UploadedFile]
    report: dict[str, Any]


class Health(BaseModel):
    status: str
    version: str
    auth_required: bool


class WhoAmI(BaseModel):
    namespace: str
    scopes: list[str]
    grants: list[str]
    auth_required: bool
    default_library: str
    max_upload_bytes: int


class AskRequest(_Strict):
    question: str = Field(..., min_length=1, max_length=2_000)
    k: Optional[int] = Field(None, ge=1, le=100, description="evidence units returned")
    kind: Optional[list[str]] = Field(None, description="only evidence of these kinds")
    where: Optional[dict[str, Any]] = None
    llm: bool = Field(False, description="also ask the configured chat model, grounded on the cited evidence")


class EvidenceOut(BaseModel):
    ref: str
    name: str
    kind: str
    score: float = Field(..., description="calibrated probability that this unit answers the question")
    source: str = Field(..., description="passage, ocr, transcript, caption, image or frame")
    text: Optional[str] = None
    time: Optional[float] = None
    end: Optional[float] = None
    page: Optional[int] = None


class AskResponse(BaseModel):
    question: str
    answer: Optional[str]
    found: bool
    confidence: float
    citations: list[int]
    evidence: list[EvidenceOut]
    generated: Optional[str] = None
    generated_citations: list[int] = Field(default_factory=list)
    llm_error: Optional[str] = None


class InteractionIn(_Strict):
    user: str = Field(..., min_length=1, max_length=128)
    ref: str = Field(..., min_length=1, max_length=128)
    event: str = Field("like", max_length=32, description="like, dislike, view, ... (see xmodal.apps)")
    weight: Optional[float] = Field(None, ge=-100, le=100)


class RecommendationOut(BaseModel):
    ref: str
    name: str
    kind: str
    score: float
    because: Optional[str] = Field(None, description="ref of the liked item this one is most similar to")
