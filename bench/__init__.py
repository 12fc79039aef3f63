"""Benchmarks for commgate (run as scripts: ``python bench/ingest.py``)."""
