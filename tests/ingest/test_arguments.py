"""The one parser of ``where`` filters (and of ``kind`` lists) that the CLI, the server and the API share."""
import pytest

from xmodal.errors import InvalidInput
from xmodal.ingest.arguments import parse_where
from xmodal.ingest.layout import parse_kinds


def test_where_parses_a_json_object_and_names_the_argument_in_errors():
    assert parse_where(None) is None and parse_where("") is None
    assert parse_where('{"size": {"$lt": 10}}') == {"size": {"$lt": 10}}
    with pytest.raises(InvalidInput, match="--where is not valid JSON"):
        parse_where("{not json")
    with pytest.raises(InvalidInput, match="where must be a JSON object"):
        parse_where("[1, 2]", "where")


def test_kinds_accept_commas_lists_and_repeats():
    assert parse_kinds(None) is None and parse_kinds("") is None and parse_kinds([]) is None
    assert parse_kinds("image, text") == ["image", "text"]
    assert parse_kinds(["image,video", "audio"]) == ["image", "video", "audio"]
    with pytest.raises(InvalidInput, match="kind 'photo' is not one of image, text, audio, video"):
        parse_kinds(["image", "photo"])
