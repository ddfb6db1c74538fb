"""Usage sources for the ledger: Claude Code transcripts, and a synthetic corpus of them."""
