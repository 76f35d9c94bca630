"""The embedded vector database (and the door to the Milvus backend): see docs/ARCHITECTURE.md."""
from xmodal.db.api import BaseCollection, BaseDatabase, Hit, Record, VectorField
from xmodal.db.collection import Collection
from xmodal.db.database import Database, connect

__all__ = ["Database", "Collection", "VectorField", "Hit", "Record", "connect", "BaseDatabase", "BaseCollection"]
