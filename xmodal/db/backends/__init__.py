"""Vector database backends other than the embedded engine, behind the same API (:mod:`xmodal.db.api`).

``xmodal.db.connect(uri)`` picks one by the URI's scheme (:mod:`xmodal.db.uri`); import a backend
module directly only for what is specific to it (e.g. ``IndexMappingWarning``).
"""
