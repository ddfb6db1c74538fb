"""A malformed ANTHROPIC_BASE_URL is a configuration error, reported at once and never retried."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gearshift.errors import ConfigError
from gearshift.providers import ModelRequest, RetryingProvider, RetryPolicy
from gearshift.providers.anthropic import AnthropicProvider
from gearshift.providers.endpoint import base_url

BAD = ["api.anthropic.com", "https://api anthropic.com", "https://api.anthropic.com /v1",
       "ftp://api.anthropic.com", "https://", "https://h:port", "http://h\x07/"]  # fmt: skip


@pytest.mark.parametrize("url", BAD)
def test_malformed_base_url_is_a_config_error(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
    with pytest.raises(ConfigError) as caught:
        base_url(None)
    assert "ANTHROPIC_BASE_URL" in caught.value.message
    assert url not in caught.value.message


def test_good_and_absent_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    assert base_url(None, "https://d") == "https://d"
    assert base_url("http://127.0.0.1:8080/x") == "http://127.0.0.1:8080/x"
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://gw.example.com/anthropic")
    assert base_url(None) == "https://gw.example.com/anthropic"


@given(st.text(max_size=40))
def test_what_is_accepted_is_an_http_url_without_spaces(text: str) -> None:
    for url in (text, "https://" + text):
        try:
            accepted = base_url(url or "x")
        except ConfigError:
            continue
        assert accepted is not None and accepted.split("://")[0] in ("http", "https")
        assert not any(c.isspace() for c in accepted)


def test_provider_fails_once_without_a_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "localhost:9")
    sleeps: list[float] = []

    async def sleep(delay: float) -> None:
        sleeps.append(delay)

    provider = RetryingProvider(
        AnthropicProvider(api_key="k", pace=False), RetryPolicy(max_attempts=5), sleep=sleep
    )
    with pytest.raises(ConfigError):
        asyncio.run(provider.complete(ModelRequest.user("hi", model="haiku")))
    assert sleeps == []


def test_run_reports_it_before_any_job(tmp_path: Path) -> None:
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("tasks:\n  - {id: one, task: 'Rename variable v in module m'}\n")
    env = {**os.environ, "ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": "api.anthropic.com"}
    out = subprocess.run(
        [sys.executable, "-m", "gearshift.cli.main", "--ledger", str(tmp_path / "l.db"), "run",
         str(pipeline), "--provider", "anthropic"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert "ANTHROPIC_BASE_URL is not a valid URL" in out.stderr
    assert "retry" not in out.stderr.lower()
