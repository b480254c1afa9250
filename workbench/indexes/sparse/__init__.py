"""Sparse (keyword) vectors in Pinecone's BM25 format, computed the same way locally and in the exported Lambda."""
