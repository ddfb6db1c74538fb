"""Claude Code transcripts into the ledger, as a pipeline of stages, each a module that hands its
result to the next: discover -> plan -> parse -> attribute -> price -> write
(:func:`gearshift.ingest.claude_code.ingest_claude_code` runs them)."""

#: The ``source`` of every record this package writes.
SOURCE = "claude-code"
