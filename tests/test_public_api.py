"""The public API: every name in every package's ``__all__`` exists, and importing gearshift
imports nothing heavy (STYLE: no SDK, web framework or DB driver until used)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = [
    "gearshift",
    "gearshift.errors",
    "gearshift.catalog",
    "gearshift.ledger",
    "gearshift.ingest.claude_code",
    "gearshift.agents",
    "gearshift.routing",
    "gearshift.learn",
    "gearshift.providers",
    "gearshift.engine.validators",
    "gearshift.budgets.reservations",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported, f"{name} has no __all__"
    missing = [n for n in exported if not hasattr(module, n)]
    assert missing == []


def test_import_is_light() -> None:
    code = (
        "import sys, gearshift, gearshift.ledger, gearshift.providers, gearshift.cli.main,"
        " gearshift.learn;"
        "heavy = [m for m in ('sqlalchemy', 'anthropic', 'psycopg', 'rich', 'httpx', 'sklearn',"
        " 'numpy') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_version_matches_metadata() -> None:
    from importlib.metadata import version

    import gearshift

    assert gearshift.__version__ == version("gearshift")
