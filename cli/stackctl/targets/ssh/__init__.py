"""The ssh target: the user's own (maybe air-gapped) machines, reached with their OpenSSH client."""
