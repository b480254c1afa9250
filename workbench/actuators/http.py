"""Remote actuators: a generic HTTP POST of the decision, and a Slack incoming webhook.

Standard library only, so the exported Lambda carries no HTTP client. Every call has a timeout;
a non-2xx answer raises, so the event is retried or dead-lettered rather than lost.
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

from workbench.config import ActuatorConfig
from workbench.registry import BuildContext


class HttpActuator:
    def __init__(self, url: str, timeout_s: float, shape: str = "decision") -> None:
        self.url, self.timeout_s, self.shape = url, timeout_s, shape

    def act(self, decision: dict[str, Any]) -> None:
        body = {"text": decision["answer"]} if self.shape == "slack" else {
            k: v for k, v in decision.items() if k not in ("prompt", "contexts")}
        request = urllib.request.Request(self.url, data=json.dumps(body, default=str).encode(), method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "X-Correlation-Id": decision["correlation_id"]})
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # raises HTTPError on 4xx/5xx
            response.read()


def _url(cfg: ActuatorConfig) -> str:
    if cfg.url_env:
        url = os.environ.get(cfg.url_env)
        if not url:
            raise ValueError(f"actuator.url_env: environment variable {cfg.url_env} is not set")
        return url
    return cfg.url or ""


def build_http(ctx: BuildContext) -> HttpActuator:
    return HttpActuator(_url(ctx.config.actuator), ctx.config.actuator.timeout_s)


def build_slack(ctx: BuildContext) -> HttpActuator:
    return HttpActuator(_url(ctx.config.actuator), ctx.config.actuator.timeout_s, shape="slack")
