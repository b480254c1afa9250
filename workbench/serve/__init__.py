"""Serving: getting events in and acting on each once (delivery core, file runner, worker, bus, Lambda, Step Functions steps)."""
