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


def init_chat(provider: str, model: str, role: str, **options: Any) -> Any:
    """LangChain's chat model for provider and model, or a ConfigError that says what to install and set: provider
    packages raise anything, and the user needs the cause and the fix."""
    from langchain.chat_models import init_chat_model

    try:
        return init_chat_model(model, model_provider=provider, **options)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        raise ConfigError(
            f"{role}: cannot create {provider}:{model}: {exc}. Install the provider's LangChain package "
            f"(e.g. langchain-{provider}) and set its credentials in the environment"
        ) from exc


def build(ctx: BuildContext) -> LangChainReasoner:
    cfg = ctx.own("reasoner")
    return LangChainReasoner(
        init_chat(cfg.provider, cfg.model, "reasoner", temperature=cfg.temperature, max_tokens=cfg.max_tokens)
    )
