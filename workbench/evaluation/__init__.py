"""Evaluation: eval sets, retrieval and answer metrics, operations (latency, cost), and the runner."""
