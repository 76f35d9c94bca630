"""Every code block of the README, executed as written (one parametrised test).

Each fenced block is found by its section and its position in that section and run by the runner
registered for it below; a block without a runner fails `test_every_readme_block_has_a_runner`, so
a new example cannot land untested. Shell lines run through the `xmodal` entry point in this process
(models already loaded; test_cli.py covers real subprocesses); the only edits a runner makes are
the ones a reader makes: their own file names, a free port, a local stand-in for a remote host.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

import xmodal
from tests.apps.chat_server import EchoChatServer
from tests.ingest.conftest import MODEL, ROOT
from xmodal.apps.qa import ask
from xmodal.cli import main as cli_main
from xmodal.config import CONFIG
from xmodal.db import connect

README = ROOT / "README.md"
SAMPLES = ROOT / "samples"
LITE_URI = "milvus-lite:./media.db"
TUXPAINT_STAMPS = Path("/usr/share/tuxpaint/stamps")  # Debian tuxpaint-stamps-default (setup)
TUXPAINT_ANIMALS = TUXPAINT_STAMPS / "animals"


@dataclass(frozen=True)
class Block:
    section: str
    index: int  # position among the section's blocks
    lang: str
    code: str

    @property
    def key(self) -> tuple[str, int]:
        return (self.section, self.index)


def readme_blocks() -> list[Block]:
    blocks: list[Block] = []
    section, counts = "", {}
    lines = README.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = line[3:].strip()
        elif line.startswith("```"):
            lang = line[3:].strip()
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            n = counts.get(section, 0)
            counts[section] = n + 1
            blocks.append(Block(section, n, lang, "\n".join(lines[i + 1:end]) + "\n"))
            i = end
        i += 1
    return blocks


# --- helpers -------------------------------------------------------------------------------------

def _cli(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    out = io.StringIO()
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = cli_main(argv)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return code, out.getvalue()


def _shell_lines(code: str) -> list[tuple[dict[str, str], list[str]]]:
    """(environment prefix, argv) per command line; comment-only and output lines skipped."""
    commands = []
    for line in code.strip().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        argv = shlex.split(line, comments=True)
        env = {}
        while argv and re.fullmatch(r"[A-Z_]+=.*", argv[0]):
            k, _, v = argv.pop(0).partition("=")
            env[k] = v
        commands.append((env, argv))
    return commands


def _exec_python(code: str, name: str, env: dict | None = None) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"README.md ({name})", "exec"), {"__name__": "readme", **(env or {})})
    return out.getvalue()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _library_copy(mixed, dest: Path) -> Path:
    """The session's indexed samples (what `make demo` / the first example builds) as media.xmdb."""
    target = dest / "media.xmdb"
    shutil.copytree(mixed[3], target)
    return target


@pytest.fixture()
def scratch(tmp_path, monkeypatch):
    (tmp_path / "samples").symlink_to(SAMPLES)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- runners -------------------------------------------------------------------------------------

def run_quick_start(block: Block, scratch: Path, request) -> None:
    # `make demo` and `make test` are what CI runs (`make test`) and tests/ingest/test_demo.py runs
    # the demo's module; here: each line names a real make target and nothing else.
    for env, argv in _shell_lines(block.code):
        assert argv[0] == "make" and len(argv) == 2 and not env
        dry = subprocess.run(["make", "-n", argv[1]], cwd=ROOT, capture_output=True, text=True)
        assert dry.returncode == 0, dry.stderr


def run_index_python(block: Block, scratch: Path, request) -> None:
    # Start from the session's indexed copy: the example's index() then has nothing to encode
    # (what a user sees on a second run), keeping the test fast.
    _library_copy(request.getfixturevalue("mixed"), scratch)
    assert MODEL == CONFIG.encoders.default_model  # so the snapshot matches what the example opens
    printed = _exec_python(block.code, block.section)
    assert "cat.jpg" in printed.splitlines()[1]  # first search result line
    assert "city-tour.mp4 at" in printed and "heard:" in printed


def run_index_shell(block: Block, scratch: Path, request) -> None:
    _library_copy(request.getfixturevalue("mixed"), scratch)
    # The reader's own bark: Tux Paint's dog (a folder the sound head never trained on), as WAV.
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(TUXPAINT_STAMPS / "animals/mammals/dogs/dog.ogg"),
                    str(scratch / "bark.wav")], check=True)
    for env, argv in _shell_lines(block.code):
        assert argv[0] == "xmodal" and not env
        code, out = _cli(argv[1:])
        assert code == 0, f"{argv}\n{out}"
        if "--json" in argv:
            results = json.loads(out)
            assert Path(results[0]["path"]).name == "train-announcement.ogg"
            assert {"path", "kind", "score", "evidence"} <= set(results[0])
    code, out = _cli(["info", "--db", "media.xmdb", "--json"])
    assert json.loads(out)["by_kind"]["audio"] == 0  # the last README line removed them


def run_vector_database(block: Block, scratch: Path, request) -> None:
    printed = _exec_python(block.code, block.section).splitlines()
    assert printed[-1] == "4 2 ['doc-b']"


def run_milvus_shell(block: Block, scratch: Path, request) -> None:
    """As written (Milvus Lite), then with ``--db milvus://HOST:PORT/DB`` on the session's Milvus
    standalone server, as the README says."""
    request.getfixturevalue("monkeypatch").setenv("XMODAL_CACHE", str(scratch / "cache"))
    assert LITE_URI in block.code
    for uri in (LITE_URI, request.getfixturevalue("milvus_uri")):
        shutil.rmtree(scratch / "media.xmdb", ignore_errors=True)
        shutil.rmtree(scratch / "export", ignore_errors=True)
        outputs = []
        for env, argv in _shell_lines(block.code.replace(LITE_URI, uri)):
            assert argv[0] == "xmodal" and not env
            code, out = _cli(argv[1:] + (["--json"] if argv[1] == "search" else []))
            assert code == 0, f"{argv}\n{out}"
            outputs.append(out)
        assert Path(json.loads(outputs[1])[0]["path"]).name == "bicycle-repair.html"
        milvus, emb = connect(uri), connect("media.xmdb")
        try:
            a, b = milvus.collection("media"), emb.collection("media")
            assert a.count() == b.count() >= 5 and b.metadata["model"] == "minilm"
        finally:
            milvus.close()
            emb.close()


def run_milvus_python(block: Block, scratch: Path, request) -> None:
    # The reader's Milvus server is the session's standalone server; their Ray cluster a local Ray.
    server = request.getfixturevalue("milvus_server")
    code = block.code.replace("milvus://milvus.internal:19530/media", f"milvus://{server}/readme")
    code = code.replace('address="auto"', 'address="local", workers=1').replace("/data/photos", "samples/media/images")
    assert code.count(server) == 1 and "local" in code
    _exec_python(code + "\nassert lib.info()['by_kind']['image'] >= 5\nlib.close()\n", block.section)


def run_qa_shell(block: Block, scratch: Path, request) -> None:
    _library_copy(request.getfixturevalue("mixed"), scratch)
    with EchoChatServer() as llm:
        for env, argv in _shell_lines(block.code):
            assert argv[0] == "xmodal", argv
            if "XMODAL_LLM_URL" in env:  # the reader's own endpoint: a loopback stand-in
                env = {**env, "XMODAL_LLM_URL": llm.url}
            code, out = _cli(argv[1:], env)
            assert code == 0, f"{argv}\n{out}"
            if argv[1] == "ask" and "Cambridge" in argv[2]:
                assert "platform 4" in out
            if argv[1] == "ask" and "--json" in argv:
                assert {"answer", "confidence", "evidence"} <= set(json.loads(out))
            if argv[1] == "recommend" and "ana" in argv:
                shown = re.findall(r"^\s*\d+\.\s+\S+\s+\S+\s+(\S+)", out, flags=re.M)
                assert shown and not {Path(p).name for p in shown} & {"cat.jpg", "elephant.jpg"}  # seen: excluded
        assert len(llm.requests) == 1  # the XMODAL_LLM_URL line asked the endpoint once


def run_qa_python(block: Block, scratch: Path, request) -> None:
    _library_copy(request.getfixturevalue("mixed"), scratch)
    photos = scratch / "photos"
    photos.mkdir()
    shutil.copy(SAMPLES / "media" / "images" / "cat.jpg", photos / "cat.jpg")
    lib = xmodal.open("media.xmdb")
    try:
        lib.index([photos], progress=False)
        _exec_python(block.code, block.section, {"lib": lib})
        found = _exec_python("print(ask(lib, 'When is the bakery open?').answer)",
                             block.section, {"lib": lib, "ask": ask})
        assert found.strip()
    finally:
        lib.close()


def run_encoders(block: Block, scratch: Path, request) -> None:
    shutil.copy(SAMPLES / "media" / "images" / "cat.jpg", scratch / "cat.jpg")
    shutil.copy(SAMPLES / "queries" / "say-guitar.wav", scratch / "question.wav")
    code = block.code + "\nassert (txt @ img.T)[0, 0] > 0.2 and img.shape == (1, enc.dim)\n"
    _exec_python(code, block.section)


def run_media(block: Block, scratch: Path, request) -> None:
    images, video = SAMPLES / "media" / "images", SAMPLES / "media" / "video" / "city-tour.mp4"
    for name, src in {"download.bin": images / "cat.jpg", "IMG_0001.jpg": images / "cat.jpg",
                      "page.html": SAMPLES / "media" / "documents" / "bicycle-repair.html",
                      "scan.png": images / "bakery-sign.png", "talk.mp4": video, "lecture.mp4": video}.items():
        shutil.copy(src, scratch / name)
    lines = [ln.split("#")[0].rstrip() for ln in block.code.splitlines()]
    # Each expression line's value is kept, so the test checks what the comments promise.
    code = "\n".join(f"_{i} = {ln}" if ln and not ln.startswith(("from ", "import ")) else ln
                     for i, ln in enumerate(lines)) + "\n"
    scope: dict = {"__name__": "readme"}
    exec(compile(code, "README.md (media)", "exec"), scope)
    values = [v for k, v in scope.items() if re.fullmatch(r"_\d+", k)]
    assert values[0] == "image"  # detect_kind reads the bytes, not the name
    assert values[4].strip() and values[5] and values[6][0].strip()  # OCR read the sign, alone and batched


def run_server_shell(block: Block, scratch: Path, request) -> None:
    _library_copy(request.getfixturevalue("mixed"), scratch)
    (scratch / "srv-photos").mkdir()
    secret_hash = None
    for env, argv in _shell_lines(block.code):
        assert argv[0] == "xmodal" and not env
        if argv[1] == "hash-key":
            code, out = _cli(argv[1:])
            assert code == 0 and out.strip().startswith("sha256:")
            secret_hash = out.strip()
    assert secret_hash
    (scratch / "keys.json").write_text(json.dumps([{"key": secret_hash, "scopes": ["read"]}]))
    for env, argv in _shell_lines(block.code):
        if argv[1] != "serve":
            continue
        argv = [a.replace("/srv/photos", str(scratch / "srv-photos")) for a in argv]
        _serve_and_check(argv[1:] + ["--port", str(_free_port())], keyed="--keys" in argv)


def _serve_and_check(args: list[str], keyed: bool) -> None:
    port = args[args.index("--port") + 1]
    proc = subprocess.Popen([sys.executable, "-m", "xmodal.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        for line in proc.stdout:  # uvicorn says so once the socket listens
            if "Uvicorn running on" in line:
                break
        else:
            pytest.fail(f"xmodal {' '.join(args)} exited without serving (code {proc.wait()})")
        url = f"http://127.0.0.1:{port}/v1/media/search?q=cat"
        headers = {"Authorization": "Bearer my-secret"} if keyed else {}
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=120) as r:
            assert r.status == 200 and json.loads(r.read())
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def run_server_python(block: Block, scratch: Path, request) -> None:
    _exec_python(block.code + "\nassert callable(create_app) and callable(serve_in_thread)\n", block.section)


def run_eval_shell(block: Block, scratch: Path, request) -> None:
    for env, argv in _shell_lines(block.code):
        assert not env
        if argv[0] == "make":  # rebuilding the shipped model is `make train`'s job (hours): exists
            assert subprocess.run(["make", "-n", argv[1]], cwd=ROOT, capture_output=True).returncode == 0
            continue
        code, out = _cli(argv[1:])
        assert code == 0, f"{argv}\n{out}"
        results = json.loads((scratch / "runs" / "eval" / "results.json").read_text())
        assert results and (scratch / "runs" / "eval" / "plot.png").is_file()


def run_pairs_shell(block: Block, scratch: Path, request) -> None:
    lines = block.code.strip().splitlines()
    assert lines[0] == "cat pairs.jsonl"
    content = [ln for ln in lines[1:] if ln.startswith("{")]
    (scratch / "pairs.jsonl").write_text("\n".join(content) + "\n")
    (scratch / "parts").mkdir()
    # The reader's own parts photos: the README's two lines plus Tux Paint's animal stamps, one group
    # each, enough to hold whole groups out for validation.
    rows = [json.loads(c) for c in content]
    stamps = sorted(TUXPAINT_ANIMALS.rglob("*.png"))[:40]
    for i, src in enumerate([SAMPLES / "media" / "images" / "red-apple.png", SAMPLES / "media" / "images" / "violin.png",
                             *stamps]):
        name = f"parts/{i + 1:04d}.jpg"
        Image.open(src).convert("RGB").save(scratch / name)
        if i >= len(rows):
            rows.append({"image": name, "text": src.stem.replace("_", " "), "group": src.stem})
    (scratch / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (scratch / "test_pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[-8:]))
    for env, argv in _shell_lines("\n".join(ln for ln in lines[1:] if not ln.startswith("{"))):
        assert argv[0] == "xmodal" and not env
        extra = ["--epochs", "2"] if argv[1] == "train" else []
        code, out = _cli(argv[1:] + extra)
        assert code == 0, f"{argv}\n{out}"
    assert (scratch / "runs" / "parts" / "model.npz").is_file()
    TRAINED["parts"] = shutil.copy(scratch / "runs" / "parts" / "model.npz", scratch / "parts-model.npz")


def run_register_parts(block: Block, scratch: Path, request) -> None:
    # Follows the PAIRS example: its run folder is the reader's trained model (trained by that
    # block's test when it ran first in this session, else here).
    if "parts" in TRAINED:
        (scratch / "runs" / "parts").mkdir(parents=True)
        shutil.copy(TRAINED["parts"], scratch / "runs" / "parts" / "model.npz")
    else:
        run_pairs_shell(next(b for b in readme_blocks() if b.key == ("Cross-modal model", 1)), scratch, request)
    code = block.code + ("\nfrom xmodal.encoders import get_encoder\n"
                         "enc = get_encoder('parts')\nassert enc.encode_text(['brass hinge']).shape == (1, enc.dim)\n")
    _exec_python(code, block.section)


TRAINED: dict[str, Path] = {}  # model files one block writes and a later block reads
RUNNERS: dict[tuple[str, int], Callable] = {
    ("Quick start", 0): run_quick_start,
    ("Index and search your media", 0): run_index_python,
    ("Index and search your media", 1): run_index_shell,
    ("Vector database", 0): run_vector_database,
    ("Milvus and scale-out", 0): run_milvus_shell,
    ("Milvus and scale-out", 1): run_milvus_python,
    ("Question answering and recommendation", 0): run_qa_shell,
    ("Question answering and recommendation", 1): run_qa_python,
    ("Encoders and media", 0): run_encoders,
    ("Encoders and media", 1): run_media,
    ("Server and web page", 0): run_server_shell,
    ("Server and web page", 1): run_server_python,
    ("Cross-modal model", 0): run_eval_shell,
    ("Cross-modal model", 1): run_pairs_shell,
    ("Cross-modal model", 2): run_register_parts,
}


def test_every_readme_block_has_a_runner():
    missing = [b.key for b in readme_blocks() if b.key not in RUNNERS]
    assert not missing, f"README blocks that no test runs: {missing}"


# Blocks that run a real evaluation: minutes on an idle core, past the suite's 600 s hang guard when
# the machine is shared (a fresh-clone run beside four other jobs took > 600 s); a hang still ends.
HEAVY_SECTIONS = {"Cross-modal model": 1800}


def _params(blocks: list[Block]) -> list:
    return [pytest.param(b, marks=pytest.mark.timeout(HEAVY_SECTIONS[b.section]), id=f"{b.section}-{b.index}")
            if b.section in HEAVY_SECTIONS else pytest.param(b, id=f"{b.section}-{b.index}") for b in blocks]


@pytest.mark.parametrize("block", _params(readme_blocks()))
def test_readme_block_runs(block: Block, scratch, request):
    if block.key not in RUNNERS:
        pytest.fail(f"no runner for README block {block.key}")
    RUNNERS[block.key](block, scratch, request)

