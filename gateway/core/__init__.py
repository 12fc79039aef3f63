"""The leaf every layer may use: errors, text and time helpers, the narrow Context protocol."""
