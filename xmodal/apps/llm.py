"""Generated answers from an OpenAI-compatible chat endpoint, grounded only in cited evidence.

Public API (used by :mod:`xmodal.apps.qa` and the server)::

    client = ChatClient.from_env()          # None unless XMODAL_LLM_URL is set
    gen = client.answer(question, passages) # passages: list[CitedPassage], numbered from 1
    gen.text, gen.citations                 # citations: the evidence numbers the model cited

Environment: ``XMODAL_LLM_URL`` (e.g. ``http://127.0.0.1:8080`` for llama.cpp, ``http://127.0.0.1:11434/v1``
for Ollama, or a full ``.../chat/completions`` URL), ``XMODAL_LLM_MODEL`` (model name sent in the request),
``XMODAL_LLM_API_KEY`` (sent as a bearer token, for hosted endpoints).

Why only the cited evidence: the model must not be able to answer from anything the reader cannot
check, so the prompt carries exactly the numbered passages that the citations point to, and the
numbers the model cites are mapped back to those passages (unknown numbers are dropped).
Standard-library ``urllib`` keeps this dependency-free.
"""
from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Sequence

from xmodal.config import AppsConfig
from xmodal.errors import InvalidInput, LLMError

__all__ = ["ENV_URL", "ENV_MODEL", "ENV_KEY", "SYSTEM_PROMPT", "CitedPassage", "GeneratedAnswer", "chat_url",
           "build_messages", "parse_citations", "ChatClient"]

ENV_URL = "XMODAL_LLM_URL"
ENV_MODEL = "XMODAL_LLM_MODEL"
ENV_KEY = "XMODAL_LLM_API_KEY"

SYSTEM_PROMPT = (
    "You answer questions using only the numbered evidence you are given. "
    "Cite every claim with the number of its evidence in square brackets, like [1] or [2]. "
    "If the evidence does not contain the answer, reply exactly: not found. "
    "Do not use any other knowledge."
)

_CITATION = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")


@dataclass(frozen=True)
class CitedPassage:
    """One numbered piece of evidence as the model sees it."""

    number: int
    source: str          # e.g. "talk.wav at 12.4 s", "poster.png (text in the image)"
    text: str


@dataclass
class GeneratedAnswer:
    text: str
    citations: list[int] = field(default_factory=list)
    model: str = ""


def chat_url(base: str) -> str:
    """The chat-completions URL for what users typically paste: a host, a ``/v1`` base or the full path."""
    url = base.strip().rstrip("/")
    if not re.match(r"^https?://", url):
        raise InvalidInput(f"{ENV_URL}={base!r} is not an http(s) URL")
    if url.endswith("/chat/completions"):
        return url
    if url.endswith("/v1"):
        return url + "/chat/completions"
    return url + "/v1/chat/completions"


def build_messages(question: str, passages: Sequence[CitedPassage]) -> list[dict]:
    """System + user messages carrying the question and exactly ``passages``, numbered."""
    lines = [f"[{p.number}] ({p.source}) {p.text}" for p in passages]
    user = "Evidence:\n" + "\n".join(lines) + f"\n\nQuestion: {question}\nAnswer with citations:"
    return [dict(role="system", content=SYSTEM_PROMPT), dict(role="user", content=user)]  # chat roles


def parse_citations(text: str, valid: Sequence[int]) -> list[int]:
    """Evidence numbers cited in ``text``, in first-cited order, keeping only those that were given."""
    allowed = set(valid)
    out: list[int] = []
    for m in _CITATION.finditer(text):
        for num in re.split(r"\s*[,;]\s*", m.group(1)):
            n = int(num)
            if n in allowed and n not in out:
                out.append(n)
    return out


class ChatClient:
    """A minimal OpenAI chat-completions client (llama.cpp server, Ollama, vLLM, hosted APIs).

    ``settings``: the default model name, timeout, temperature and token limit (``llm_*``), default
    ``AppsConfig()``; ``model`` / ``timeout_s`` given here win over them."""

    def __init__(self, url: str, model: str | None = None, api_key: str | None = None,
                 timeout_s: float | None = None, settings: AppsConfig | None = None) -> None:
        self.settings = settings or AppsConfig()
        self.url = chat_url(url)
        self.model = model or self.settings.llm_default_model
        self.api_key = api_key
        self.timeout_s = self.settings.llm_timeout_s if timeout_s is None else timeout_s

    @classmethod
    def from_env(cls, settings: AppsConfig | None = None) -> "ChatClient | None":
        """The client configured by ``XMODAL_LLM_URL``, or None when no endpoint is set."""
        url = os.environ.get(ENV_URL, "").strip()
        if not url:
            return None
        return cls(url, os.environ.get(ENV_MODEL) or None, os.environ.get(ENV_KEY) or None, settings=settings)

    def complete(self, messages: list[dict]) -> str:
        """The assistant message content for ``messages``; raises :class:`LLMError` naming the endpoint."""
        body = json.dumps({"model": self.model, "messages": messages, "temperature": self.settings.llm_temperature,
                           "max_tokens": self.settings.llm_max_tokens, "stream": False}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:200].decode("utf-8", "replace")
            raise LLMError(f"chat endpoint {self.url} answered HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise LLMError(f"chat endpoint {self.url} is unreachable: {exc}") from exc
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMError(f"chat endpoint {self.url} sent no choices[0].message.content: {raw[:200]!r}") from exc
        if not isinstance(content, str):
            raise LLMError(f"chat endpoint {self.url} sent a non-text message content")
        return content.strip()

    def answer(self, question: str, passages: Sequence[CitedPassage]) -> GeneratedAnswer:
        """A generated answer over ``passages`` with the evidence numbers it cites.

        A model that cites nothing still only saw ``passages``, so all of them stay its citations.
        """
        if not passages:
            raise InvalidInput("a generated answer needs at least one evidence passage")
        text = self.complete(build_messages(question, passages))
        numbers = [p.number for p in passages]
        cited = parse_citations(text, numbers) or numbers
        return GeneratedAnswer(text=text, citations=cited, model=self.model)
