"""Remote actuators: a generic HTTP POST of the decision, and a Slack incoming webhook.

Standard library only, so the exported Lambda carries no HTTP client. Every call has a timeout;
a non-2xx answer raises, so the event is retried or dead-lettered rather than lost.

Each POST carries `Idempotency-Key: <tenant>#<event_id>` (an escalation: `escalation:<tenant>#<event_id>`), set by
the agent from the event's validated keys, never from what the sender wrote: the one repeat the delivery core
allows (a crash between acting and marking it acted) arrives with the same key, for the receiver to drop. A Slack
incoming webhook reads only `text`, so it cannot drop a repeat: there the rare repeat posts twice.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request

from workbench.config import ActuatorConfig
from workbench.errors import ConfigError
from workbench.registry import BuildContext
from workbench.types import Decision


class HttpActuator:
    def __init__(self, url: str, timeout_s: float, shape: str = "decision") -> None:
        self.url, self.timeout_s, self.shape = url, timeout_s, shape

    def act(self, decision: Decision, key: str) -> None:
        body = (
            {"text": decision.answer}
            if self.shape == "slack"
            else {k: v for k, v in decision.to_dict().items() if k not in ("prompt", "contexts")} | {"idempotency_key": key}
        )
        request = urllib.request.Request(
            self.url,
            data=json.dumps(body, default=str).encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": _header(key),
                "X-Correlation-Id": _header(decision.correlation_id),
            },
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # raises HTTPError on 4xx/5xx
            response.read()


def _header(value: str) -> str:
    """Percent-encoded past printable ASCII (and '%' itself, so the encoding is one-to-one): http.client refuses
    a header holding a line break and cannot send one holding non-Latin-1 text, which would fail every retry."""
    return urllib.parse.quote(value, safe="#:/@!$&'()*+,;=?[]")


def _url(cfg: ActuatorConfig) -> str:
    if cfg.url_env:
        url = os.environ.get(cfg.url_env)
        if not url:
            raise ConfigError(f"actuator.url_env: environment variable {cfg.url_env} is not set")
        return url
    return cfg.url or ""


def build_http(ctx: BuildContext) -> HttpActuator:
    return HttpActuator(_url(ctx.own("actuator")), ctx.own("actuator").timeout_s)


def build_slack(ctx: BuildContext) -> HttpActuator:
    return HttpActuator(_url(ctx.own("actuator")), ctx.own("actuator").timeout_s, shape="slack")
