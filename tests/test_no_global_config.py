"""The libraries below the faces never read the process-wide ``xmodal.config.CONFIG`` (docs/ARCHITECTURE.md):
their settings are passed in, so two libraries in one process can be tuned differently. Only the faces
(CLI commands, the server, the demo) read it and pass it down."""
from __future__ import annotations

import ast
from pathlib import Path

import xmodal

ROOT = Path(xmodal.__file__).parent
LIBRARIES = ("db", "encoders", "media", "ingest", "apps", "eval", "train", "datasets")
FACES = {"apps/commands.py", "ingest/commands.py"}  # the CLI commands of a library are faces


def _reads_config(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = [n.lineno for n in ast.walk(tree) if (isinstance(n, ast.Name) and n.id == "CONFIG")
             or (isinstance(n, ast.Attribute) and n.attr == "CONFIG")]  # also config.CONFIG
    lines += [n.lineno for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
              and any(a.name == "CONFIG" for a in n.names)]
    return sorted(lines)


def test_libraries_take_their_settings_instead_of_reading_the_global_config():
    offenders = {}
    for package in LIBRARIES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel not in FACES and (lines := _reads_config(path)):
                offenders[rel] = lines
    assert offenders == {}, f"CONFIG read outside the faces (pass settings down instead): {offenders}"
    for face in sorted(FACES):  # the check sees a real read (the CLI faces')
        assert _reads_config(ROOT / face), face
