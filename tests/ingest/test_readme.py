"""The README's "Index and search your media" examples, executed as written (Python, then shell)."""
from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import shutil
from pathlib import Path

from tests.ingest.conftest import MODEL, ROOT
from xmodal.config import CONFIG

SECTION = "## Index and search your media"


def _blocks(lang: str) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start:end if end != -1 else len(text)]
    return re.findall(rf"```{lang}\n(.*?)```", section, flags=re.S)


def test_readme_examples_run(tmp_path, monkeypatch, mixed):
    (tmp_path / "samples").symlink_to(ROOT / "samples")
    monkeypatch.chdir(tmp_path)
    # Start from the session's indexed copy of the samples: the example's index() then has nothing
    # to encode (exactly what a user sees on a second run), keeping the test fast.
    shutil.copytree(mixed[3], tmp_path / "media.xmdb")
    [py] = _blocks("python")
    assert MODEL == CONFIG.encoders.default_model  # so the snapshot matches what the example opens
    code = py
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    printed = out.getvalue()
    assert "cat.jpg" in printed.splitlines()[1]  # first search result line
    assert "city-tour.mp4 at" in printed and "heard:" in printed

    # The shell lines run through the `xmodal` entry point in this process (models already
    # loaded); test_cli.py covers the real subprocess, terminal and Ctrl-C behaviour.
    [sh] = _blocks("bash")
    for line in sh.strip().splitlines():
        argv = shlex.split(line, comments=True)
        assert argv[0] == "xmodal"
        code, out = _run_cli(argv[1:])
        assert code == 0, f"{line}\n{out}"
        if "--json" in argv:
            results = json.loads(out)
            assert Path(results[0]["path"]).name == "train-announcement.ogg"
            assert {"path", "kind", "score", "evidence"} <= set(results[0])
    code, out = _run_cli(["info", "--db", "media.xmdb", "--json"])
    assert json.loads(out)["by_kind"]["audio"] == 0  # the last README line removed them


def _run_cli(argv: list[str]) -> tuple[int, str]:
    from xmodal.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(argv)
    return code, out.getvalue()
