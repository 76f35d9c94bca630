"""The README's database example runs as written."""
from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_vector_database_example_runs(capsys):
    text = README.read_text()
    section = text[text.index("## Vector database"):]
    section = section[: section.index("\n## ", 1)]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, "README.md (Vector database)", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "4 2 ['doc-b']"
