"""Data files shipped in the package are read from plain files and from a zipped package."""

from __future__ import annotations

import importlib
import sys
import zipfile
from pathlib import Path

import pytest

from gearshift._files import read_package_file


def test_read_beside_the_module() -> None:
    from gearshift.ledger import sqlite3_ledger as lite

    text = read_package_file("gearshift.ledger", lite.__file__, "sqlite_schema.sql")
    assert "CREATE TABLE executions" in text


def test_read_from_a_zipped_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "pkg.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zpkg/__init__.py", "")
        zf.writestr("zpkg/data/prices.toml", "name = 'zipped'\n")
    monkeypatch.syspath_prepend(str(archive))
    module = importlib.import_module("zpkg")
    try:
        assert read_package_file("zpkg", module.__file__, "data", "prices.toml") == (
            "name = 'zipped'\n"
        )
    finally:
        sys.modules.pop("zpkg", None)
