"""Secrets never shown: URLs as scheme and host, exception text scrubbed of URL secrets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gearshift.redact import host_only, scrub


def test_host_only_keeps_scheme_host_and_port() -> None:
    assert host_only("https://hooks.slack.com/services/T0/B0/xyz") == "https://hooks.slack.com/…"
    assert host_only("postgresql://bob:pw@db.internal:5433/ledger") == (
        "postgresql://db.internal:5433/…"
    )
    assert host_only("https://example.com") == "https://example.com"
    assert host_only("slack") == "<url>"
    assert host_only("http://[::1") == "<url>"


def test_scrub_removes_paths_queries_and_passwords() -> None:
    url = "https://hooks.example.com/services/T0/B0/xyz?token=abc123"
    text = "InvalidURL: URL can't contain control characters. '/services/T0/B0/xyz?token=abc123'"
    out = scrub(text, url)
    assert "T0/B0" not in out and "abc123" not in out
    dsn = "postgresql://bob:s3cr3t-pw@db/ledger"
    assert "s3cr3t-pw" not in scrub(f"cannot connect to {dsn}: password s3cr3t-pw refused", dsn)
    assert scrub("nothing to hide", None, "") == "nothing to hide"


@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=8))
def test_a_webhook_path_never_survives_scrubbing(secret: str) -> None:
    url = f"https://hooks.example.com/{secret}"
    assert f"/{secret}" not in scrub(f"error at {url} (path /{secret})", url)
