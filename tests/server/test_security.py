"""Where a service may listen and how its token is checked."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gearshift.errors import ConfigError
from gearshift.server.security import is_loopback, require_safe_bind, token_matches

TOKEN = "0123456789abcdef-token"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost",
                                  "LOCALHOST", "app.localhost"])  # fmt: skip
def test_loopback_needs_no_token(host: str) -> None:
    assert is_loopback(host)
    require_safe_bind(host, None)
    require_safe_bind(host, TOKEN)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com",
                                  "localhost.example.com", "127.0.0.1.nip.io", ""])  # fmt: skip
def test_any_other_address_needs_a_token(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ConfigError, match="needs --auth-token") as info:
        require_safe_bind(host, None)
    assert info.value.hint
    require_safe_bind(host, TOKEN)


def test_a_short_token_is_refused() -> None:
    with pytest.raises(ConfigError, match="shorter than 16"):
        require_safe_bind("0.0.0.0", "secret")


@given(st.text(min_size=1), st.text(min_size=1))
def test_tokens_match_only_when_equal(given_token: str, expected: str) -> None:
    assert token_matches(given_token, expected) == (given_token == expected)
    assert token_matches(expected, expected)
    assert not token_matches(None, expected)
