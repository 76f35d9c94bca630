"""Count imports of xmodal's own modules made inside functions (they hide the real dependency graph).

    python scripts/count_local_imports.py [--max N] [--list]

Exits 1 when the count is above ``--max`` (CI runs it through `make lint`). Laziness belongs at the
heavy third-party boundary (``_optional.require``) and in the CLI dispatcher, which are not counted:
``xmodal/cli.py`` and ``*/commands.py`` (sub-command handlers import their feature on demand so
``xmodal --help`` stays instant).
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "xmodal"
EXEMPT = ("cli.py", "commands.py", "__main__.py")


def local_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if in_function and isinstance(child, ast.ImportFrom) and (child.module or "").startswith("xmodal"):
                found.append((child.lineno, child.module or ""))
            elif in_function and isinstance(child, ast.Import):
                found.extend((child.lineno, a.name) for a in child.names if a.name.startswith("xmodal"))
            visit(child, inner)

    visit(tree, False)
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max", type=int, default=None)
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args(argv)
    total = 0
    for path in sorted(ROOT.rglob("*.py")):
        if path.name in EXEMPT:
            continue
        hits = local_imports(path)
        total += len(hits)
        if args.list:
            for line, module in hits:
                print(f"{path.relative_to(ROOT.parent)}:{line}: {module}")
    print(f"{total} imports of xmodal modules inside functions (bound: {args.max})")
    return 1 if args.max is not None and total > args.max else 0


if __name__ == "__main__":
    sys.exit(main())
