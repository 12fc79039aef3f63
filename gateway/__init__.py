"""The commgate daemon and everything with state: config, intakes, worker, cases, CLI."""
