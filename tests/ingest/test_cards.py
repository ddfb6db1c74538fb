"""Rate cards kept between runs (gearshift.ingest.cards): what a later run prices from without
loading the catalog must be what it would have priced from the catalog."""

from __future__ import annotations

import datetime as dt
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
from gearshift.samples.claude_logs import generate_corpus
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


_MINE = """name = "mine"
revision = "1"

[[model]]
id = "claude-sonnet-5-5"
tier = "sonnet"

[[model.price]]
since = 2026-09-01
input = 3
output = 15
cache_write_5m = 3.75
cache_write_1h = 6
cache_read = 0.3

[[model.price]]
since = 2027-01-01
input = 1
output = 5
cache_write_5m = 1.25
cache_write_1h = 2
cache_read = 0.1
fast = 2.5
"""


@native
@pytest.mark.parametrize("mode", ["auto", "calculate", "display"])
@pytest.mark.parametrize("spec", ["anthropic", "article", "mine"])
def test_saved_cards_price_every_day_as_the_catalog_does(
    tmp_path: Path, mode: str, spec: str
) -> None:
    """Cards are made for every period of a model at once; read back by a later run they give,
    for any day (before the first period, across a price change, long after, beyond what a date
    holds), the card the catalog gives -- and that later run never loads the catalog. In every
    cost mode, with a bundled profile or a user's price file laid over the catalog."""
    if spec == "mine":
        (tmp_path / "mine.toml").write_text(_MINE)
        spec = str(tmp_path / "mine.toml")
    catalog = load_catalog(spec)
    model = catalog.find("claude-sonnet-5-5")
    assert model is not None
    changes = [(p.since - parse_native._EPOCH_DATE).days for p in model.periods]
    assert len(changes) >= (1 if spec == "article" else 2)  # the article's prices: one period
    days = [-800_000, changes[0] - 400, 3_000_000]
    days += [d + k for d in changes for k in (-1, 0, 1)]
    names = ["claude-sonnet-5-5", "claude-opus-4-6", "gpt-5", "<synthetic>", "CLAUDE-HAIKU-4-5"]
    loads: list[int] = []

    def pricer(saved: SavedCards | None, counted: list[int]) -> EntryPricer:
        def load() -> object:
            counted.append(1)
            return load_catalog(spec)

        return EntryPricer(load, mode, saved=saved)  # type: ignore[arg-type]

    first = pricer(SavedCards(spec, mode, str(tmp_path / "cards.json")), loads)
    made = {
        (name, day, fast, error): parse_native._card(first, name, day, fast, error)
        for name in names
        for day in days
        for fast in (False, True)
        for error in (False, True)
    }
    assert loads == [1]
    first.saved.save()  # type: ignore[union-attr]
    fresh = EntryPricer(catalog, mode)  # no saved cards: straight from the catalog
    later_loads: list[int] = []
    later = pricer(SavedCards(spec, mode, str(tmp_path / "cards.json")), later_loads)
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


def _rewrite(path: Path, cards: object, *, digest: bool = True, **changes: object) -> None:
    """The saved file with other cards (under a digest that matches them, unless not)."""
    from gearshift.ingest.cards import _payload_digest

    doc = json.loads(path.read_text())
    doc["cards"] = cards
    doc.update(changes)
    if digest:
        doc["digest"] = _payload_digest(doc["version"], cards)  # type: ignore[arg-type]
    path.write_text(json.dumps(doc))


_GOOD_R = ["r", "m", "sonnet", "V", -1, [1, 2, 3, 4, 5], None, 1, 1]


@pytest.mark.parametrize(
    "cards",
    [
        [["m", False, False, [[0, ["r", "x"]]]]],  # a card cut short
        [["m", 0, False, [[0, None]]]],  # fast is not a bool
        [["m", False, False, [[5, None], [5, None]]]],  # periods out of order
        [["m", False, False, []]],  # no period
        [["m", False, False, [[0, ["c", "m", "unknown", 5, "", True]]]]],  # a constant that costs
        [["m", False, False, [[0, ["c", "m", "unknown", 0, "v9", True]]]]],  # another version
        [["m", False, False, [[0, [*_GOOD_R[:5], [1, 2, -3, 4, 5], None, 1, 1]]]]],  # a rate < 0
        [["m", False, False, [[0, [*_GOOD_R[:7], 1, 0]]]]],  # a zero denominator
        [["m", False, False, [[0, ["r", "m", "sonnet", "other", *_GOOD_R[4:]]]]]],  # version
        "not a list",
    ],
)
def test_a_file_with_cards_this_code_does_not_write_is_passed_over(
    tmp_path: Path, cards: object
) -> None:
    pricer = _pricer(_cards(tmp_path), [])
    parse_native._card(pricer, "claude-haiku-4-5", 20_600, False, False)
    pricer.saved.save()  # type: ignore[union-attr]
    path = tmp_path / "cards.json"
    version = json.loads(path.read_text())["version"]
    cards = json.loads(json.dumps(cards).replace('"V"', json.dumps(version)))
    _rewrite(
        path, [*json.loads(path.read_text())["cards"], *cards] if isinstance(cards, list) else cards
    )
    again = _cards(tmp_path)
    assert again.version is None and again.get("claude-haiku-4-5", 20_600, False, False) is MISSING


def test_the_good_cards_of_a_rewritten_file_are_read(tmp_path: Path) -> None:
    """(What the test above changes is what makes the file unread.)"""
    pricer = _pricer(_cards(tmp_path), [])
    card = parse_native._card(pricer, "claude-haiku-4-5", 20_600, False, False)
    pricer.saved.save()  # type: ignore[union-attr]
    path = tmp_path / "cards.json"
    doc = json.loads(path.read_text())
    good = [*_GOOD_R[:3], doc["version"], *_GOOD_R[4:]]
    _rewrite(path, [*doc["cards"], ["m", False, False, [[0, good]]]])
    again = _cards(tmp_path)
    assert again.get("claude-haiku-4-5", 20_600, False, False) == card
    assert again.get("m", 0, False, False) == (*good[:5], (1, 2, 3, 4, 5), None, 1, 1)


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: "not json{",
        lambda text: "[" * 50_000,  # nesting deeper than any parser's stack
        lambda text: text.replace('"identity":"', '"identity":"0', 1),
        lambda text: text.replace('"digest":"', '"digest":"0', 1),
        lambda text: text.replace("000", "001", 1),  # a digit of a rate: the digest fails
        lambda text: json.dumps([json.loads(text)]),
    ],
)
def test_a_damaged_or_foreign_file_is_passed_over(tmp_path: Path, damage: object) -> None:
    loads: list[int] = []
    pricer = _pricer(_cards(tmp_path), loads)
    card = parse_native._card(pricer, "claude-haiku-4-5", 20_600, False, False)
    pricer.saved.save()  # type: ignore[union-attr]
    path = tmp_path / "cards.json"
    text = path.read_text()
    assert "000" in text
    path.write_text(damage(text))  # type: ignore[operator]
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


def _records(ledger: LiteLedger) -> list[tuple[object, ...]]:
    return ledger.query(
        "SELECT dedup_key, ts_us, agent, model, tier, cost_nanos, price_version, input_tokens,"
        " output_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, status,"
        " flags, tags FROM executions ORDER BY dedup_key"
    )


@native
@pytest.mark.parametrize("mode", ["auto", "calculate"])
def test_an_ingest_with_saved_cards_records_what_one_without_records(
    tmp_path: Path, mode: str
) -> None:
    """The same corpus into three ledgers: without saved cards, with cards that run makes and
    saves, and with the saved ones read back (the catalog is then needed only for the legacy
    lines with a ``costUSD``): the same records, to the nano-dollar."""
    corpus = tmp_path / "corpus"
    generate_corpus(corpus, size_bytes=3_000_000, seed=11)
    path = str(tmp_path / "cards.json")
    rows = {}
    inodes = []
    for name in ("none", "cold", "warm"):
        ledger = LiteLedger.open_or_create(
            resolve_location(str(tmp_path / f"{name}.db")), lambda: load_catalog(None)
        )
        assert ledger is not None
        with ledger:
            cards = None if name == "none" else SavedCards("anthropic", mode, path)
            summary = ingest_claude_code(ledger, [corpus], mode=mode, rate_cards=cards)  # type: ignore[arg-type]
            assert summary.new_records > 200
            rows[name] = _records(ledger)
        if cards is not None:
            inodes.append(os.stat(path).st_ino)  # a rewrite replaces the file: a new inode
    assert rows["cold"] == rows["none"] and rows["warm"] == rows["none"]
    assert inodes[0] == inodes[1]  # the warm run found every card it needed


def test_cards_of_another_mode_are_refused(tmp_path: Path) -> None:
    ledger = LiteLedger.open_or_create(
        resolve_location(str(tmp_path / "l.db")), lambda: load_catalog(None)
    )
    assert ledger is not None
    with ledger, pytest.raises(ValueError, match="rate cards of mode 'auto'"):
        ingest_claude_code(
            ledger, [tmp_path], mode="display", rate_cards=SavedCards("anthropic", "auto")
        )


@native
def test_cards_made_from_a_catalog_of_other_bytes_are_not_saved(tmp_path: Path) -> None:
    """A price file edited after the catalog was loaded from it (a long-lived process keeps its
    catalog): the cards made from that catalog are used by the run that made them, and never
    saved under the edited file's identity."""
    mine = tmp_path / "mine.toml"
    mine.write_text(_MINE)
    catalog = load_catalog(str(mine))  # kept by load_catalog for this process
    mine.write_text(_MINE.replace("input = 1\n", "input = 2\n"))
    saved = SavedCards(str(mine), "auto", str(tmp_path / "cards.json"))
    pricer = EntryPricer(lambda: load_catalog(str(mine)), "auto", saved=saved)
    day = (dt.date(2027, 3, 1) - parse_native._EPOCH_DATE).days
    card = parse_native._card(pricer, "claude-sonnet-5-5", day, False, False)
    assert card == parse_native._card(
        EntryPricer(catalog, "auto"), "claude-sonnet-5-5", day, False, False
    )
    saved.save()
    assert not (tmp_path / "cards.json").exists()


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"])
@pytest.mark.parametrize("saved", [False, True])
def test_a_timestamp_whose_utc_day_no_date_holds_is_priced_as_the_nearest(
    tmp_path: Path, stamp: str, saved: bool
) -> None:
    """Year 1 east of UTC (year 0 there) and year 9999 west of it: the first and the last price
    period, as on the nearest day a date holds -- never an error (a run stopped on it)."""
    reference = Path(__file__).parents[1] / "data" / "claude_code" / "reference"
    line = next(
        ln
        for f in sorted(reference.rglob("*.jsonl"))
        for ln in f.read_text().splitlines()
        if '"usage"' in ln and "costUSD" not in ln and "<synthetic>" not in ln
    )
    costs = []
    for when in (stamp, stamp[:4] + "-06-01T00:00:00Z"):
        record = json.loads(line)
        record["timestamp"] = when
        tree = tmp_path / when.replace(":", "") / "projects" / "p"
        tree.mkdir(parents=True)
        (tree / "s.jsonl").write_text(json.dumps(record) + "\n")
        ledger = LiteLedger.open_or_create(
            resolve_location(str(tree.parent.parent / "l.db")), lambda: load_catalog(None)
        )
        assert ledger is not None
        with ledger:
            cards = SavedCards("anthropic", "auto", str(tmp_path / "c.json")) if saved else None
            assert (
                ingest_claude_code(ledger, [tree.parent.parent], rate_cards=cards).new_records == 1
            )
            costs.append(ledger.query("SELECT cost_nanos, price_version FROM executions")[0])
    assert costs[0] == costs[1] and costs[0][0] > 0


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
