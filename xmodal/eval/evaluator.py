"""One evaluator for any paired set and any encoder (xmodal-lite, the label bridge, a user's CLIP).

Built once on the data, called on each model -- sentence-transformers' evaluator style -- so
every model is measured on exactly the same images, queries and candidates:

    ev = CrossModalEvaluator(test_pairs, name="tuxpaint-test")
    results = [ev(get_encoder(m)) for m in ("label-bridge", "xmodal-lite")]

Per language: text→image (each description queries the image gallery) and image→text (each
image queries that language's descriptions), Recall@1/5/10 and median rank. Speech→image when
pairs carry speech files and the encoder encodes audio. Zero-shot classification when pairs
carry categories: each image goes to the category whose prompt it is closest to.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from xmodal.config import MediaConfig, TrainConfig
from xmodal.errors import InvalidInput, MediaError
from xmodal.eval.metrics import chance_recall, retrieval_metrics
from xmodal.datasets.pairs import Pair, items_of, languages_of
from xmodal.ingest.extract import name_words
from xmodal.ingest.keywords import KeywordIndex
from xmodal.ingest.search import spoken_query
from xmodal.media.images import load_image

# How a clip becomes a query vector: (encoder, clip path, the gallery's keyword index) -> vector, or
# None when no speech is heard. The default is the library's own path (xmodal.ingest.search.spoken_query).
SpeechQuery = Callable[[Any, str, KeywordIndex], "np.ndarray | None"]


class CrossModalEvaluator:
    """Recall@K / median rank (both directions, per language), speech→image, zero-shot accuracy."""

    def __init__(self, pairs: Sequence[Pair], name: str = "", languages: Sequence[str] | None = None,
                 ks: Sequence[int] | None = None, speech: bool = True, zero_shot: bool = True,
                 prompt: str = "a picture of {}", max_speech: int | None = None,
                 media: MediaConfig | None = None, speech_query: SpeechQuery | None = None) -> None:
        if languages is not None:
            pairs = [p for p in pairs if p.language in set(languages)]
        if len(items_of(pairs)) < 2:
            raise InvalidInput(f"evaluation set {name!r} needs at least 2 images, got {len(items_of(pairs))}")
        self.pairs = list(pairs)
        self.name = name
        self.ks = tuple(ks or TrainConfig.recall_ks)
        self.languages = list(languages) if languages is not None else languages_of(self.pairs)
        self.speech = speech
        self.zero_shot = zero_shot
        self.prompt = prompt
        self.max_speech = max_speech
        self.media = media  # speech settings of spoken queries (default: the encoder's)
        self.speech_query = speech_query
        self._images: list | None = None
        self._items: list[str] = []
        self.skipped: list[str] = []

    def _gallery(self) -> tuple[list[str], list]:
        """Decoded images, once for every encoder evaluated; undecodable ones are left out (and listed)."""
        if self._images is None:
            path_of = {p.item_id: p.image for p in self.pairs}
            self._items, self._images = [], []
            for item in items_of(self.pairs):
                try:
                    self._images.append(load_image(path_of[item]))
                    self._items.append(item)
                except MediaError:
                    self.skipped.append(item)
        return self._items, self._images

    def __call__(self, encoder: Any, model_name: str | None = None) -> dict:
        t0 = time.perf_counter()
        items, images = self._gallery()
        index = {it: i for i, it in enumerate(items)}
        image_vecs = np.asarray(encoder.encode_image(images), dtype=np.float32)
        out: dict[str, Any] = {"set": self.name, "model": model_name or getattr(encoder, "name", type(encoder).__name__),
                               "images": len(items), "skipped_images": list(self.skipped), "languages": {}}
        for lang in self.languages:
            lp = [p for p in self.pairs if p.language == lang and p.item_id in index]
            if not lp:
                continue
            gold = np.array([index[p.item_id] for p in lp])
            q = np.asarray(encoder.encode_text([p.text for p in lp], mode="query"), dtype=np.float32)
            correct = gold[:, None] == np.arange(len(items))[None, :]
            t2i = retrieval_metrics(q @ image_vecs.T, correct, self.ks)
            # image→text: images that have a description in this language query those descriptions.
            passages = np.asarray(encoder.encode_text([p.text for p in lp], mode="passage"), dtype=np.float32)
            have = np.unique(gold)
            i2t = retrieval_metrics(image_vecs[have] @ passages.T, have[:, None] == gold[None, :], self.ks)
            out["languages"][lang] = {"text_to_image": t2i, "image_to_text": i2t,
                                      "chance_R@10": chance_recall(10, len(items))}
        if self.speech:
            out["speech_to_image"] = self._speech(encoder, index, image_vecs)
        if self.zero_shot:
            out["zero_shot"] = self._zero_shot(encoder, items, image_vecs)
        out["seconds"] = round(time.perf_counter() - t0, 2)
        return out

    def _speech(self, encoder: Any, index: dict[str, int], image_vecs: np.ndarray) -> dict | None:
        """Speech→image per language, next to text→image on the same stamps' typed descriptions.

        Each clip is searched the way a library searches a spoken query (``spoken_query``: n-best
        readings, the one naming most of the library's words chosen, text vector), the library's
        keyword index holding the gallery's file names as an indexed library's does (OCR aside).
        ``max_speech`` caps the clips per language (ASR is the slow part). A clip in which no
        speech is recognised is still a query: it gets a zero vector, which ties with every image
        and so lands at the chance rank, and it is counted under ``unheard``."""
        sp = [p for p in self.pairs if p.speech and p.item_id in index]
        if not sp:
            return None
        if "audio" not in getattr(encoder, "modalities", ()):
            return {"skipped": f"{getattr(encoder, 'name', 'encoder')} does not encode audio"}
        media = self.media or getattr(encoder, "media_settings", None) or MediaConfig()
        hear = self.speech_query or (lambda enc, clip, kw: spoken_query(enc, clip, media, kw).vector)
        path_of = {p.item_id: p.image for p in self.pairs}
        out: dict[str, Any] = {"languages": {}}
        all_q, all_gold = [], []
        candidates = np.arange(len(image_vecs))[None, :]
        with tempfile.TemporaryDirectory(prefix="xmodal-eval-keywords-") as tmp:
            keywords = KeywordIndex(Path(tmp) / "keywords.sqlite")
            keywords.add([(f"r{i}", item, "image", name_words(Path(path_of[item]))) for item, i in index.items()])
            try:
                for lang in sorted({p.language for p in sp}):
                    lp = [p for p in sp if p.language == lang][: self.max_speech or None]
                    gold = np.array([index[p.item_id] for p in lp])
                    q = np.zeros((len(lp), image_vecs.shape[1]), np.float32)
                    unheard = []
                    for i, p in enumerate(lp):
                        try:
                            vec = hear(encoder, str(p.speech), keywords)
                        except MediaError:
                            vec = None
                        if vec is None:
                            unheard.append(p.speech)
                        else:
                            q[i] = np.asarray(vec, dtype=np.float32)
                    typed = np.asarray(encoder.encode_text([p.text for p in lp], mode="query"), dtype=np.float32)
                    correct = gold[:, None] == candidates
                    m = retrieval_metrics(q @ image_vecs.T, correct, self.ks)
                    out["languages"][lang] = {"speech_to_image": m, "typed_text_to_image": retrieval_metrics(
                        typed @ image_vecs.T, correct, self.ks), "unheard": len(unheard)}
                    all_q.append(q)
                    all_gold.append(gold)
            finally:
                keywords.close()
        gold = np.concatenate(all_gold)
        out.update(retrieval_metrics(np.concatenate(all_q) @ image_vecs.T, gold[:, None] == candidates, self.ks))
        out["unheard"] = sum(d["unheard"] for d in out["languages"].values())
        return out

    def _zero_shot(self, encoder: Any, items: list[str], image_vecs: np.ndarray) -> dict | None:
        category = {p.item_id: p.category for p in self.pairs if p.category}
        if len(set(category.values())) < 2:
            return None
        classes = sorted(set(category.values()))
        keep = [i for i, it in enumerate(items) if it in category]
        protos = np.asarray(encoder.encode_text([self.prompt.format(c) for c in classes], mode="query"), dtype=np.float32)
        pred = (image_vecs[keep] @ protos.T).argmax(axis=1)
        truth = np.array([classes.index(category[items[i]]) for i in keep])
        return {"accuracy": float((pred == truth).mean()), "classes": len(classes), "images": len(keep),
                "majority_class": float(np.bincount(truth).max() / len(truth))}
