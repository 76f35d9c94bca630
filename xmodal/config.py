"""All tunable numbers and defaults, in one typed place.

Each layer reads its own section; nothing else in the code base hard-codes thresholds,
batch sizes or paths. Settings are per instance: ``Database``, ``connect``, ``get_encoder`` and
``Library.open`` take a ``Config`` (``settings=``) and each object keeps its own section, so two
databases in one process can be tuned differently. The defaults here never read the environment;
``Config.from_env()`` applies the per-machine variables (thread counts, backends, ``ENV_VARS``)
and is called once at start-up by the CLI and the server. ``default_db_path`` / ``cache_dir``
read ``$XMODAL_DB`` / ``$XMODAL_CACHE`` when called.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from xmodal.errors import InvalidInput

FORMAT_VERSION = 1  # on-disk format of the embedded database


@dataclass(frozen=True)
class PlannerCosts:
    """The query planner's cost model (xmodal/db/planner.py): nanoseconds per float touched by
    each kind of work, measured on the 2-core reference VM (benchmarks/bench_range.py prints the
    ratios they lead to). Only their ratios matter: they decide which path is cheaper."""

    faiss_flat_ns: float = 0.45  # FAISS flat k-NN / range scan (one query or a batch)
    gemm_ns: float = 0.1  # numpy matrix product of a batch of queries with a block of rows
    gemv_ns: float = 0.7  # ... of one query (memory-bound; a batch of b costs max(gemm, gemv / b))
    gather_ns: float = 3.0  # copying scattered rows into a contiguous block
    ivf_flat_ns: float = 1.0  # FAISS scanning an IVF list of raw vectors
    sq8_ns: float = 0.55  # FAISS scanning SQ8 codes (per dimension)
    pq_code_ns: float = 0.8  # FAISS scanning PQ codes (per sub-quantizer)
    hnsw_ns: float = 1.0  # FAISS HNSW, per ef x M x dim (3.0 on plain Gaussian data, 0.8 on clustered)
    hnsw_filter_exponent: float = 0.1  # HNSW work grows as (allowed share) ** -this under a filter
    # A filtered HNSW search widens ef so that ef x (allowed share) >= this x k: with fewer allowed
    # nodes in its beam the walk loses recall (0.81 at 10 % allowed and ef 64, against 0.95 unfiltered).
    hnsw_filter_candidates_per_k: float = 2.0
    kdtree_ns: float = 20.0  # scipy cKDTree per candidate x dim
    call_ns: float = 5_000.0  # fixed cost of one Python-level step (an IVF list visited exactly)
    # Fixed cost of one index search per query: FAISS parameter objects, the selector, the numpy
    # re-rank of compressed kinds (185 us per ivf_pq query at 32-d against 76 us for its subset scan).
    index_query_ns: float = 100_000.0
    # Probing IVF bounds and planning a range batch costs about this much; a batch whose exact scan
    # is estimated below probe_payoff x this is scanned without probing (32-d: 0.7x otherwise).
    plan_ns: float = 150_000.0
    probe_payoff: float = 10.0
    # A filtered IVF search must expect this many times k allowed rows in the lists it probes,
    # or it is not considered (too few candidates: recall would drop).
    ivf_filter_candidates_per_k: float = 4.0
    # FAISS testing one id against a selector's bitmap before it computes a distance (IVF scans
    # under a filter pay this for every row of a probed list, the distance only for allowed rows).
    selector_ns: float = 2.0
    # FAISS's by-index kernel scanning rows read in place (a filter seen once is scanned where its
    # rows lie, not gathered first): measured 1.4-2.6x its flat scan of a gathered block at
    # 50-25,000 of 50k x 384 rows, one query (issue 16).
    by_idx_ns: float = 0.9
    # A filtered IVF-PQ search, per probed list and query, beyond its codes (fit, not modelled:
    # 50k x 384, m 48, 224 lists, one query, filtered_nprobe 33-224 lists, in these units the
    # index path cost 2.9-40 us per list more than the other terms at 1-50 % allowed; 16 us
    # sends 1-10 % to the subset scan, which measured 4-11x faster there, and keeps 50 % on the
    # index (issue 16: the planner took the index at 10 %, at a third of the subset's rate).
    pq_list_ns: float = 16_000.0


@dataclass(frozen=True)
class DBConfig:
    # Indexes that need training stay exact until this many vectors exist (per kind, see db/indexes).
    min_train_vectors: int = 4096
    # An index is retrained once the collection has grown this many times past its training size.
    retrain_growth_factor: float = 4.0
    # Tombstone share that triggers compaction of an index.
    compact_tombstone_ratio: float = 0.2
    # Filtered searches gather the allowed rows into a block (cached with the filter) up to this size.
    filter_gather_max_bytes: int = 32 << 20
    # A range / equality filter on a numeric payload field allowing at most this share of the rows
    # finds them through the field's sorted payload index instead of a mask over every row.
    payload_index_max_share: float = 0.05
    planner: PlannerCosts = field(default_factory=PlannerCosts)
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 64
    ivf_nprobe: int = 16
    pq_bits: int = 8
    refine_factor: int = 4
    sqlite_busy_timeout_ms: int = 5000
    sqlite_page_size: int = 16_384  # set when a database is created: 1.6x faster vector inserts than 4096
    # "NORMAL" in WAL mode survives a killed process; "FULL" also survives power loss (slower).
    sqlite_synchronous: str = "NORMAL"  # $XMODAL_DB_SYNC
    # FAISS OpenMP threads: one was faster than two on the 2-core reference VM.
    faiss_threads: int = 1  # $XMODAL_FAISS_THREADS
    # Guards against hostile filters.
    max_filter_depth: int = 32
    max_filter_nodes: int = 1000
    max_filter_in_values: int = 10_000
    max_id_length: int = 1024  # characters of a string id
    max_name_length: int = 64  # collection and field names
    max_dim: int = 65_536
    ivf_nlist_per_sqrt_n: float = 1.0  # nlist = this * sqrt(n) at training time...
    ivf_min_points_per_list: int = 39  # ...but never fewer training points per list than this
    pq_dims_per_subquantizer: int = 8  # PQ m = dim / this (rounded to a divisor of dim)
    lsh_bits_per_dim: int = 4
    lsh_refine_factor: int = 16  # LSH codes are coarse: re-rank many more candidates exactly
    kdtree_leaf_size: int = 16
    index_save_every: int = 100_000  # vectors added between index snapshots (indexes are derived data)
    # Streaming inserts: the background folder adds this many growing rows to an index at a time
    # (a search waits at most one such step for the index: ~0.4 s for HNSW at 384-d, M 32).
    fold_batch_rows: int = 1000
    # The folder thread's CPU priority below the writer's (Linux thread niceness); while a caller waits
    # in wait_for_maintenance() the folds run at the caller's priority instead (streaming.Folder.wait).
    fold_nice: int = 10
    # The exact float32 store is a memory-mapped arena file (page cache); re-ranking gathers may
    # leave this many bytes of it mapped in the process before the map is released again.
    arena_gather_map_bytes: int = 32 << 20
    # Exact scans of a batch of at least this many queries use BLAS on a gathered copy of the
    # allowed rows (or over-fetch past at most exact_overfetch_max tombstones) instead of a selector.
    blas_min_queries: int = 8
    exact_overfetch_max: int = 1024
    # Fields with at least this many vectors train / compact their index in a background thread.
    background_rebuild_rows: int = 50_000
    background_train_rows: int = 8192  # ...and (re)training from this many (searches stay exact meanwhile)
    exact_block_rows: int = 32_768  # exact range scans multiply queries by blocks of this many vectors
    range_rounding_margin: float = 1e-4  # relative float32 error allowed before the exact re-check
    exit_flush_timeout_s: float = 30.0  # at interpreter exit, index snapshots get at most this long
    readonly_refresh_s: float = 1.0  # a read-only handle checks for the writer's changes this often
    writer_poll_s: float = 0.1  # Database.writing() looks this often whether the writer lock is free
    # HNSW for ip augments vectors to norm B = (this x the largest norm seen at build)^2; a larger
    # vector later triggers a rebuild.
    mips_norm_headroom: float = 1.5
    opq_niter: int = 25  # OPQ rotation training iterations (FAISS's default 50 doubles training for ~no recall)
    max_train_vectors: int = 65_536  # training sample cap (k-means cost grows with it)


@dataclass(frozen=True)
class EncoderConfig:
    default_model: str = "xmodal-lite"
    text_batch_size: int = 32
    image_batch_size: int = 16
    torch_threads: int = 1  # $XMODAL_THREADS
    text_max_tokens: int = 256  # MiniLM's trained sequence length; longer inputs are truncated
    # Image tower: input side, resize side before the centre crop (224 / 0.875, as trained).
    image_input_size: int = 224
    image_resize_size: int = 256
    # "auto" picks the fastest measured backend (see BENCHMARKS.md); or "onnx" / "torch".
    image_backend: str = "auto"  # $XMODAL_IMAGE_BACKEND
    # MiniLM's backend, the same way: "onnx" keeps torch out of a query's process (cold search).
    text_backend: str = "auto"  # $XMODAL_TEXT_BACKEND
    decode_workers: int = 2  # threads decoding/resizing images ahead of the forward pass
    decode_batches_ahead: int = 2  # batches decoded ahead of the one in the model (bounds memory)
    # PIL's two-step downscale (box filter, then bicubic) for big photos: >= 3 is indistinguishable
    # from a full bicubic resize and several times faster.
    resize_reducing_gap: float = 3.0
    imagenet_topk: int = 5
    label_bridge_topk: int = 3  # ImageNet labels put into the label-bridge caption
    label_bridge_min_prob: float = 0.05  # labels below this probability are left out (the top one stays)
    label_bridge_template: str = "a photo of a {}"  # how a class name is phrased for the text tower
    label_bridge_ocr: bool = True  # add the text read in the image (OCR) to its vector
    label_bridge_ocr_weight: float = 1.0  # weight of the OCR text against the (unit) label vector
    # photo-bridge / xmodal-lite's bridge: softmax over the top-k logits / temperature (chosen on photos-val).
    photo_bridge_topk: int = 20
    photo_bridge_temperature: float = 2.0
    # Detector words ("two people and a dog") join photo-bridge / xmodal-lite image vectors (weight from
    # the model's metadata; photo-bridge's below). Off by default: on photos-val they moved R@10 by
    # less than one query at ~5x the encoding cost (MODEL_CARD.md). XMODAL_DETECT=1 turns them on.
    detect: bool = False  # $XMODAL_DETECT
    detect_weight: float = 0.5
    clip_backend: str = "torch"  # "torch" or "onnx" (exported once under the cache dir) for clip:<model>
    clip_max_tokens: int = 77  # CLIP's context length; longer texts are truncated


@dataclass(frozen=True)
class MediaConfig:
    max_image_pixels: int = 64_000_000  # decompression-bomb guard
    image_size: int = 224
    thumbnail_size: int = 256
    video_frame_interval_s: float = 2.0
    max_text_bytes: int = 20_000_000
    # Text is cut into windows of this many words (a sentence encoder's reach), sharing chunk_overlap.
    chunk_tokens: int = 200
    chunk_overlap: int = 40
    svg_max_side: int = 2048  # SVGs are rendered so their longer side is at most this...
    svg_min_side: int = 256   # ...and at least this (icons declare tiny sizes)
    sniff_bytes: int = 4096  # leading bytes read to detect a file's kind
    text_max_control_ratio: float = 0.05  # more control bytes than this: binary, not text
    # Undecodable UTF-8 bytes above this share: the file is read as Windows-1252 instead.
    text_max_replacement_ratio: float = 0.01
    pdf_max_pages: int = 2000
    ocr_languages: tuple[str, ...] = ("eng", "chi_sim")  # those installed are used, in this order
    # "auto": tesseract when installed, else RapidOCR (pip); or force "tesseract" / "rapidocr".
    ocr_engine: str = "auto"  # $XMODAL_OCR_ENGINE
    ocr_cache: bool = True  # remember OCR results per picture under the cache dir
    ocr_batch_size: int = 16  # pictures read by one tesseract process (it loads its models once)
    ocr_min_side: int = 1000  # smaller images are upscaled before OCR (tesseract wants ~30 px letters)
    ocr_max_upscale: float = 2.0  # ...but by at most this factor
    ocr_timeout_s: float = 120.0
    ocr_min_confidence: float = 30.0  # words tesseract is less sure of (0-100) are dropped
    # The text gate (xmodal/media/text_gate.py): tesseract reads only pictures in which RapidOCR's
    # detector finds a region that its recogniser reads as a confident character. Off, or without
    # rapidocr-onnxruntime, every picture is read. Chosen in benchmarks/bench_ocr_gate.py.
    ocr_gate: bool = True  # $XMODAL_OCR_GATE=0 turns it off
    # The detector sees the picture with its longer side ocr_gate_scale of its own, but at least
    # ocr_gate_side and at most ocr_gate_max_side pixels (480 flat lost 14-20 px text on 1600 px pictures).
    ocr_gate_side: int = 480
    ocr_gate_scale: float = 0.5
    ocr_gate_max_side: int = 960
    ocr_gate_pixel_threshold: float = 0.3  # a map pixel above this is text (RapidOCR's own threshold)
    ocr_gate_min_score: float = 0.5  # ...and a region's mean score must reach this (RapidOCR's box_thresh)
    ocr_gate_max_regions: int = 6  # strongest regions handed to the recogniser
    ocr_gate_min_confidence: float = 0.6  # recogniser confidence (0..1) that makes a region text
    # "base" (multilingual Whisper base, default) or "tiny.en" (English only, faster, mishears short queries).
    asr_model: str = "base"  # $XMODAL_ASR_MODEL
    # Languages speech may be in (comma-separated ISO codes, e.g. "en,fr,es,ru"); empty: any of Whisper's 99.
    # Whisper base guesses the language of a one-word clip poorly; naming the few a library holds helps.
    asr_languages: tuple[str, ...] = ()  # $XMODAL_ASR_LANGUAGES
    asr_beam_size: int = 5
    asr_vad: bool = True  # skip silence with the VAD model bundled in faster-whisper (long recordings)
    # Clips up to this long (spoken queries) are decoded whole, without timestamps: the VAD cuts off the
    # first or last word of a 1-5 s clip more often than it saves time. Longer ones keep segment times.
    asr_short_clip_s: float = 5.0
    asr_no_speech_threshold: float = 0.6  # Whisper's no-speech probability above which a window is silence
    # Short clips (spoken queries) take their own path (xmodal.media.speech.transcribe_clip): padded with
    # silence, encoded once, beam search with n-best readings, the library's words as hints. Each knob was
    # measured on a tuning split of espeak queries (benchmarks/speech_tuning.py, BENCHMARKS.md).
    asr_short_clip_path: bool = True  # False: short clips go through faster-whisper's transcribe like the rest
    asr_short_clip_pad_s: float = 0.5  # seconds of silence added on each side (Whisper loses words at the edges)
    # Seconds of the encoder window a padded short clip is filled out to with silence (at least the padded
    # clip, at most Whisper's 30). The encoder is most of a query's cost at 30 s; at 10 s the tuning queries
    # kept the same content words (29/50) at ~1/6 of the CPU time (RTF 0.94 -> 0.15). 5 s lost one word,
    # called 2 of 40 queries no speech and heard 6/12 sound effects as words (BENCHMARKS.md).
    # The short window is used where the language is known (asr_languages set: detection among those, or
    # the one told), where it lost nothing (val. Tux Paint R@10 0.200 = 0.200 among 12, 0.238 vs 0.219
    # told). Guessing among all of Whisper's languages it guessed worse (espeak R@10 0.558 -> 0.512), so
    # open detection keeps the full window unless asked otherwise (asr_short_clip_open_window_s).
    asr_short_clip_window_s: float = 10.0
    asr_short_clip_open_window_s: float = 30.0
    # No speech in a padded clip: no-speech probability above this AND best reading's avg log-prob below the next.
    asr_short_clip_no_speech_prob: float = 0.5
    asr_short_clip_min_logprob: float = -1.0
    asr_nbest: int = 5  # readings the beam search returns; with library words known, the one naming most wins
    # A spoken query's vector: the mean of the text vectors of its first readings (the chosen one and the
    # next n-best), each weighted by exp(scale * its average log-probability). 1: the chosen reading alone.
    # On the validation split's Tux Paint recordings 5 readings gained 3 of 431 queries (R@10 0.202 -> 0.209),
    # inside the noise, so the default stays 1 (benchmarks/speech_retrieval.py, BENCHMARKS.md).
    asr_query_readings: int = 1
    asr_query_readings_scale: float = 1.0
    # Prompting a spoken query's recogniser with the library's commonest words: off. On the tuning queries it
    # gained 1 word of 50 but made 10 of 12 sound effects come out as words (3 without), and leaked hints
    # into transcripts ("a gray rabbit" -> "red rabbit" with "red" among the hints).
    asr_vocabulary_hints: bool = False
    asr_vocabulary_hints_limit: int = 15  # ...at most this many (when on)
    asr_silence_peak: float = 0.002  # audio whose loudest sample is quieter than this holds no speech
    asr_threads: int = 1  # $XMODAL_THREADS
    video_seek_min_interval_s: float = 10.0  # sparser frame sampling seeks instead of decoding every frame
    video_frame_max_side: int = 1280  # larger video frames are scaled down while decoding
    # Frames differing from the last kept one by less than this mean intensity share are dropped (0: keep all).
    video_min_frame_change: float = 0.0
    video_change_thumb_side: int = 16  # frames are compared as grey thumbnails of this side


@dataclass(frozen=True)
class DetectConfig:
    """Object / face detection with the TFJS models of the ``@vladmandic/human`` npm package."""

    human_version: str = "3.3.6"  # npm package fetched by scripts/setup.sh (pinned, with its sha1)
    # Folder holding the unpacked package (its models/); None = <cache dir>/human-<version>/package.
    human_dir: str | None = None  # $XMODAL_HUMAN_DIR
    # "auto": ONNX Runtime on a graph exported once under the cache dir, else the torch interpreter.
    backend: str = "auto"  # $XMODAL_DETECT_BACKEND
    batch_size: int = 4  # images per forward pass of the detector backbone (1..16 cost the same per image)
    threads: int = 1  # intra-op threads of the detector networks; $XMODAL_THREADS
    # CenterNet input side (multiple of 32). 512 is the graph's own (human's); the net is fully
    # convolutional: 384 costs ~60 % of the time, 320 ~40 % (small objects are lost first).
    input_size: int = 512  # $XMODAL_DETECT_SIZE
    # "letterbox" (aspect kept, centred on black: the CenterNet weights' upstream preprocessing) or
    # "stretch" (human's centernet.ts). Letterbox finds side-by-side people that stretching loses.
    preprocess: str = "letterbox"  # $XMODAL_DETECT_PREPROCESS
    # human's own CenterNet defaults (src/config.ts, object.*): score > 0.2, NMS IoU 0.4, 10 boxes.
    min_confidence: float = 0.2
    iou_threshold: float = 0.4
    max_detected: int = 10
    # describe(): detections below this score or covering less of the image than this are left out.
    describe_min_score: float = 0.3
    describe_min_area: float = 0.01
    describe_max_labels: int = 4  # distinct things named in one description
    group_count: int = 5  # this many or more of one thing reads "a group of ..."
    # Faces (BlazeFace + FaceRes): human's detector defaults, and the face size that gets a word.
    face_min_confidence: float = 0.2
    face_iou_threshold: float = 0.1
    face_max_detected: int = 5
    face_min_area: float = 0.02  # faces smaller than this share of the image get no man/woman word
    face_min_gender_confidence: float = 0.25  # human's |2 * (p - 0.5)|; below this no gender is said
    adult_age: float = 18.0  # FaceRes' age bins below this count as a child...
    child_min_prob: float = 0.6  # ...and "boy"/"girl" needs this much of its softmax there


@dataclass(frozen=True)
class IngestConfig:
    default_collection: str = "media"
    rrf_k: int = 60  # reciprocal-rank fusion constant
    # Files decoded + encoded together: bigger batches encode faster, smaller ones lose less on Ctrl-C.
    batch_files: int = 16
    hash_block_bytes: int = 1 << 20  # read size while hashing file contents
    # Rows fetched per vector field before grouping chunks / frames back to items.
    candidate_multiplier: int = 8
    min_candidates: int = 50
    keyword_weight: float = 1.0  # weight of the BM25 list in the fusion (each vector field has 1.0)
    # A vector field votes for an item only when the item's similarity stands out among that field's
    # nearest rows (mean + z * std): an image's OCR text must not outvote its pixels just by existing.
    field_floor_z: float = 1.0
    keyword_min_ratio: float = 0.25  # keyword hits below this share of the best BM25 score do not vote
    backfill_weight: float = 0.01  # weight of the unfloored lists, which only order what no field vouched for
    ocr_weight: float = 0.5  # weight of OCR-text matches (an image's pixels already vote for it)
    ocr_line_min_confidence: float = 0.6  # OCR lines read with less (0..1) are neither indexed nor shown
    # Ranking (xmodal.ingest.ranking): "calibrated" relevance fused by probabilistic OR, or "rrf".
    fusion: str = "calibrated"
    min_relevance: float = 0.1  # the CLI's default cut: below it a result is "no good match"
    rare_term_relevance: float = 0.97  # keyword relevance of an exact code-like or rare-term match
    rare_term_max_share: float = 0.02  # a term in at most this share of passages is rare ...
    rare_term_min_passages: int = 200  # ... when the library has at least this many passages
    keyword_file: str = "keywords.sqlite"  # inside the library's ingest folder
    failure_file: str = "failures.sqlite"  # files that failed, with their signature (not retried while unchanged)
    video_max_frames: int = 120  # frames kept per video (spread evenly when longer)
    evidence_chars: int = 240  # longest passage quoted as evidence
    workers: int = 1  # processes for decoding / encoding; 1 = in this process
    # The model `make demo` indexes with: the multilingual twin of the default model, so Chinese
    # queries find the same images as English ones without a second index.
    demo_model: str = "xmodal-lite-multilingual"
    # Ray encoding jobs (xmodal index --ray ADDRESS): CPUs reserved per encoder actor, and files up to
    # this size travel to the workers inside the job (larger ones are read from a shared path).
    ray_actor_cpus: float = 1.0
    ray_max_ship_bytes: int = 64_000_000


@dataclass(frozen=True)
class ApiKey:
    """One client of the REST server: its secret, what it may do, and the namespace it lives in.

    ``key`` is the secret itself or ``"sha256:<hex>"`` of it, so key files need not hold plain secrets.
    ``scopes``: "read" (list, get, search), "write" (upsert, delete, upload), "admin" (create / drop
    collections, index server folders); each implies the ones before it. ``grants``: other namespaces
    this key may read.
    """

    key: str
    scopes: tuple[str, ...] = ("read",)
    namespace: str = "default"
    grants: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_bytes: int = 25_000_000      # per uploaded file
    max_request_bytes: int = 60_000_000     # whole request body (several files, big vector batches)
    max_files_per_upload: int = 32
    db: str | None = None                   # database folder or URI; None = default_db_path()
    keys: tuple[ApiKey, ...] = ()           # empty = no authentication (then loopback only, see below)
    allow_open_public: bool = False         # bind a non-loopback address without keys anyway
    roots: tuple[str, ...] = ()             # server-side folders that POST /v1/media/index may read
    upload_dir: str | None = None           # where uploaded media is kept; None = "<db>.uploads"
    default_library: str = "media"          # media library (collection) used when a request names none
    model: str | None = None                # encoder for new libraries; None = EncoderConfig.default_model
    default_k: int = 10
    max_k: int = 1000
    max_points_per_request: int = 10_000
    max_range_hits: int = 10_000            # range / threshold searches return at most this many hits
    max_query_chars: int = 2_000
    max_name_chars: int = 64                # collection and namespace names
    latency_window: int = 2_000             # recent requests kept for the p50 / p99 in /v1/metrics
    jobs_kept: int = 200                    # finished background jobs remembered for polling
    writer_wait_s: float = 60.0             # a write waits this long for another process's writer
    upload_chunk_bytes: int = 1 << 20


@dataclass(frozen=True)
class AppsConfig:
    """Question answering (qa_*), the LLM client (llm_*) and recommendation (rec_*)."""

    # Text-to-text encoder that scores evidence sentences against the question (dense half).
    qa_sentence_encoder: str = "minilm"
    qa_items: int = 8                # items (library's fused search) whose rows become candidate evidence
    qa_rows_per_item: int = 12       # rows per item and vector field nearest to the question (a FAQ: 6 missed 4 of 42)
    qa_evidence_k: int = 5           # evidence units returned, best first
    qa_answer_units: int = 2         # most sentences / segments joined into the extractive answer
    qa_answer_relative: float = 0.85  # a further unit joins the answer only within this share of the best score
    qa_dense_weight: float = 0.55    # sentence score = w * dense + (1 - w) * keyword (both in [0, 1])
    bm25_k1: float = 1.5
    bm25_b: float = 0.75
    # Confidence = sigmoid(bias + dense_slope * dense + keyword_slope * coverage); fitted on the
    # built question set (benchmarks/bench_apps.py) with answerable and unanswerable questions.
    qa_conf_bias: float = -6.0
    qa_conf_dense_slope: float = 7.0
    qa_conf_keyword_slope: float = 5.0
    # Evidence without text (images, frames) is judged by how much better the question describes it
    # than generic captions do, z = (sim(question) - mean(sim(captions))) / std(sim(captions)), averaged
    # with how it stands out among the library's pictures for this question (hubs fool either alone).
    # A z-score, unlike a raw cosine, means the same for every model (CLIP, label bridge, xmodal-lite).
    qa_conf_media_bias: float = -5.0
    qa_media_pool: int = 50          # pictures per question whose similarities give the query-side mean / sd
    qa_media_pool_min: int = 10      # fewer pictures in the library: the query side is left out
    qa_conf_media_slope: float = 2.0
    qa_reference_captions: tuple = (
        "a photo", "a picture of an object", "a drawing", "a person", "an animal", "a building",
        "a landscape", "a vehicle", "food on a plate", "a document with text", "a plant", "a tool",
        "a piece of furniture", "a toy", "a musical instrument", "clothing", "a sign", "the sky", "a room",
        "a logo")
    # Answer is "not found" (null) below this confidence; chosen on the validation half of the QA set
    # (python -m benchmarks.bench_apps --only qa --fit: the most right answers with >= 90 % of the
    # unanswerable questions abstaining), with the model qa_conf_model below.
    qa_not_found_below: float = 0.3959
    # Confidence of a text answer is scaled by (1 - w + w * the item's calibrated retrieval relevance)
    # where the library's relevance is calibrated, and by how clearly speech was recognised.
    qa_relevance_weight: float = 0.3
    qa_asr_logprob_mid: float = -0.8  # Whisper average log-probability at which a segment counts half
    qa_asr_logprob_slope: float = 6.0
    qa_answer_type_penalty: float = 0.4  # a number / time question, a unit with no number or time in it
    qa_picture_request_factor: float = 0.1  # "a cup of coffee" (show me a thing): any text unit, as an answer
    # Logistic rescaling of the product of the answer factors (xmodal.apps.answers.recalibrate).
    qa_conf_platt_slope: float = 0.942
    qa_conf_platt_bias: float = -0.572
    # The answer's confidence (xmodal.apps.answers.answer_confidence): a logistic model over features of
    # the best text unit and its rivals, (feature, weight) pairs, "bias" the intercept. Fitted on the
    # validation half of the QA set (python -m benchmarks.bench_apps --only qa --fit, which keeps the
    # many-feature model only if it beats the one-feature one there, held out question by question: on
    # the 135 validation questions of 2026-12-02 it did, leave-one-out Brier 0.089 vs 0.127; quality,
    # relevance and agreement came out negative and were dropped). Before: (("bias", -0.572), ("score", 0.942)).
    qa_conf_model: tuple = (("bias", -6.0933), ("score", 0.0987), ("dense", 0.8746), ("keyword", 2.6995),
                            ("type", 1.5822), ("asr", 5.3336), ("margin", 0.5785), ("rare", 5.743))
    qa_thumbnail_size: int = 128
    llm_timeout_s: float = 60.0
    llm_max_tokens: int = 512
    llm_temperature: float = 0.0
    llm_default_model: str = "local"
    # Recommendation.
    rec_half_life_days: float = 30.0  # an interaction's weight halves every this many days
    rec_event_weights: dict = field(default_factory=lambda: {
        "like": 1.0, "save": 1.0, "click": 0.5, "view": 0.3, "skip": -0.3, "dislike": -1.0})
    rec_candidate_k: int = 100       # nearest neighbours fetched per interest query before re-ranking
    rec_interest_anchors: int = 10   # most recent liked items also used as separate interest queries
    rec_anchor_share: float = 0.5    # relevance = share * best-anchor similarity + rest * profile similarity
    rec_negative_weight: float = 0.6  # how hard similarity to disliked items pushes a candidate down
    rec_mmr_lambda: float = 0.7      # MMR trade-off: 1 = pure relevance, 0 = pure diversity
    # Hybrid: relevance += weight * (co-like score / best co-like score), from other users' likes.
    rec_collaborative_weight: float = 0.3
    rec_collaborative_users: int = 500  # co-likers read per request (bounds the cost on big logs)
    rec_history_limit: int = 500     # most recent interactions read per user


@dataclass(frozen=True)
class TrainConfig:
    """Contrastive training of projection heads (xmodal.train) and evaluation (xmodal.eval)."""

    tuxpaint_dir: str = "/usr/share/tuxpaint/stamps"
    openclipart_dir: str = "/usr/share/openclipart/svg"
    data_dir: str = "data"  # fetched data sets (gitignored); $XMODAL_DATA
    split_fractions: tuple = (0.7, 0.1, 0.2)  # train / val / test share of images
    split_seed: int = 0
    seed: int = 0
    epochs: int = 80
    batch_size: int = 256
    learning_rate: float = 3e-4
    weight_decay: float = 1e-4
    init_temperature: float = 0.07
    max_logit_scale: float = 100.0
    patience: int = 10  # epochs without a better validation R@10 before stopping
    reconstruction_weight: float = 0.0
    distillation_weight: float = 0.0
    distillation_temperature: float = 0.05
    text_pair_weight: float = 0.0  # text–text InfoNCE between two descriptions (languages) of one image
    preferred_languages: tuple = ()  # languages drawn more often than 1/(languages of the image)
    preferred_share: float = 0.0  # share of draws made among an image's preferred-language texts
    bridge_topk: int = 20  # ImageNet labels per image in the label bridge (photo-bridge's choice)
    bridge_temperature: float = 2.0
    # Norm bound of the image head's residual against the bridge's unit vector (None: unbounded, as
    # in v1, whose residual swamped the bridge on photos). Chosen on photos-val + Tux Paint val.
    max_residual: float | None = 0.1
    label_vocabulary: str = "wordnet"  # the bridge's starting class vectors (see label_bridge.py)
    feature_dropout: float = 0.5  # dropout on standardised image features while training
    label_anchor_weight: float = 1.0  # pull of the trained label embeddings towards their text-tower start
    recall_ks: tuple = (1, 5, 10)
    feature_batch_size: int = 16
    crop_margin: float = 0.1  # share of each side cut away by the "crop" augmentation
    raster_size: int = 320  # width SVGs are rendered at for training (the tower resizes to 256 anyway)
    max_texts_per_item: int = 100  # languages kept per image
    openclipart_max_per_folder: int = 40  # so hundreds of playing cards do not dominate a batch


@dataclass(frozen=True)
class MilvusConfig:
    # Milvus caps top-k (and limit+offset) at this many rows per request.
    max_topk: int = 16384
    # Rows per insert / query / delete request (keeps gRPC messages under Milvus' 64 MB cap).
    write_batch_rows: int = 2000
    read_batch_rows: int = 1000
    # A VARCHAR primary key holds the typed id encoding ("i:42" / "s:name").
    max_id_length: int = 1024
    max_varchar_length: int = 65535
    max_array_capacity: int = 4096
    # Range / threshold bounds are widened by this much before the exact post-filter,
    # so boundary rows are judged by the same rule as the embedded engine.
    range_slack: float = 1e-5
    # IVF lists when a field does not say (Milvus' own default).
    ivf_default_nlist: int = 128
    # (HNSW / IVF build and search defaults come from DBConfig, so both backends agree.)
    # Env var read for a token (user:password or API key) when connecting to a remote server.
    token_env: str = "XMODAL_MILVUS_TOKEN"
    # MilvusCollection.flush() waits at most this long for background index builds, polling a server.
    index_wait_s: float = 3600.0
    index_poll_s: float = 0.5
    # Rows per batch in export / import (and per Parquet part file).
    transfer_batch_rows: int = 2000


@dataclass(frozen=True)
class Config:
    db: DBConfig = field(default_factory=DBConfig)
    encoders: EncoderConfig = field(default_factory=EncoderConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    detect: DetectConfig = field(default_factory=DetectConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    apps: AppsConfig = field(default_factory=AppsConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    milvus: MilvusConfig = field(default_factory=MilvusConfig)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Config":
        """The defaults with the per-machine environment variables applied (``ENV_VARS``).

        Read once, at start-up, by the CLI and the server, which pass the sections down; the
        defaults themselves never look at the environment, so a variable set after ``import
        xmodal`` takes effect on the next ``from_env()``, and two objects in one process can be
        given different settings."""
        env = os.environ if environ is None else environ
        base = cls()
        changes: dict[str, dict[str, Any]] = {}
        for name, section, attr, parse in ENV_VARS:
            text = env.get(name)
            if text is None or text.strip() == "":
                continue
            try:
                value = parse(text.strip())
            except ValueError as exc:
                raise InvalidInput(f"environment variable {name}={text!r}: {exc}") from exc
            changes.setdefault(section, {})[attr] = value
        return replace(base, **{section: replace(getattr(base, section), **values)
                                for section, values in changes.items()})


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be a positive integer")
    return value


def _flag(text: str) -> bool:
    return text.lower() not in ("0", "false", "no")


def _codes(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


# (environment variable, Config section, field, parser). XMODAL_THREADS sizes every intra-op pool.
ENV_VARS: tuple[tuple[str, str, str, Callable[[str], Any]], ...] = (
    ("XMODAL_DB_SYNC", "db", "sqlite_synchronous", str.upper),
    ("XMODAL_FAISS_THREADS", "db", "faiss_threads", _positive_int),
    ("XMODAL_THREADS", "encoders", "torch_threads", _positive_int),
    ("XMODAL_THREADS", "media", "asr_threads", _positive_int),
    ("XMODAL_THREADS", "detect", "threads", _positive_int),
    ("XMODAL_IMAGE_BACKEND", "encoders", "image_backend", str),
    ("XMODAL_TEXT_BACKEND", "encoders", "text_backend", str),
    ("XMODAL_DETECT", "encoders", "detect", _flag),
    ("XMODAL_OCR_ENGINE", "media", "ocr_engine", str),
    ("XMODAL_OCR_GATE", "media", "ocr_gate", _flag),
    ("XMODAL_ASR_MODEL", "media", "asr_model", str),
    ("XMODAL_ASR_LANGUAGES", "media", "asr_languages", _codes),
    ("XMODAL_HUMAN_DIR", "detect", "human_dir", str),
    ("XMODAL_DETECT_BACKEND", "detect", "backend", str),
    ("XMODAL_DETECT_SIZE", "detect", "input_size", _positive_int),
    ("XMODAL_DETECT_PREPROCESS", "detect", "preprocess", str),
    ("XMODAL_DATA", "train", "data_dir", str),
)

# The defaults, environment not applied: for the faces only (CLI commands, server, demo). xmodal.db,
# xmodal.encoders, xmodal.media, xmodal.ingest, xmodal.apps (but their CLI commands), xmodal.eval,
# xmodal.train and xmodal.datasets never read it (tests/test_no_global_config.py).
CONFIG = Config()


def default_db_path() -> Path:
    """The database used when no --db is given: $XMODAL_DB or ./xmodal.db."""
    return Path(os.environ.get("XMODAL_DB", "xmodal.db"))


def cache_dir() -> Path:
    """Where derived files that are expensive to recompute live (features, rasterised SVGs)."""
    return Path(os.environ.get("XMODAL_CACHE", Path.home() / ".cache" / "xmodal"))
