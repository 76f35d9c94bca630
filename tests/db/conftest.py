"""Fixtures of the database tests: real database folders in tmp dirs."""
from __future__ import annotations

import pytest

from xmodal.db import Database


@pytest.fixture
def db(tmp_path):
    database = Database(tmp_path / "db")
    yield database
    database.close()
