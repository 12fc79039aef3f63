"""Helpers the tests share: building and writing mail, waiting for a state, databases, servers
and the case flows several test modules drive. Fixtures stay in the conftest.py files (they may
use these); a test module imports helpers from here only, never from conftest.py or from
another test module (tests/test_lint.py checks it)."""
