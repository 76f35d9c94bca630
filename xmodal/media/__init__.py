"""Media loaders: kind detection, images, documents, chunking, OCR, speech, video frames.

Knows nothing of encoders. Every loader raises :class:`xmodal.errors.MediaError` naming the file
and the problem, and :class:`xmodal.errors.MissingDependency` naming what to install.
"""
from xmodal.media.chunking import Chunk, chunk_text
from xmodal.media.images import load_image
from xmodal.media.kinds import KINDS, detect_kind
from xmodal.media.ocr_engine import OcrLine, ocr, ocr_lines, ocr_lines_many, ocr_many
from xmodal.media.speech import Segment, decode_audio, transcribe
from xmodal.media.text import load_text
from xmodal.media.video import Frame, extract_frames

__all__ = ["detect_kind", "KINDS", "load_image", "load_text", "chunk_text", "Chunk", "ocr", "ocr_lines",
           "ocr_many", "ocr_lines_many", "OcrLine", "transcribe", "decode_audio", "Segment", "extract_frames", "Frame"]
