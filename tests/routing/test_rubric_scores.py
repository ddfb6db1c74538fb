"""The three-question rubric: scores, bands, thresholds and labels."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gearshift.catalog import Tier
from gearshift.errors import ConfigError
from gearshift.routing import Assessment, Label, Rubric, Scores, Thresholds

score = st.integers(min_value=1, max_value=3)


@pytest.mark.parametrize(
    ("total", "tier"),
    [
        (3, Tier.HAIKU),
        (4, Tier.HAIKU),
        (5, Tier.SONNET),
        (6, Tier.SONNET),
        (7, Tier.OPUS),
        (9, Tier.OPUS),
    ],
)
def test_article_bands(total: int, tier: Tier) -> None:
    assert Thresholds().tier(total) is tier


@given(score, score, score)
def test_tier_is_monotone_in_every_score(m: int, j: int, s: int) -> None:
    rubric = Rubric()
    base = rubric.tier_for(Scores(m, j, s))
    for bumped in (
        Scores(min(m + 1, 3), j, s),
        Scores(m, min(j + 1, 3), s),
        Scores(m, j, min(s + 1, 3)),
    ):
        assert rubric.tier_for(bumped) >= base


def test_thresholds_are_configurable_and_validated() -> None:
    strict = Rubric(Thresholds(haiku_max=3, sonnet_max=5))
    assert strict.tier_for(Scores(1, 1, 2)) is Tier.SONNET
    assert strict.tier_for(Scores(2, 2, 2)) is Tier.OPUS
    for bad in ((1, 5), (5, 5), (4, 10)):
        with pytest.raises(ConfigError):
            Thresholds(*bad)
    assert Thresholds().band(Tier.SONNET) == (5, 6)


def test_scores_validate_and_parse_many_forms() -> None:
    assert Scores(1, 2, 3).total == 6
    assert Scores.parse([1, 2, 3]) == Scores.parse("1,2,3") == Scores(1, 2, 3)
    assert Scores.parse({"reasoning": 3, "subjective": 1, "risk": 2, "total": 6}) == Scores(3, 1, 2)
    assert Scores(1, 2, 3).to_dict() == {"multi_step": 1, "judgment": 2, "stakes": 3, "total": 6}
    for bad in ([0, 1, 1], [1, 2], "a,b,c", {"multi_step": 1}, {"vibes": 2}, [True, 1, 1]):
        with pytest.raises(ConfigError):
            Scores.parse(bad)


def test_labels_map_straight_to_tiers() -> None:
    rubric = Rubric(Thresholds(haiku_max=3, sonnet_max=5))
    for label, tier in (
        (Label.LOW, Tier.HAIKU),
        (Label.MEDIUM, Tier.SONNET),
        (Label.HIGH, Tier.OPUS),
    ):
        a = Assessment.from_label(label)
        assert a.source == "label" and rubric.tier_for(a) is tier
        assert rubric.label_for(a) is label
    assert Rubric().label_for(Scores(2, 2, 3)) is Label.HIGH
    with pytest.raises(ConfigError, match="unknown complexity"):
        Label.parse("extreme")


def test_band_edges_are_the_near_ties() -> None:
    rubric = Rubric()
    assert [rubric.edge(t) for t in range(3, 10)] == [
        None,
        "high",
        "low",
        "high",
        "low",
        None,
        None,
    ]
