"""Fixtures for the server tests: real databases in temporary folders, real media files, real models.

Models load once per session (the media server fixture is session-scoped); collection / vector
tests use fresh databases and need no model.
"""
from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from xmodal.config import CONFIG, ApiKey, ServerConfig
from xmodal.server import create_app

STAMPS = Path("/usr/share/tuxpaint/stamps")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "server"
# Real pictures with clearly different subjects; the tests name them neutrally so only the
# picture itself (not a file name) can match a query.
PICTURES = {
    "banana": "food/fruit/banana.png",
    "guitar": "hobbies/music/string/guitar_classical.png",
    "pizza": "food/pizza.png",
    "penguin": "animals/birds/penguin.png",
    "saturn": "space/planets/6_saturn.png",
}

SPOKEN = "the guitar is a musical instrument"
KEYS = (
    ApiKey(key="admin-a", scopes=("admin",), namespace="app-a"),
    ApiKey(key="write-a", scopes=("write",), namespace="app-a"),
    ApiKey(key="read-a", scopes=("read",), namespace="app-a"),
    ApiKey(key="admin-b", scopes=("admin",), namespace="app-b"),
    ApiKey(key="reader-b-granted-a", scopes=("read",), namespace="app-b", grants=("app-a",)),
)


def settings_for(tmp: Path, **overrides) -> ServerConfig:
    return dataclasses.replace(CONFIG.server, db=str(tmp / "db.xmdb"), upload_dir=str(tmp / "uploads"), **overrides)


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """A TestClient over a fresh database in this test's temporary folder."""
    clients: list[TestClient] = []

    def make(**overrides) -> TestClient:
        client = TestClient(create_app(settings_for(tmp_path, **overrides)), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def auth(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def find_stamp(rel: str) -> Path:
    p = STAMPS / rel
    if not p.exists():  # stamp layouts differ slightly between tuxpaint versions
        matches = sorted(STAMPS.rglob(Path(rel).name))
        assert matches, f"tuxpaint stamp {rel} not installed (apt-get install tuxpaint-stamps-default)"
        p = matches[0]
    return p


@pytest.fixture(scope="session")
def pictures(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("pictures")
    files = {}
    for i, (subject, rel) in enumerate(sorted(PICTURES.items())):
        dst = out / f"picture{i + 1}.png"
        shutil.copy(find_stamp(rel), dst)
        files[subject] = dst
    return files


@pytest.fixture(scope="session")
def speech_clip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("speech") / "clip.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "120", "-w", str(out), SPOKEN], check=True,
                   capture_output=True)
    return out


def near_duplicate(src: Path, dst: Path) -> Path:
    """The same picture re-encoded as JPEG, shrunk and slightly brightened: a near-duplicate."""
    from PIL import Image, ImageEnhance

    with Image.open(src) as im:
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        bg.alpha_composite(im)
        out = ImageEnhance.Brightness(bg.convert("RGB")).enhance(1.08)
        out = out.resize((max(1, out.width * 3 // 4), max(1, out.height * 3 // 4)))
        out.save(dst, format="JPEG", quality=80)
    return dst


def save_artifact(name: str, data: bytes) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    p = ARTIFACTS / name
    p.write_bytes(data)
    return p
