"""The config file's ``[reconcile]`` section."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from gearshift.config import ReconcileConfig, load_config
from gearshift.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_reconcile_defaults_without_a_section(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")).reconcile == ReconcileConfig()


def test_reconcile_section(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
[reconcile]
tolerance_pct = "0.5"
tolerance_usd = 1
alert_pct = "10"
alerts = false
[reconcile.users]
"alice@example.com" = ["/home/alice/", "/Users/alice/"]
"ci-key" = "/srv/builds/"
"""))  # fmt: skip
    r = config.reconcile
    assert (r.tolerance_pct, r.tolerance_usd, r.alert_pct, r.alert_usd) == (
        Decimal("0.5"), Decimal(1), Decimal(10), Decimal(1)
    )  # fmt: skip
    assert r.alerts is False
    assert r.users == {"alice@example.com": ("/home/alice/", "/Users/alice/"),
                       "ci-key": ("/srv/builds/",)}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[reconcile]\ntolerance_pct = 0.5\n", "reconcile.tolerance_pct"),
        ('[reconcile]\nalert_usd = "-1"\n', "reconcile.alert_usd"),
        ("[reconcile]\ncolour = 1\n", "reconcile.colour"),
        ("[reconcile]\nusers = 3\n", "reconcile.users"),
        ('[reconcile.users]\n"a@b" = [1]\n', "reconcile.users.a@b"),
    ],
)
def test_bad_reconcile_values_name_the_file_and_key(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in caught.value.message and where in caught.value.message
