"""`make demo` end to end: index the bundled samples, every cross-modal query right first."""
from __future__ import annotations

from xmodal import demo


def test_demo_answers_every_query_first(tmp_path):
    lines: list[str] = []
    code = demo.run(tmp_path / "demo.xmdb", model=None, say=lines.append)
    text = "\n".join(lines)
    assert code == 0, text
    total = len(demo.queries())
    assert f"{total}/{total} queries answered correctly" in text
    assert text.count("PASS") == total and "FAIL" not in text
