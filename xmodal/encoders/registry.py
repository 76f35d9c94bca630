"""Names -> encoders, resolved lazily (LanceDB embedding-registry style).

Built-in names map to "module:factory" strings so that asking for ``minilm`` never imports torch
vision code, and a model whose module is not installed fails only when it is asked for. Loaded
encoders are cached by name: one model per process, however many libraries use it.
"""
from __future__ import annotations

import importlib
import inspect
import threading
from typing import Any, Callable, Union

from xmodal.config import Config
from xmodal.encoders.base import Encoder
from xmodal.errors import AlreadyExists, InvalidInput, MissingDependency, NotFound

__all__ = ["Factory", "BUILTIN", "BUILTIN_PREFIXES", "register_encoder", "list_encoders", "get_encoder"]

Factory = Union[str, Callable[..., Any]]

BUILTIN: dict[str, str] = {
    "minilm": "xmodal.encoders.text:MiniLMEncoder",
    "e5-multilingual": "xmodal.encoders.text:E5Encoder",
    "efficientnet-lite0": "xmodal.encoders.image:EfficientNetEncoder",
    "label-bridge": "xmodal.encoders.label_bridge:LabelBridgeEncoder",
    "label-bridge-multilingual": "xmodal.encoders.label_bridge:LabelBridgeMultilingualEncoder",
    "photo-bridge": "xmodal.encoders.label_bridge:PhotoBridgeEncoder",
    "photo-bridge-multilingual": "xmodal.encoders.label_bridge:PhotoBridgeMultilingualEncoder",
    "xmodal-lite": "xmodal.encoders.lite:XmodalLite",
    "xmodal-lite-v1": "xmodal.encoders.lite:XmodalLiteV1",
    "xmodal-lite-multilingual": "xmodal.encoders.lite:XmodalLiteMultilingual",
    "xmodal-lite-multilingual-v1": "xmodal.encoders.lite:XmodalLiteMultilingualV1",
}
# "prefix:<argument>" names: the factory receives the argument (a path or hub id).
BUILTIN_PREFIXES: dict[str, str] = {
    "clip": "xmodal.encoders.clip:ClipEncoder",
}

_LOCK = threading.RLock()
_factories: dict[str, Factory] = dict(BUILTIN)
_prefixes: dict[str, Factory] = dict(BUILTIN_PREFIXES)
_cache: dict[tuple, Encoder] = {}  # (name, the settings sections an encoder reads) -> encoder


def register_encoder(name: str, factory: Factory, *, prefix: bool = False, replace: bool = False) -> None:
    """Make ``get_encoder(name)`` build an encoder with ``factory`` (a callable or "module:attr").

    With ``prefix=True``, ``name`` claims every ``name:<argument>`` and the factory is called with
    the argument. Re-registering a name raises AlreadyExists unless ``replace=True``.
    """
    if not name or ":" in name:
        raise InvalidInput(f"encoder name {name!r} must be non-empty and contain no ':'")
    if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
        raise InvalidInput(f"factory for encoder {name!r} must be callable or 'module:attr', got {factory!r}")
    table = _prefixes if prefix else _factories
    with _LOCK:
        if name in table and not replace:
            raise AlreadyExists(f"encoder {name!r} is already registered (pass replace=True to override)")
        table[name] = factory
        for key in [k for k in _cache if k[0] == name or k[0].startswith(name + ":")]:
            del _cache[key]


def list_encoders() -> list[str]:
    """Registered names; prefix families are listed as ``clip:<path or hub id>``."""
    with _LOCK:
        return sorted(_factories) + sorted(f"{p}:<path or hub id>" for p in _prefixes)


def _resolve(factory: Factory, name: str) -> Callable[..., Any]:
    if callable(factory):
        return factory
    module_name, _, attr = factory.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name or module_name.startswith((exc.name or "") + "."):
            raise NotFound(f"encoder {name!r} is declared but its module {module_name} is not available "
                           "in this installation") from exc
        raise MissingDependency(f"encoder {name!r} needs the package {exc.name!r}: "
                                "pip install 'xmodal[models]'") from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise NotFound(f"encoder {name!r}: {module_name} has no {attr!r}") from exc


def get_encoder(name: str, settings: Config | None = None, **kwargs: Any) -> Encoder:
    """The encoder called ``name``, loaded on first use and shared afterwards.

    ``settings``: the encoder's own (its ``encoders`` section, and the ``media`` / ``detect``
    sections for how it reads files); default ``Config()``, the environment not applied (the CLI
    and the server pass ``Config.from_env()``). One encoder is shared per name and settings; a
    factory is handed ``settings=`` when they are given and it takes them (a registered factory
    without the parameter is built as before). ``kwargs`` go to the factory and bypass the cache
    (a differently configured instance).
    """
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"encoder name must be a non-empty string, got {name!r}")
    if settings is not None and not isinstance(settings, Config):
        raise InvalidInput(f"encoder {name!r}: settings must be an xmodal.config.Config, got {type(settings).__name__}")
    config = settings or Config()
    key = (name, config.encoders, config.media, config.detect)
    with _LOCK:
        cached = not kwargs  # nothing but the settings: shared
        if cached and key in _cache:
            return _cache[key]
        if name in _factories:
            factory = _resolve(_factories[name], name)
            encoder = factory(**kwargs, **_settings_for(factory, settings))
        else:
            prefix, sep, arg = name.partition(":")
            if not sep or prefix not in _prefixes:
                raise NotFound(f"unknown encoder {name!r}; available: {', '.join(list_encoders())}")
            if not arg:
                raise InvalidInput(f"encoder {name!r} needs an argument after '{prefix}:'")
            factory = _resolve(_prefixes[prefix], name)
            encoder = factory(arg, **kwargs, **_settings_for(factory, settings))
        if cached:
            _cache[key] = encoder
        return encoder


def _settings_for(factory: Callable[..., Any], settings: Config | None) -> dict[str, Any]:
    """``{"settings": settings}`` when there are settings and ``factory`` accepts them, else ``{}``."""
    if settings is None:
        return {}
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: assume the old form
        return {}
    takes = any(p.name == "settings" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    return {"settings": settings} if takes else {}
