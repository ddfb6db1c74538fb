"""Usage sources for the ledger: Claude Code transcripts, and a synthetic corpus of them."""

#: Set (to ``1``) in the environment of the Claude Code sessions gearshift runs itself (the
#: ``claude-code`` provider), which it records as they finish: an ``ingest claude-code`` started
#: inside one (a Stop hook) leaves the transcripts to the next ingest outside it, which skips
#: the sessions already recorded.
METERED_ENV = "GEARSHIFT_METERED_SESSION"
#: The dedup key prefix of the record of a Claude Code session gearshift ran itself (followed by
#: the session id): ``ingest claude-code`` skips the transcripts of such sessions.
SESSION_KEY = "cc-session:"
