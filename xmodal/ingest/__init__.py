"""The main job: index a folder of mixed media into one collection and search it across modalities.

``xmodal.open(path)`` returns a :class:`xmodal.ingest.library.Library`.
"""
