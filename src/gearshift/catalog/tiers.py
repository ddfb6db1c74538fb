"""Model tiers: the ordered set haiku < sonnet < opus."""

from __future__ import annotations

import enum
from functools import total_ordering

from gearshift.errors import ConfigError

__all__ = ["Tier"]


@total_ordering
class Tier(enum.Enum):
    """A model tier. Tiers compare by capability (and, as a rule, by price)."""

    HAIKU = "haiku"
    SONNET = "sonnet"
    OPUS = "opus"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Tier):
            return NotImplemented
        return self.rank < other.rank

    def up(self) -> Tier | None:
        """The next tier up, or ``None`` at the top."""
        return _ORDER[self.rank + 1] if self.rank + 1 < len(_ORDER) else None

    def down(self) -> Tier | None:
        """The next tier down, or ``None`` at the bottom."""
        return _ORDER[self.rank - 1] if self.rank > 0 else None

    @classmethod
    def parse(cls, value: str | Tier) -> Tier:
        """Parse ``haiku``/``sonnet``/``opus`` (any case); raise ConfigError otherwise."""
        if isinstance(value, Tier):
            return value
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise ConfigError(
                f"unknown tier {value!r}", hint="use one of: haiku, sonnet, opus"
            ) from None

    @classmethod
    def ordered(cls) -> tuple[Tier, ...]:
        return _ORDER

    def __str__(self) -> str:
        return self.value


_ORDER: tuple[Tier, ...] = (Tier.HAIKU, Tier.SONNET, Tier.OPUS)
_RANK: dict[Tier, int] = {t: i for i, t in enumerate(_ORDER)}
