"""Relevance a person can trust, on a real library built in a temporary folder with the real model:
Tux Paint pictures beside unrelated documents, a manual with a rare option, a Chinese query."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import xmodal
from tests.apps.conftest import stamp_on_white
from tests.ingest.conftest import MODEL
from tests.ingest.test_cli import ENV

STAMPS = ["animals/marsupials/kangaroo.png", "animals/mammals/elephant.png", "animals/mammals/giraffe.png",
          "animals/mammals/cats/tiger.png", "vehicles/auto/sedan.png", "food/fruit/banana.png",
          "animals/mammals/dogs/dog.png", "animals/mammals/bears/bear.png"]
BUDGET = ("Quarterly budget: rent 1200, salaries 5400, office supplies 300. Total expenses rose by four percent "
          "compared with last year, mostly because of the new printer lease.")
MINUTES = ("Minutes of the meeting: the committee agreed to move the next session to Thursday and to review the "
           "travel policy before the end of the month.")
# A manual whose rare option sits deep inside a long passage, beside a note that is about the same
# thing in other words (what a vector neighbour looks like).
MANUAL = (" ".join(f"Section {i}: the archive tool reads and writes archives, lists their members and compares "
                   "them with the file system." for i in range(1, 6))
          + " The option --glob-deleteall removes every member whose name matches the pattern. "
          + " ".join(f"Note {i}: members are stored in the order given on the command line." for i in range(1, 5)))
NOTE = ("To delete all files matching a glob pattern, list them with the shell's wildcard and remove them; "
        "deleting everything that matches a pattern is quick but cannot be undone.")


@pytest.fixture(scope="module")
def mixed_small(tmp_path_factory):
    base = tmp_path_factory.mktemp("relevance")
    media = base / "media"
    media.mkdir()
    for rel in STAMPS:
        stamp_on_white(rel, media / Path(rel).name)
    (media / "budget.txt").write_text(BUDGET, encoding="utf-8")
    (media / "meeting.txt").write_text(MINUTES, encoding="utf-8")
    (media / "archive-manual.txt").write_text(MANUAL, encoding="utf-8")
    (media / "deleting-files.txt").write_text(NOTE, encoding="utf-8")
    lib = xmodal.open(base / "lib.xmdb", model=MODEL)
    report = lib.index([media], progress=False, speech=False)
    assert not report.failed and report.encoded == len(STAMPS) + 4
    yield lib, base
    lib.close()


def _names(results) -> list[str]:
    return [Path(r.path).name for r in results]


def test_a_described_picture_is_not_outranked_by_unrelated_documents(mixed_small):
    lib, _ = mixed_small
    results = lib.search(text="a red kangaroo", k=5)
    assert _names(results)[0] == "kangaroo.png"
    assert all(r.kind == "image" for r in results[:3]), _names(results)
    rrf = lib.search(text="a red kangaroo", k=5, fusion="rrf")  # what ranks alone did
    assert any(r.kind == "text" for r in rrf[:3])


def test_results_carry_relevance_sorted_with_the_signals_that_matched(mixed_small):
    lib, _ = mixed_small
    results = lib.search(text="a red kangaroo", k=8)
    rel = [r.relevance for r in results]
    assert rel == sorted(rel, reverse=True) and all(0.0 <= x <= 1.0 for x in rel)
    top = results[0]
    assert "visual" in top.signals and all(0.0 <= v <= 1.0 for v in top.signals.values())
    assert top.relevance >= max(top.signals.values())  # the OR never loses a signal's evidence
    assert lib.search(text="a red kangaroo", k=8, min_relevance=0.999) == []
    assert all(r.relevance >= 0.2 for r in lib.search(text="a red kangaroo", k=8, min_relevance=0.2))


def test_a_rare_exact_term_puts_its_document_first_with_the_passage_that_holds_it(mixed_small):
    lib, _ = mixed_small
    results = lib.search(text="glob-deleteall", k=3)
    assert _names(results)[0] == "archive-manual.txt"
    assert "keyword" in results[0].signals
    assert "--glob-deleteall" in results[0].evidence["text"]  # past the stored 240-character excerpt
    assert results[0].relevance > results[1].relevance


def test_stop_words_do_not_make_a_document_match(mixed_small):
    lib, _ = mixed_small
    results = lib.search(text="what is the of and to", k=5, kind="text")
    assert all("keyword" not in r.signals for r in results)


def test_similar_defaults_to_the_items_own_kind(mixed_small):
    lib, base = mixed_small
    kangaroo = base / "media" / "kangaroo.png"
    assert {r.kind for r in lib.similar(kangaroo, k=6)} == {"image"}
    assert "text" in {r.kind for r in lib.similar(kangaroo, k=11, kind="all")}


def test_similar_and_rrf_results_say_which_signals_matched(mixed_small):
    """Results fused by rank (``similar``, ``fusion="rrf"``) name their evidence as calibrated ones do:
    a picture like a picture matched by what it looks like; a keyword hit says so."""
    lib, base = mixed_small
    alike = lib.similar(base / "media" / "kangaroo.png", k=3)
    assert alike and all("visual" in r.signals and 0.0 <= r.signals["visual"] <= 1.0 for r in alike)
    ranked = lib.search(text="a kangaroo", k=5, fusion="rrf")
    top = next(r for r in ranked if r.path.endswith("kangaroo.png"))
    assert {"visual", "keyword"} <= set(top.signals), top.signals
    assert all(0.0 <= v <= 1.0 for r in ranked for v in r.signals.values())


def test_a_chinese_query_on_an_english_library_is_flagged(mixed_small):
    lib, _ = mixed_small
    assert lib.search(text="一只红色的袋鼠", k=3).warning.count("xmodal-lite-multilingual") == 1
    assert lib.search(text="a red kangaroo", k=3).warning is None


def test_cli_shows_relevance_cuts_weak_matches_and_warns_on_stderr(mixed_small):
    lib, base = mixed_small
    db = str(base / "lib.xmdb")

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "xmodal.cli", *args, "--db", db], capture_output=True,
                              text=True, env=ENV, timeout=300)

    out = cli("search", "a red kangaroo", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert Path(rows[0]["path"]).name == "kangaroo.png" and "relevance" in rows[0] and "visual" in rows[0]["signals"]
    assert all(r["relevance"] >= 0.1 for r in rows)  # the default cut
    none = cli("search", "a red kangaroo", "--min-relevance", "0.999")
    assert none.returncode == 0 and "no good match" in none.stdout
    zh = cli("search", "一只红色的袋鼠", "--json")
    assert zh.returncode == 0 and "xmodal-lite-multilingual" in zh.stderr
    json.loads(zh.stdout)  # the warning never pollutes the JSON on stdout


@pytest.mark.parametrize("query", ["an elephant", "a giraffe", "a tiger", "a banana", "a brown bear"])
def test_a_query_for_one_kind_gets_no_unrelated_kind_in_its_top_three(mixed_small, query):
    lib, _ = mixed_small
    results = lib.search(text=query, k=5)
    assert all(r.kind == "image" for r in results[:3]), [(r.kind, _names([r])[0], r.relevance) for r in results]


def test_a_document_query_gets_documents_first(mixed_small):
    lib, _ = mixed_small
    results = lib.search(text="quarterly budget and office expenses", k=5, min_relevance=None)  # the default cut
    assert _names(results)[0] == "budget.txt"
    assert all(r.kind == "text" for r in results), [(r.kind, _names([r])[0], r.relevance) for r in results]


def test_a_picture_query_is_calibrated_and_finds_its_twin_before_any_document(mixed_small, tmp_path):
    from PIL import Image

    from xmodal.ingest.calibrate import query_view

    lib, base = mixed_small
    query = tmp_path / "kangaroo-view.png"
    query_view(Image.open(base / "media" / "kangaroo.png").convert("RGB")).save(query)
    results = lib.search(image=query, k=6)
    assert results.calibrated and _names(results)[0] == "kangaroo.png"
    assert all(r.kind == "image" for r in results[:3]), [(r.kind, _names([r])[0], r.relevance) for r in results]
    assert results[0].relevance > 0.5 and "visual" in results[0].signals
    assert lib.search(image=query, k=6, fusion="rrf").calibrated is False


def test_the_librarys_own_ranking_settings_are_the_ones_a_search_uses(tmp_path):
    """Settings are passed in, not read from the global config inside the query: a library opened
    with a stricter default cut, or with rank fusion, searches that way; another one in the same
    process keeps the defaults."""
    from dataclasses import replace

    from xmodal.config import Config

    media = tmp_path / "media"
    media.mkdir()
    for rel in STAMPS[:3]:
        stamp_on_white(rel, media / Path(rel).name)
    base = Config()
    strict = replace(base, ingest=replace(base.ingest, min_relevance=0.999))
    by_rank = replace(base, ingest=replace(base.ingest, fusion="rrf"))
    lib = xmodal.open(tmp_path / "lib.xmdb", settings=base, model=MODEL)
    lib.index([media], progress=False, speech=False, ocr=False)
    plain = lib.search(text="a red kangaroo", k=3, min_relevance=None)
    lib.close()
    assert plain.calibrated and _names(plain)[0] == "kangaroo.png"
    for settings, check in ((strict, lambda r: r.calibrated and len(r) == 0),
                            (by_rank, lambda r: not r.calibrated and _names(r)[0] == "kangaroo.png")):
        lib = xmodal.open(tmp_path / "lib.xmdb", settings=settings, model=MODEL)
        try:
            assert check(lib.search(text="a red kangaroo", k=3, min_relevance=None))
        finally:
            lib.close()
