"""The worker: archived receipts parsed, classified, threaded and filed into cases."""
