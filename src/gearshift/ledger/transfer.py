"""Export the ledger as JSONL or CSV, and import JSONL back (idempotently)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

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
