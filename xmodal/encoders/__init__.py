"""Encoders: one protocol, many models, resolved by name (see docs/ARCHITECTURE.md).

Importing this package is cheap; models load on first ``get_encoder(name)`` call.
"""
from xmodal.encoders.base import AUDIO, IMAGE, MODALITIES, TEXT, BaseEncoder, Encoder, l2_normalise
from xmodal.encoders.registry import get_encoder, list_encoders, register_encoder

__all__ = ["Encoder", "BaseEncoder", "get_encoder", "list_encoders", "register_encoder", "l2_normalise",
           "TEXT", "IMAGE", "AUDIO", "MODALITIES"]
