"""The ssh target: the user's own machines, reached with their OpenSSH client (transport, host facts, preflight)."""
