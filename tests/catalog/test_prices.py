from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from gearshift.catalog import Tier, Usage, load_catalog
from gearshift.errors import PriceFileError, UnknownModel


def test_aliases_and_dated_ids_resolve() -> None:
    cat = load_catalog()
    assert cat.resolve("claude-sonnet-4-5").id == "claude-sonnet-4-5-20250929"
    assert cat.resolve("claude-sonnet-4-5-20250929").id == "claude-sonnet-4-5-20250929"
    assert cat.resolve("claude-haiku-4-5").tier is Tier.HAIKU
    assert cat.resolve("claude-opus-4-6-20260205").id == "claude-opus-4-6"
    assert cat.resolve("anthropic/claude-opus-4-6").id == "claude-opus-4-6"
    assert cat.resolve("claude-sonnet-4-5@20250929").id == "claude-sonnet-4-5-20250929"
    assert cat.resolve("Opus").tier is Tier.OPUS
    assert cat.resolve("claude-fable-5").tier is Tier.OPUS


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(UnknownModel) as info:
        load_catalog().resolve("claude-sonet-4-5")
    assert "claude-sonnet-4-5" in (info.value.hint or "")


def test_article_profile_prices_every_tier() -> None:
    cat = load_catalog("article")
    million = Usage(1_000_000, 1_000_000)
    assert cat.cost("haiku", million).exact == Decimal("4.8")
    assert cat.cost("sonnet", million).exact == Decimal(18)
    assert cat.cost("opus", million).exact == Decimal(90)
    assert cat.cost("claude-haiku-4-5", million).exact == Decimal("4.8")
    assert cat.price_version.startswith("anthropic+article@")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text(text)
    return path


def test_user_file_adds_and_overrides(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
name = "acme"
[[model]]
id = "acme-haiku-proxy"
tier = "haiku"
[[model.price]]
since = 2026-01-01
input = "0.5"
output = "2"
[[model]]
id = "claude-sonnet-4-5-20250929"
[[model.price]]
since = 2025-01-01
input = "2.5"
output = "12"
""",
    )
    cat = load_catalog(path)
    assert cat.resolve("acme-haiku-proxy").tier is Tier.HAIKU
    assert cat.cost("claude-sonnet-4-5", Usage(1_000_000, 0)).exact == Decimal("2.5")
    assert cat.resolve("claude-sonnet-4-5").aliases == ("claude-sonnet-4-5",)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            '[[model]]\nid="x"\ntier="haiku"\n[[model.price]]\nsince=2026-01-01\ninput="-1"\noutput="1"',
            "negative price",
        ),
        (
            '[[model]]\nid="x"\ntier="haiku"\n[[model.price]]\nsince=2026-01-01\ninput="1"\noutput="1"'
            '\ncache_read="5"',
            "cache read dearer",
        ),
        ('[[model]]\nid="x"\ntier="huge"', "unknown tier"),
        ('[[model]]\nid="x"\ntier="haiku"\ncolour="red"', "unknown field 'colour'"),
        ('[modifiers]\nbatch="1.5"', "modifiers.batch"),
        ('[ratios]\ncache_read="abc"', "not a number"),
        ('[[model]]\nid="x"\ntier="haiku"', "needs at least one"),
        ("this is = = not toml", "not valid TOML"),
    ],
)
def test_bad_price_files_name_the_file_and_key(tmp_path: Path, body: str, needle: str) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(PriceFileError) as info:
        load_catalog(path)
    assert needle in info.value.message
    assert str(path) in info.value.message


def test_missing_price_file() -> None:
    with pytest.raises(PriceFileError, match="does not exist"):
        load_catalog("/nonexistent/prices.toml")


def test_env_selects_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEARSHIFT_PRICES", "article")
    assert load_catalog().resolve("haiku").id == "claude-3-5-haiku-20241022"


def test_models_carry_their_limits_and_features() -> None:
    catalog = load_catalog()
    haiku45 = catalog.resolve("claude-haiku-4-5")
    assert (haiku45.context_window, haiku45.max_output) == (200_000, 64_000)
    assert haiku45.accepts("enabled-thinking") is True
    assert haiku45.accepts("adaptive-thinking") is False
    assert haiku45.accepts("effort") is False
    opus47 = catalog.resolve("claude-opus-4-7")
    assert opus47.accepts("enabled-thinking") is False and opus47.accepts("fast") is False
    assert catalog.resolve("claude-haiku-5-5").accepts("effort") is None  # not known


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("context_window = 0", "positive token count"),
        ("max_output = true", "positive token count"),
        ('features = ["telepathy"]', "unknown feature 'telepathy'"),
        ('features = "fast"', "list of strings"),
    ],
)
def test_bad_limits_name_the_key(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        f'schema = 1\nname = "p"\nrevision = "1"\n[[model]]\nid = "claude-opus-4-7"\n{line}\n'
    )
    with pytest.raises(PriceFileError, match=problem):
        load_catalog(str(path))


def test_an_overlay_keeps_limits_it_does_not_name(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        'schema = 1\nname = "p"\nrevision = "1"\n'
        '[[model]]\nid = "claude-opus-4-7"\nmax_output = 1000\n'
    )
    model = load_catalog(str(path)).resolve("claude-opus-4-7")
    assert (model.context_window, model.max_output) == (1_000_000, 1000)
    assert model.features == ("adaptive-thinking", "effort")
