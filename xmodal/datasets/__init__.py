"""Paired image-text data: the ``Pair`` record, readers of users' PAIRS files, the offline data sets
(Tux Paint, emoji, Open Clip Art, the GCompris / scikit-image photo validation set) and their splits.

Below both ``xmodal.train`` and ``xmodal.eval`` (train > eval > encoders), so evaluation never imports
the training package: the order open_clip_train / open_clip keeps.
"""
from xmodal.datasets.pairs import PAIR_FIELDS, Pair, items_of, languages_of, read_pairs, write_pairs

__all__ = ["PAIR_FIELDS", "Pair", "items_of", "languages_of", "read_pairs", "write_pairs"]
