"""Outbound mail: queued, archived before it leaves, relayed, kept out of mail loops."""
