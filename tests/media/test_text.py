"""load_text returns the readable text of documents; chunk_text windows keep their offsets."""
from pathlib import Path

import pytest

from xmodal.errors import InvalidInput, MediaError
from xmodal.media import chunk_text, load_text


def test_plain_utf8_and_utf16_with_bom(tmp_path: Path):
    (tmp_path / "a.txt").write_text("Café au lait — 猫\n", encoding="utf-8")
    assert load_text(tmp_path / "a.txt") == "Café au lait — 猫"
    (tmp_path / "b.txt").write_bytes("naïve résumé".encode("utf-16"))
    assert load_text(tmp_path / "b.txt") == "naïve résumé"


def test_legacy_windows_1252_file_is_read_not_garbled(tmp_path: Path):
    (tmp_path / "old.txt").write_bytes("Crème brûlée costs 5€ at the café".encode("cp1252"))
    assert load_text(tmp_path / "old.txt") == "Crème brûlée costs 5€ at the café"


def test_a_stray_invalid_byte_does_not_lose_the_document(tmp_path: Path):
    body = ("All good text here. " * 50).encode() + b"\xff" + b" and the end."
    (tmp_path / "mostly.txt").write_bytes(body)
    text = load_text(tmp_path / "mostly.txt")
    assert text.startswith("All good text here.") and text.endswith("and the end.") and "\ufffd" in text


def test_html_gives_visible_text_only(tmp_path: Path):
    html = """<!DOCTYPE html><html><head><title>Bike shop</title><style>p {color: red}</style>
    <script>var secret = "do not index";</script></head>
    <body><h1>Opening hours</h1><p>Mon&ndash;Fri &amp; Sat</p><img src="x.png" alt="red bicycle">
    <noscript>enable JS</noscript><div>Call   us</div></body></html>"""
    (tmp_path / "page.htm").write_text(html)
    text = load_text(tmp_path / "page.htm")
    assert "Bike shop" in text and "Opening hours" in text and "Mon–Fri & Sat" in text
    assert "red bicycle" in text and "Call us" in text
    assert "secret" not in text and "color" not in text and "enable JS" not in text


def test_markdown_links_keep_their_words_not_urls(tmp_path: Path):
    (tmp_path / "readme.md").write_text("# Title\nSee [the guide](https://example.org/g) and ![a cat](cat.png).")
    text = load_text(tmp_path / "readme.md")
    assert "the guide" in text and "a cat" in text and "example.org" not in text and "cat.png" not in text


def test_pdf_text_is_extracted(tmp_path: Path):
    import cairosvg

    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="500" height="100"><text x="10" y="50" '
           'font-family="DejaVu Sans" font-size="20">Invoice for seven blue bicycles</text></svg>')
    (tmp_path / "invoice.pdf").write_bytes(cairosvg.svg2pdf(bytestring=svg.encode()))
    assert load_text(tmp_path / "invoice.pdf") == "Invoice for seven blue bicycles"


def test_corrupt_pdf_binary_and_oversize_raise_media_error(tmp_path: Path):
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 20)
    with pytest.raises(MediaError, match="broken.pdf.*PDF"):
        load_text(tmp_path / "broken.pdf")
    (tmp_path / "prog.txt").write_bytes(b"ELF\x00\x01\x02" * 100)
    with pytest.raises(MediaError, match="prog.txt.*binary"):
        load_text(tmp_path / "prog.txt")
    from xmodal.config import CONFIG

    big = tmp_path / "huge.txt"
    with open(big, "wb") as fh:
        fh.truncate(CONFIG.media.max_text_bytes + 1)
    with pytest.raises(MediaError, match="huge.txt.*larger than the limit"):
        load_text(big)
    with pytest.raises(MediaError, match="not found"):
        load_text(tmp_path / "missing.txt")


def test_chunks_overlap_and_point_back_into_the_text():
    text = " ".join(f"w{i}" for i in range(25)) + "\n\n  tail  words "
    chunks = chunk_text(text, words=10, overlap=3)
    assert [c.text.split()[0] for c in chunks] == ["w0", "w7", "w14", "w21"]
    for c in chunks:
        assert text[c.start:c.end] == c.text
        assert len(c.text.split()) <= 10
    assert chunks[-1].text.endswith("tail  words")
    assert chunks[0].text.split()[-3:] == chunks[1].text.split()[:3]


def test_chinese_is_chunked_by_characters():
    text = "猫在沙发上睡觉" * 3
    chunks = chunk_text(text, words=7, overlap=0)
    assert [c.text for c in chunks] == ["猫在沙发上睡觉"] * 3


def test_chunk_parameters_are_validated():
    assert chunk_text("   ") == []
    with pytest.raises(InvalidInput):
        chunk_text("a b c", words=0)
    with pytest.raises(InvalidInput):
        chunk_text("a b c", words=3, overlap=3)


def test_each_call_uses_the_settings_it_is_given(tmp_path: Path):
    """Media settings are passed, not global: a small limit refuses what the defaults read."""
    from xmodal.config import MediaConfig

    doc = tmp_path / "doc.txt"
    doc.write_text("one two three four five six seven", encoding="utf-8")
    with pytest.raises(MediaError, match="doc.txt.*larger than the limit"):
        load_text(doc, settings=MediaConfig(max_text_bytes=10))
    assert load_text(doc).startswith("one two")
    narrow = MediaConfig(chunk_tokens=3, chunk_overlap=1)
    assert [c.text for c in chunk_text(load_text(doc), settings=narrow)] == \
        ["one two three", "three four five", "five six seven"]
    assert len(chunk_text(load_text(doc))) == 1
