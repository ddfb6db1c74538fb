"""Rate cards kept between runs (gearshift.ingest.cards): what a later run prices from without
loading the catalog must be what it would have priced from the catalog."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gearshift.catalog import load_catalog
from gearshift.catalog.sources import price_spec
from gearshift.ingest.cards import MISSING, SavedCards, cards_path, identity
from gearshift.ingest.claude_code import ingest_claude_code
from gearshift.ingest.parse import NATIVE
from gearshift.ingest.pricing import EntryPricer
from gearshift.ingest.sample import generate_corpus
from gearshift.ledger.lite import LiteLedger
from gearshift.ledger.urls import resolve_location

# Cards are what the C parser prices with (the module imports it).
parse_native = pytest.importorskip(
    "gearshift.ingest.parse_native", reason="the C extension gearshift.ingest._scan is not built"
)
native = pytest.mark.skipif(not NATIVE, reason="the C parser is not in use")


def test_the_identity_is_the_prices_the_mode_and_the_code(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text('name = "mine"\nrevision = "1"\n')
    base = identity("anthropic", "auto")
    assert base is not None and base == identity("anthropic", "auto")
    others = {
        identity("anthropic", "calculate"),
        identity("article", "auto"),
        identity(str(mine), "auto"),
    }
    assert base not in others and None not in others and len(others) == 3
    before = identity(str(mine), "auto")
    mine.write_text('name = "mine"\nrevision = "2"\n')  # an edited price file
    assert identity(str(mine), "auto") != before
    assert identity(str(tmp_path / "gone.toml"), "auto") is None
    assert price_spec(None) == "anthropic"


def _cards(tmp_path: Path, mode: str = "auto") -> SavedCards:
    return SavedCards("anthropic", mode, str(tmp_path / "cards.json"))


def _pricer(saved: SavedCards | None, loads: list[int]) -> EntryPricer:
    def load() -> object:
        loads.append(1)
        return load_catalog(None)

    return EntryPricer(load, "auto", saved=saved)  # type: ignore[arg-type]


@native
def test_saved_cards_price_every_day_as_the_catalog_does(tmp_path: Path) -> None:
    """Cards are made for every period of a model at once; read back by a later run they give,
    for any day (before the first period, across a price change, long after), the card the
    catalog gives -- and that later run never loads the catalog."""
    model = load_catalog(None).find("claude-sonnet-5-5")
    assert model is not None and len(model.periods) == 2
    change = (model.periods[1].since - parse_native._EPOCH_DATE).days
    days = [change - 400, change - 1, change, change + 1, change + 5000]
    names = ["claude-sonnet-5-5", "claude-opus-4-6", "gpt-5", "<synthetic>"]
    loads: list[int] = []
    first = _pricer(_cards(tmp_path), loads)
    made = {
        (name, day, fast, error): parse_native._card(first, name, day, fast, error)
        for name in names
        for day in days
        for fast in (False, True)
        for error in (False, True)
    }
    assert loads == [1]
    first.saved.save()  # type: ignore[union-attr]
    fresh = EntryPricer(load_catalog(None), "auto")  # no saved cards: straight from the catalog
    later_loads: list[int] = []
    later = _pricer(_cards(tmp_path), later_loads)
    for (name, day, fast, error), card in made.items():
        assert card == parse_native._card(fresh, name, day, fast, error), (name, day)
        assert parse_native._card(later, name, day, fast, error) == card
    assert later.version == fresh.version
    assert later_loads == []  # every card was saved


def test_a_card_missing_from_the_file_is_made_and_the_file_rewritten(tmp_path: Path) -> None:
    loads: list[int] = []
    pricer = _pricer(_cards(tmp_path), loads)
    parse_native._card(pricer, "claude-haiku-4-5", 20_600, False, False)
    pricer.saved.save()  # type: ignore[union-attr]
    again = _pricer(_cards(tmp_path), loads)
    assert again.saved.get("claude-haiku-4-5", 20_600, False, False) is not MISSING  # type: ignore[union-attr]
    assert again.saved.get("claude-opus-4-6", 20_600, False, False) is MISSING  # type: ignore[union-attr]
    parse_native._card(again, "claude-opus-4-6", 20_600, False, False)
    again.saved.save()  # type: ignore[union-attr]
    doc = json.loads((tmp_path / "cards.json").read_text())
    assert [item[0] for item in doc["cards"]] == ["claude-haiku-4-5", "claude-opus-4-6"]
    assert loads == [1, 1]


@pytest.mark.parametrize(
    "damage",
    [
        lambda doc: "not json{",
        lambda doc: json.dumps({**doc, "identity": "another"}),
        lambda doc: json.dumps({**doc, "cards": [["m", False, False, [[0, ["r", "x"]]]]]}),
        lambda doc: json.dumps({**doc, "cards": [["m", 0, False, [[0, None]]]]}),
        lambda doc: json.dumps({**doc, "cards": [["m", False, False, [[5, None], [5, None]]]]}),
        lambda doc: json.dumps([doc]),
    ],
)
def test_a_damaged_or_foreign_file_is_passed_over(tmp_path: Path, damage: object) -> None:
    loads: list[int] = []
    pricer = _pricer(_cards(tmp_path), loads)
    card = parse_native._card(pricer, "claude-haiku-4-5", 20_600, False, False)
    pricer.saved.save()  # type: ignore[union-attr]
    path = tmp_path / "cards.json"
    path.write_text(damage(json.loads(path.read_text())))  # type: ignore[operator]
    again = _cards(tmp_path)
    assert again.version is None and again.get("claude-haiku-4-5", 20_600, False, False) is MISSING
    redo = _pricer(again, loads)
    assert parse_native._card(redo, "claude-haiku-4-5", 20_600, False, False) == card
    again.save()
    assert json.loads(path.read_text())["identity"] == identity("anthropic", "auto")


def test_an_unwritable_cache_is_passed_over(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    saved = SavedCards("anthropic", "auto", str(blocker / "sub" / "cards.json"))
    pricer = _pricer(saved, [])
    assert parse_native._card(pricer, "claude-haiku-4-5", 20_600, False, False) is not None
    saved.save()  # cannot make the folder: nothing raised, nothing left behind
    assert os.listdir(tmp_path) == ["file"]


def test_no_identity_means_no_saved_cards(tmp_path: Path) -> None:
    saved = SavedCards(str(tmp_path / "gone.toml"), "auto", str(tmp_path / "cards.json"))
    assert not saved.usable
    pricer = _pricer(saved, [])
    assert parse_native._card(pricer, "claude-haiku-4-5", 20_600, False, False) is not None
    saved.save()
    assert not (tmp_path / "cards.json").exists()


def test_the_default_place_follows_xdg_cache_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    assert cards_path() == str(tmp_path / "c" / "gearshift" / "rate-cards.json")


@native
def test_an_ingest_with_saved_cards_records_what_one_without_records(tmp_path: Path) -> None:
    """The same corpus into two ledgers -- the first run makes and saves the cards, the second
    prices from them (it needs the catalog only for the legacy lines with a ``costUSD``): the
    same records, to the nano-dollar."""
    corpus = tmp_path / "corpus"
    generate_corpus(corpus, size_bytes=3_000_000, seed=11)
    path = str(tmp_path / "cards.json")
    rows = []
    written = []
    for name in ("cold", "warm"):
        ledger = LiteLedger.open_or_create(
            resolve_location(str(tmp_path / f"{name}.db")), lambda: load_catalog(None)
        )
        assert ledger is not None
        with ledger:
            cards = SavedCards("anthropic", "auto", path)
            summary = ingest_claude_code(ledger, [corpus], rate_cards=cards)
            assert summary.new_records > 200
            rows.append(
                ledger.query(
                    "SELECT dedup_key, ts_us, agent, model, tier, cost_nanos, price_version,"
                    " input_tokens, output_tokens, cache_write_5m_tokens, cache_write_1h_tokens,"
                    " cache_read_tokens, status, flags, tags FROM executions ORDER BY dedup_key"
                )
            )
        written.append(os.stat(path).st_ino)  # a rewrite replaces the file: a new inode
    assert rows[0] == rows[1]
    assert written[0] == written[1]  # the warm run found every card it needed


@native
def test_a_hook_run_with_saved_cards_loads_no_catalog(tmp_path: Path) -> None:
    """`gearshift ingest claude-code` after an earlier run: new lines of known models are priced
    from the saved cards; the catalog's modules, decimal and enum are never loaded."""
    reference = Path(__file__).parents[1] / "data" / "claude_code" / "reference"
    tree = tmp_path / "claude"
    shutil.copytree(reference, tree)
    ledger = str(tmp_path / "l.db")
    env = {**os.environ, "TZ": "UTC"}
    command = [sys.executable, "-m", "gearshift", "--ledger", ledger, "ingest", "claude-code"]
    subprocess.run([*command, str(tree)], check=True, env=env, capture_output=True)
    assert Path(cards_path()).exists()
    transcript = max(tree.rglob("*.jsonl"), key=lambda p: p.stat().st_size)
    line = next(ln for ln in transcript.read_text().splitlines() if '"usage"' in ln)
    record = json.loads(line)
    record["message"]["id"] = f"msg_01{random.Random(3).getrandbits(64):x}"
    record["requestId"] = "req_011Cnew"
    with transcript.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    probe = (
        "import runpy, sys, atexit\n"
        "atexit.register(lambda: print('LOADED', sorted(m for m in ('decimal', 'enum',"
        " 'gearshift.catalog.prices', 'gearshift.catalog.models') if m in sys.modules),"
        " file=sys.stderr))\n"
        "sys.argv = ['gearshift', *sys.argv[1:]]\n"
        "runpy.run_module('gearshift', run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *command[3:], str(tree), "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["new_records"] == 1
    assert "LOADED []" in done.stderr
