"""Any LangChain chat model as the reasoner (OpenAI, Bedrock, Ollama, ...), chosen by provider and model.

Keys come from the provider's usual environment variables (OPENAI_API_KEY, AWS credentials, ...);
they are never part of the config.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from workbench.errors import ConfigError
from workbench.registry import BuildContext
from workbench.types import Answer, Hit

_CITATION = re.compile(r"\[([^\[\]]+)\]")


class LangChainReasoner:
    def __init__(self, chat_model: Any) -> None:
        self.chat_model = chat_model

    def reason(self, question: str, prompt: str, hits: Sequence[Hit]) -> Answer:
        message = self.chat_model.invoke(prompt)
        text = (
            message.content
            if isinstance(message.content, str)
            else "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in message.content)
        )
        known = {h.id for h in hits}
        citations = tuple(dict.fromkeys(c for c in _CITATION.findall(text) if c in known))
        usage = getattr(message, "usage_metadata", None) or {}
        tokens = {k: int(usage[k]) for k in ("input_tokens", "output_tokens") if k in usage}
        return Answer(text.strip(), citations, tokens=tokens)


def build(ctx: BuildContext) -> LangChainReasoner:
    from langchain.chat_models import init_chat_model

    cfg = ctx.own("reasoner")
    try:
        model = init_chat_model(cfg.model, model_provider=cfg.provider, temperature=cfg.temperature, max_tokens=cfg.max_tokens)
    except Exception as exc:  # noqa: BLE001 - provider packages raise anything; the user needs the cause and a fix
        raise ConfigError(
            f"reasoner: cannot create {cfg.provider}:{cfg.model}: {exc}. Install the provider's "
            f"langchain package (e.g. langchain-{cfg.provider}) and set its API key in the environment."
        ) from exc
    return LangChainReasoner(model)
