"""Usage sources for the ledger: Claude Code transcripts."""
