"""Prompt assembly: retrieved context, recent history and the question, through the config's template."""

from __future__ import annotations

from typing import Sequence

from workbench.types import Hit, Message

DEFAULT_PROMPT = """You are a helpful assistant. Answer the user's question using only the context below.
Cite the ids of the passages you used in square brackets.

Context:
{context}

Conversation history:
{history}

User: {question}
Assistant:"""


def build_prompt(template: str, question: str, hits: Sequence[Hit], history: Sequence[Message], history_turns: int) -> str:
    context = "\n---\n".join(f"[{h.id}] {_title(h)}{h.text}" for h in hits) or "(no context found)"
    recent = history[-2 * history_turns :] if history_turns else ()
    past = "\n".join(f"{m.role}: {m.content}" for m in recent) or "(none)"
    return template.format(context=context, history=past, question=question)


def _title(hit: Hit) -> str:
    title = hit.metadata.get("title")
    return f"{title}: " if title else ""
