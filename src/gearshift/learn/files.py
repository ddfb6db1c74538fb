"""Outcome files: CSV or JSONL, one outcome per row, or a "wide" CSV with several models' scores
per task (RouterBench's ``<model>|score`` / ``<model>|cost_usd`` columns).

Long rows have ``task`` (or ``text``/``prompt``), ``tier`` or ``model``, ``success`` (or
``score``: 0/1, true/false, pass/fail, or a score from 0 to 1), and optionally ``agent``,
``task_type`` (or ``type``), ``cost_usd`` (or ``cost``, in dollars), ``input_tokens``,
``output_tokens``. A model is mapped
to its tier by the ``ladder`` (``model=tier`` pairs, as given with ``--ladder``) or else by the
catalog. Money is read as a decimal and kept in integer nano-dollars (rounded half-even at the
ninth decimal, the ledger's unit), never through a float.

Every problem is collected with its ``file:line`` and the whole file is refused
(:class:`~gearshift.errors.DefinitionError` listing the first problems): an import is all or
nothing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from gearshift.catalog import Catalog, Tier
from gearshift.errors import ConfigError, DefinitionError, UnknownModel
from gearshift.learn.outcome import Outcome

__all__ = [
    "Ladder",
    "WideTable",
    "parse_ladder",
    "parse_where",
    "read_outcomes",
    "read_rows",
    "read_wide",
]

Ladder = Mapping[str, Tier]
MAX_PROBLEMS = 20
_TEXT = ("task", "text", "prompt")
_SCORE = ("success", "score")
_TRUE = {"1", "true", "yes", "pass", "passed", "success", "ok"}
_FALSE = {"0", "false", "no", "fail", "failed", "failure"}


def parse_ladder(text: str | None) -> dict[str, Tier]:
    """``"claude-instant-v1=haiku,claude-v1=sonnet"`` -> ``{model: tier}``."""
    out: dict[str, Tier] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        model, sep, tier = part.rpartition("=")
        if not sep or not model.strip():
            raise ConfigError(
                f"--ladder: {part.strip()!r} is not MODEL=TIER",
                hint="e.g. --ladder claude-instant-v1=haiku,claude-v1=sonnet,gpt-4=opus",
            )
        out[model.strip()] = Tier.parse(tier)
    return out


def parse_where(items: list[str] | None) -> dict[str, str]:
    """``["split=train"]`` -> ``{"split": "train"}`` (rows must match every pair)."""
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--where: {item!r} is not COLUMN=VALUE", hint="e.g. split=train")
        out[key.strip()] = value.strip()
    return out


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, row)`` of a CSV (header first) or JSONL file (one object per line; blank and
    ``#`` lines skipped). A malformed line is a DefinitionError naming it."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DefinitionError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if path.suffix == ".gz":
        import gzip

        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DefinitionError(f"{path}: not a readable gzip file: {exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DefinitionError(f"{path}: not UTF-8 text") from None
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson", ".json")):
        yield from _jsonl_rows(path, text)
    else:
        yield from _csv_rows(path, text)


def _jsonl_rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise DefinitionError(f"{path}:{number}: invalid JSON: {exc.msg}") from None
        if not isinstance(data, dict):
            raise DefinitionError(f"{path}:{number}: each line must be a JSON object")
        yield number, data


def _csv_rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise DefinitionError(f"{path}:1: {exc}") from None
    header = [h.strip() for h in header]
    try:
        for values in reader:
            line = reader.line_num
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise DefinitionError(
                    f"{path}:{line}: {len(values)} fields where the header has {len(header)}"
                )
            yield line, dict(zip(header, values, strict=True))
    except csv.Error as exc:
        raise DefinitionError(f"{path}:{reader.line_num}: {exc}") from None


def read_outcomes(
    path: Path,
    catalog: Catalog,
    *,
    ladder: Ladder | None = None,
    where: Mapping[str, str] | None = None,
    source: str = "import",
) -> list[Outcome]:
    """Every outcome of a long or wide file, or DefinitionError listing the bad rows."""
    rows = list(read_rows(path))
    if rows and _is_wide(rows[0][1]):
        table = read_wide(path, catalog, ladder=ladder, where=where, rows=rows)
        return table.outcomes(source)
    problems: list[str] = []
    out: list[Outcome] = []
    for line, row in rows:
        if where and not _matches(row, where):
            continue
        try:
            out.append(_outcome(row, catalog, ladder or {}, source))
        except ConfigError as exc:
            problems.append(f"{path}:{line}: {exc.message}")
    _refuse(path, problems)
    return out


def _refuse(path: Path, problems: list[str]) -> None:
    if not problems:
        return
    shown = problems[:MAX_PROBLEMS]
    more = len(problems) - len(shown)
    listing = "; ".join(shown) + (f"; and {more} more" if more else "")
    raise DefinitionError(
        f"{len(problems)} bad row(s), nothing imported: {listing}",
        hint=f"fix {path} and import it again (every row or none is imported)",
    )


def _matches(row: Mapping[str, Any], where: Mapping[str, str]) -> bool:
    return all(str(row.get(k, "")) == v for k, v in where.items())


def _first(row: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = row.get(name)
        if value is not None and value != "":
            return value
    return None


def _outcome(row: Mapping[str, Any], catalog: Catalog, ladder: Ladder, source: str) -> Outcome:
    text = _first(row, _TEXT)
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("no task text (column task, text or prompt)")
    tier, model = _tier(row, catalog, ladder)
    raw_score = _first(row, _SCORE)
    if raw_score is None:
        raise ConfigError("no result (column success or score)")
    return Outcome(
        task=text,
        tier=tier,
        score=parse_score(raw_score),
        agent=_opt(row.get("agent")),
        task_type=_opt(row.get("task_type", row.get("type"))),
        model=model,
        cost_nanos=parse_usd(_first(row, ("cost_usd", "cost"))),
        input_tokens=_count(row.get("input_tokens"), "input_tokens"),
        output_tokens=_count(row.get("output_tokens"), "output_tokens"),
        source=source,
    )


def _tier(row: Mapping[str, Any], catalog: Catalog, ladder: Ladder) -> tuple[Tier, str | None]:
    tier_text = _opt(row.get("tier"))
    model = _opt(row.get("model"))
    if tier_text is not None:
        return Tier.parse(tier_text), model
    if model is None:
        raise ConfigError("no tier or model")
    return tier_of_model(model, catalog, ladder), model


def tier_of_model(model: str, catalog: Catalog, ladder: Ladder) -> Tier:
    """The ladder's tier for ``model``, else the catalog's; ConfigError naming the fix."""
    if model in ladder:
        return ladder[model]
    try:
        return catalog.resolve(model).tier
    except UnknownModel:
        raise ConfigError(
            f"model {model!r} is neither in --ladder nor in the catalog",
            hint=f"map it to a tier: --ladder {model}=haiku",
        ) from None


def parse_score(value: Any) -> float:
    """0/1, true/false, pass/fail, or a number from 0 to 1."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    text = str(value).strip().lower()
    if text in _TRUE:
        return 1.0
    if text in _FALSE:
        return 0.0
    try:
        score = float(text)
    except ValueError:
        raise ConfigError(f"success {value!r} is not 0/1, true/false or a score") from None
    if not 0.0 <= score <= 1.0:
        raise ConfigError(f"score {value!r} is outside 0..1")
    return score


def parse_usd(value: Any) -> int | None:
    """Dollars as exact integer nano-dollars (``None`` when empty)."""
    if value is None or value == "":
        return None
    if isinstance(value, float):
        value = repr(value)  # the shortest text that reads back as this float
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ConfigError(f"cost_usd {value!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise ConfigError(f"cost_usd {value!r} must be a non-negative amount")
    return int(amount.scaleb(9).to_integral_value(ROUND_HALF_EVEN))


def _count(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{name} {value!r} is not a whole number") from None
    if number < 0:
        raise ConfigError(f"{name} must not be negative")
    return number


def _opt(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


# -- wide tables ---------------------------------------------------------------------------------


def _is_wide(row: Mapping[str, Any]) -> bool:
    return any(str(k).endswith("|score") for k in row)


@dataclass(slots=True)
class WideTable:
    """Tasks with a score and a cost on every tier (``(n, 3)`` lists, tiers in order)."""

    texts: list[str]
    agents: list[str | None]
    types: list[str | None]
    score: list[list[float]]
    cost_nanos: list[list[int]]
    columns: dict[str, list[str]]
    dropped: int = 0

    def outcomes(self, source: str = "import") -> list[Outcome]:
        out = []
        tiers = Tier.ordered()
        for i, text in enumerate(self.texts):
            for tier in tiers:
                out.append(
                    Outcome(
                        task=text,
                        tier=tier,
                        score=self.score[i][tier.rank],
                        agent=self.agents[i],
                        task_type=self.types[i],
                        cost_nanos=self.cost_nanos[i][tier.rank],
                        source=source,
                    )
                )
        return out


def read_wide(
    path: Path,
    catalog: Catalog,
    *,
    ladder: Ladder | None = None,
    where: Mapping[str, str] | None = None,
    rows: list[tuple[int, dict[str, Any]]] | None = None,
) -> WideTable:
    """A wide table: one column pair per model, mapped to tiers by ``ladder`` (or the
    catalog); every tier must have exactly one model."""
    rows = list(read_rows(path)) if rows is None else rows
    if not rows:
        raise DefinitionError(f"{path}: no rows")
    header = list(rows[0][1])
    models = [k.removesuffix("|score") for k in header if k.endswith("|score")]
    chosen = _ladder_columns(path, models, header, catalog, ladder or {})
    table = WideTable([], [], [], [], [], {k: [] for k in header if "|" not in k})
    problems: list[str] = []
    for line, row in rows:
        if where and not _matches(row, where):
            continue
        try:
            _wide_row(table, row, chosen)
        except ConfigError as exc:
            problems.append(f"{path}:{line}: {exc.message}")
    _refuse(path, problems)
    return table


def _ladder_columns(
    path: Path, models: list[str], header: list[str], catalog: Catalog, ladder: Ladder
) -> list[str]:
    by_tier: dict[Tier, list[str]] = {}
    for model in models:
        if model in ladder:
            by_tier.setdefault(ladder[model], []).append(model)
        elif not ladder:
            found = catalog.find(model)
            if found is not None:
                by_tier.setdefault(found.tier, []).append(model)
    chosen = []
    for tier in Tier.ordered():
        names = by_tier.get(tier, [])
        if len(names) != 1:
            raise DefinitionError(
                f"{path}: {len(names)} model columns map to {tier} "
                f"({', '.join(names) or 'none'}); each tier needs exactly one",
                hint="name them with --ladder MODEL=haiku,MODEL=sonnet,MODEL=opus "
                f"(models in the file: {', '.join(models)})",
            )
        if f"{names[0]}|cost_usd" not in header:
            raise DefinitionError(f"{path}: no column {names[0]}|cost_usd")
        chosen.append(names[0])
    return chosen


def _wide_row(table: WideTable, row: Mapping[str, Any], models: list[str]) -> None:
    text = _first(row, _TEXT)
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("no task text (column task, text or prompt)")
    scores = [parse_score(row[f"{m}|score"]) for m in models]
    costs = []
    for m in models:
        nanos = parse_usd(row[f"{m}|cost_usd"])
        if nanos is None:
            raise ConfigError(f"no cost for {m}")
        costs.append(nanos)
    table.texts.append(text)
    table.agents.append(_opt(row.get("agent")))
    table.types.append(_opt(row.get("task_type")))
    table.score.append(scores)
    table.cost_nanos.append(costs)
    for key, values in table.columns.items():
        values.append(str(row.get(key, "")))
