"""Lazy imports of heavy optional dependencies with an error that says what to install."""
from __future__ import annotations

import importlib
import shutil
from types import ModuleType

from xmodal.errors import MissingDependency


def require(module: str, extra: str, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependency` naming the pip extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pkg = package or module.split(".")[0]
        raise MissingDependency(
            f"{pkg!r} is required for this feature: pip install 'xmodal[{extra}]' ({exc})"
        ) from exc


def require_tool(tool: str, apt_package: str) -> str:
    """Return the path of a system executable or raise naming the Debian package to install."""
    path = shutil.which(tool)
    if path is None:
        raise MissingDependency(f"the program {tool!r} is not installed: apt-get install {apt_package}")
    return path
