"""Documents -> plain text a text tower can read: .txt / .md as written, HTML as the visible text a
browser shows, PDF through pypdf. Real files come in legacy encodings, with BOMs, or half-broken;
they still yield their readable text, while binaries and oversize files are refused by name."""
from __future__ import annotations

import io
import os
import re
from html.parser import HTMLParser
from pathlib import Path

from xmodal._optional import require
from xmodal.config import MediaConfig
from xmodal.errors import MediaError
from xmodal.media.files import read_file

__all__ = ["HTML_EXTS", "MARKDOWN_EXTS", "decode_bytes", "html_to_text", "markdown_to_text", "pdf_to_text",
           "load_text"]

HTML_EXTS = frozenset({".html", ".htm", ".xhtml"})
MARKDOWN_EXTS = frozenset({".md", ".markdown"})
# Elements whose content a reader never sees.
_INVISIBLE = frozenset({"script", "style", "noscript", "template", "head", "svg", "iframe", "object"})
# Elements that start a new line in a browser.
_BLOCK = frozenset("p div br li ul ol tr table h1 h2 h3 h4 h5 h6 section article header footer nav "
                   "blockquote pre hr dt dd figcaption title main aside".split())


def decode_bytes(data: bytes, name: str = "<bytes>", settings: MediaConfig | None = None) -> str:
    """Bytes -> str: BOM-marked UTF-8/16 first, then UTF-8, then Windows-1252 for legacy files;
    lone invalid bytes become U+FFFD rather than failing the whole document."""
    settings = settings or MediaConfig()
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    if b"\x00" in data[: settings.sniff_bytes]:
        raise MediaError(f"{name}: binary content (NUL bytes), not a text document")
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    if bad and bad / max(1, len(text)) > settings.text_max_replacement_ratio:
        text = data.decode("cp1252", errors="replace")
    return text


class _VisibleText(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.title: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self._in_title = True
        if tag in _INVISIBLE:
            self.hidden += 1
        elif tag in _BLOCK:
            self.parts.append("\n")
        if tag == "img":  # alt text is what a screen reader (and a search) should see
            alt = dict(attrs).get("alt")
            if alt and not self.hidden:
                self.parts.append(f" {alt} ")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in _INVISIBLE:
            self.hidden -= 1

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        if tag in _INVISIBLE:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if self._in_title:
            self.title.append(data)
        elif not self.hidden:
            self.parts.append(data)


def html_to_text(html: str, name: str = "<html>") -> str:
    """The text a browser would show (title first), whitespace collapsed per line."""
    parser = _VisibleText()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError) as exc:  # html.parser asserts on some malformed markup
        raise MediaError(f"{name}: malformed HTML ({exc})") from exc
    body = "".join(parser.parts)
    title = " ".join("".join(parser.title).split())
    return _tidy(f"{title}\n{body}" if title else body)


_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")


def markdown_to_text(md: str) -> str:
    """Markdown with link / image targets removed (their URLs are noise for a sentence model)."""
    return _MD_LINK.sub(r"\1", _MD_IMAGE.sub(r"\1", md))


def _tidy(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.splitlines()]
    out = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", out).strip()


def pdf_to_text(data: bytes, name: str, settings: MediaConfig | None = None) -> str:
    settings = settings or MediaConfig()
    pypdf = require("pypdf", "media")
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise MediaError(f"{name}: PDF is password-protected")
            except MediaError:
                raise
            except Exception as exc:  # noqa: BLE001 - unsupported crypto
                raise MediaError(f"{name}: PDF is encrypted ({exc})") from exc
        pages = reader.pages
        if len(pages) > settings.pdf_max_pages:
            raise MediaError(f"{name}: PDF has {len(pages)} pages, more than the limit of "
                             f"{settings.pdf_max_pages} (MediaConfig.pdf_max_pages)")
        texts = [(page.extract_text() or "") for page in pages]
    except MediaError:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types on damaged files
        raise MediaError(f"{name}: corrupt or unreadable PDF ({type(exc).__name__}: {exc})") from exc
    return _tidy("\n\n".join(texts))


def load_text(path: str | os.PathLike, settings: MediaConfig | None = None) -> str:
    """The readable text of a .txt / .md / .html / .pdf file (kind by content, not by name);
    ``settings``: its size limits and decoding thresholds."""
    settings = settings or MediaConfig()
    path = Path(path)
    data = read_file(path, max_bytes=settings.max_text_bytes, limit_name="MediaConfig.max_text_bytes")
    if not data:
        return ""
    if data.startswith(b"%PDF"):
        return pdf_to_text(data, str(path), settings)
    text = decode_bytes(data, str(path), settings)
    head = text[:1024].lstrip().lower()
    if path.suffix.lower() in HTML_EXTS or head.startswith(("<!doctype html", "<html")):
        return html_to_text(text, str(path))
    if path.suffix.lower() in MARKDOWN_EXTS:
        return markdown_to_text(text).strip()
    return text.strip()
