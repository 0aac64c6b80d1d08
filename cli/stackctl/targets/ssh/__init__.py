"""The ssh target: the user's own (maybe air-gapped) hosts, reached over SSH."""
