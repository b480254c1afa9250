"""Scorers: one module per family of metric (retrieval, ragas answers, extractive spans, ANN recall, the LLM judge)."""
