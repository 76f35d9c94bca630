"""The README's "Milvus and scale-out" shell example, run as written in a scratch folder, and again
with ``--db milvus://HOST:PORT/DB`` on the session's Milvus standalone server, as the README says."""
from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from pathlib import Path

import pytest

from xmodal.cli import main as cli
from xmodal.db import connect

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Milvus and scale-out"
LITE_URI = "milvus-lite:./media.db"


def _first_bash_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return re.findall(r"```bash\n(.*?)```", text[start:end if end != -1 else len(text)], flags=re.S)[0]


@pytest.mark.parametrize("backend", ["milvus-lite", "milvus"])
def test_readme_milvus_example_runs(tmp_path, monkeypatch, request, backend):
    (tmp_path / "samples").symlink_to(ROOT / "samples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XMODAL_CACHE", str(tmp_path / "cache"))
    uri = LITE_URI if backend == "milvus-lite" else request.getfixturevalue("milvus_uri")
    block = _first_bash_block()
    assert LITE_URI in block
    outputs = []
    for line in block.replace(LITE_URI, uri).strip().splitlines():
        argv = shlex.split(line, comments=True)
        assert argv[0] == "xmodal"
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli(argv[1:] + (["--json"] if argv[1] == "search" else []))
        assert code == 0, line
        outputs.append(out.getvalue())
    assert Path(json.loads(outputs[1])[0]["path"]).name == "bicycle-repair.html"
    lite, emb = connect(uri), connect("media.xmdb")
    try:
        a, b = lite.collection("media"), emb.collection("media")
        assert a.count() == b.count() >= 5 and b.metadata["model"] == "minilm"
    finally:
        lite.close()
        emb.close()
