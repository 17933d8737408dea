"""The per-collection index: SQLite (files, chunks, BM25 via FTS5, vectors), hnswlib for dense search."""
