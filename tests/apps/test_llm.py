"""The OpenAI-compatible chat client against a real loopback HTTP server."""
import pytest

from xmodal.apps.llm import ChatClient, CitedPassage, build_messages, chat_url, parse_citations
from xmodal.errors import InvalidInput, LLMError

from .chat_server import EchoChatServer

PASSAGES = [CitedPassage(1, "train.ogg at 0.0 s", "The next train to Cambridge leaves from platform four."),
            CitedPassage(3, "sign.png", "OPEN 24 HOURS")]


def test_chat_url_accepts_host_v1_base_or_full_path():
    assert chat_url("http://h:8080") == "http://h:8080/v1/chat/completions"
    assert chat_url("http://h:11434/v1/") == "http://h:11434/v1/chat/completions"
    assert chat_url("https://h/x/chat/completions") == "https://h/x/chat/completions"
    with pytest.raises(InvalidInput, match="XMODAL_LLM_URL='ftp://h'"):
        chat_url("ftp://h")


def test_prompt_carries_exactly_the_numbered_passages():
    msgs = build_messages("Which platform?", PASSAGES)
    user = msgs[-1]["content"]
    assert "[1] (train.ogg at 0.0 s) The next train" in user and "[3] (sign.png) OPEN 24 HOURS" in user
    assert "[2]" not in user and "Question: Which platform?" in user
    assert "only the numbered evidence" in msgs[0]["content"]


def test_parse_citations_keeps_known_numbers_in_order():
    assert parse_citations("Yes [3], and [1, 3] but not [7] or [x].", [1, 3]) == [3, 1]


def test_client_round_trip_with_env_configuration(monkeypatch):
    with EchoChatServer() as server:
        monkeypatch.setenv("XMODAL_LLM_URL", server.url)
        monkeypatch.setenv("XMODAL_LLM_MODEL", "tiny-llama")
        monkeypatch.setenv("XMODAL_LLM_API_KEY", "s3cret")
        client = ChatClient.from_env()
        gen = client.answer("Which platform?", PASSAGES)
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer s3cret"
    assert req["body"]["model"] == "tiny-llama"
    assert gen.citations == [1, 3]                      # [99] was not given, so it is dropped
    assert "platform four. [1]" in gen.text


def test_no_env_means_no_client(monkeypatch):
    monkeypatch.delenv("XMODAL_LLM_URL", raising=False)
    assert ChatClient.from_env() is None


def test_http_failure_and_unreachable_endpoint_raise_llm_error():
    with EchoChatServer(status=500) as server:
        with pytest.raises(LLMError, match="HTTP 500: model exploded"):
            ChatClient(server.url).answer("q", PASSAGES)
    with pytest.raises(LLMError, match="unreachable"):
        ChatClient(server.url, timeout_s=2).answer("q", PASSAGES)
    with pytest.raises(InvalidInput, match="at least one evidence"):
        ChatClient("http://127.0.0.1:9").answer("q", [])
