"""Coverage-guided fuzzing (atheris) of the parsers that see untrusted bytes.

Run one target: ``python -m tests.reliability.fuzz_targets TARGET -runs=N`` (any libFuzzer flags).
A target may raise only the documented error (InvalidInput / MediaError); anything else is a
crash that libFuzzer reports with the input that caused it.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile

import atheris

with atheris.instrument_imports(include=["xmodal"]):
    from xmodal.db.filters import parse_filter
    from xmodal.errors import InvalidInput, MediaError
    from xmodal.media import detect_kind, load_image, load_text

SCHEMA = {"kind": "str", "year": "int", "score": "float", "tags": "list[str]", "ok": "bool", "meta": "json"}
_TMP = tempfile.mkdtemp(prefix="xmodal-fuzz-")


def filter_parser(data: bytes) -> None:
    try:
        doc = json.loads(data.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return
    if not isinstance(doc, dict):
        doc = {"kind": doc}
    try:
        parse_filter(doc, SCHEMA)
    except InvalidInput:
        pass


def _as_file(data: bytes, suffix: str) -> str:
    path = os.path.join(_TMP, "input" + suffix)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _loader_target(data: bytes, suffixes: list[str], load) -> None:
    """Bytes under a fuzzer-chosen suffix: kind detection never raises, the loader only MediaError."""
    fdp = atheris.FuzzedDataProvider(data)
    suffix = fdp.PickValueInList(suffixes)
    path = _as_file(fdp.ConsumeBytes(fdp.remaining_bytes()), suffix)
    detect_kind(path)
    try:
        load(path)
    except MediaError:
        pass


def image_loader(data: bytes) -> None:
    _loader_target(data, [".png", ".jpg", ".gif", ".svg", ".webp", ".bmp", ".tiff"], load_image)


def text_loader(data: bytes) -> None:
    _loader_target(data, [".txt", ".md", ".html", ".pdf"], load_text)


TARGETS = {"filter_parser": filter_parser, "image_loader": image_loader, "text_loader": text_loader}

if __name__ == "__main__":
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0]] + sys.argv[2:], target)
    atheris.Fuzz()
