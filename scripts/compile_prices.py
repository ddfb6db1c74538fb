"""Write the JSON twins of the bundled price files (src/gearshift/catalog/data/<name>.json).

    .venv/bin/python scripts/compile_prices.py

Run it after editing a bundled .toml: gearshift reads a twin only when it was made from the
TOML text beside it (else it parses the TOML, ~9 ms slower), and tests/catalog/test_prices.py
fails while a twin is out of date.
"""

from __future__ import annotations

from pathlib import Path

from gearshift.catalog.prices import PROFILES, compile_bundled

DATA = Path(__file__).resolve().parents[1] / "src" / "gearshift" / "catalog" / "data"


def main() -> None:
    for name in PROFILES:
        if (DATA / f"{name}.toml").exists():
            (DATA / f"{name}.json").write_text(compile_bundled(name), encoding="utf-8")
            print(f"wrote {DATA / f'{name}.json'}")


if __name__ == "__main__":
    main()
