"""Export the ledger as JSONL or CSV, and import JSONL back (idempotently)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from gearshift.errors import ConfigError
from gearshift.ledger.record import Execution

if TYPE_CHECKING:
    from gearshift.ledger.store import Ledger

__all__ = ["export_csv", "export_jsonl", "import_jsonl"]

CSV_FIELDS = (
    "id",
    "ts",
    "project",
    "session",
    "agent",
    "task",
    "task_hash",
    "task_type",
    "model",
    "tier",
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "cost_usd",
    "cost_nanos",
    "price_version",
    "latency_ms",
    "status",
    "attempt",
    "chain_id",
    "strategy",
    "source",
    "validation",
    "escalation_reason",
    "run_id",
    "task_key",
    "flags",
    "tags",
    "dedup_key",
)


def export_jsonl(executions: Iterator[Execution], out: IO[str]) -> int:
    n = 0
    for e in executions:
        out.write(json.dumps(e.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n")
        n += 1
    return n


def export_csv(executions: Iterator[Execution], out: IO[str]) -> int:
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    n = 0
    for e in executions:
        row = e.to_dict()
        row["tags"] = json.dumps(row["tags"], sort_keys=True, separators=(",", ":"))
        writer.writerow(row)
        n += 1
    return n


def import_jsonl(ledger: Ledger, path: Path) -> tuple[int, int]:
    """Import an export back; records already present (same id) are skipped.

    Returns ``(read, inserted)``. A bad line raises :class:`ConfigError` naming ``path:line``;
    nothing from the file is written unless every line is valid.
    """
    batch: list[Execution] = []
    try:
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    if not isinstance(data, dict):
                        raise TypeError("not an object")
                    _settle_cost(data)
                    execution = Execution.from_dict(data)
                    ledger.to_row(execution)
                except (ValueError, TypeError, KeyError, AttributeError, ConfigError) as exc:
                    raise ConfigError(
                        f"{path}:{lineno}: not a gearshift ledger record ({exc})",
                        hint="import takes the JSONL written by `gearshift ledger export`",
                    ) from None
                batch.append(execution)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(
            f"{path} is not UTF-8 text", hint="import takes a JSONL export of a ledger"
        ) from None
    return len(batch), ledger.add_many(batch)


def _settle_cost(data: dict[str, Any]) -> None:
    """``cost_nanos`` is what a ledger stores; an export also writes ``cost_usd``. A line whose
    two disagree (edited by hand?) is refused rather than imported at either value, and a line
    with ``cost_usd`` alone gets its nanos from it (exactly, or it is refused)."""
    usd = data.get("cost_usd")
    if usd is None:
        return
    try:
        value = Decimal(str(usd))
    except InvalidOperation:
        raise ValueError(f"cost_usd {usd!r} is not a number") from None
    nanos = value.scaleb(9)
    if not nanos.is_finite() or nanos != nanos.to_integral_value():
        raise ValueError(f"cost_usd {usd!r} is not a whole number of nano-dollars")
    if "cost_nanos" not in data:
        data["cost_nanos"] = int(nanos)
    elif not isinstance(data["cost_nanos"], int) or data["cost_nanos"] != int(nanos):
        raise ValueError(
            f"cost_usd {usd} and cost_nanos {data['cost_nanos']} disagree; fix or drop one "
            "(cost_nanos is what is stored)"
        )
