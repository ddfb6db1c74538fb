"""Learning in a few calls: train from the ledger, report on it, and build a router that uses
the newest trained model (with the rubric chain when none is trained)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gearshift.catalog import Catalog
from gearshift.learn.artefact import load_latest, store
from gearshift.learn.outcomes import training_outcomes
from gearshift.learn.train import FitOptions, fit
from gearshift.ledger.learning import StoredModel, outcome_counts
from gearshift.routing.learned import LearnedPolicy
from gearshift.routing.predictor import Predictor
from gearshift.routing.router import Router, default_chain

if TYPE_CHECKING:
    from gearshift.agents.definition import AgentDefinition
    from gearshift.ledger.store import Ledger

__all__ = ["fit_ledger", "learned_policy", "learned_router", "status"]


def fit_ledger(
    ledger: Ledger,
    *,
    since: dt.datetime | None = None,
    options: FitOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[StoredModel, Predictor]:
    """Train on the ledger's outcomes (imported and validated executions) since ``since`` and
    store the model as the newest."""
    from importlib.metadata import version

    outcomes = training_outcomes(ledger, since)
    predictor = fit(outcomes, options, progress=progress, version=version("gearshift"))
    predictor.meta["since"] = since.isoformat() if since is not None else None
    return store(ledger, predictor), predictor


def learned_policy(
    ledger: Ledger,
    catalog: Catalog | None = None,
    *,
    failure_cost_usd: Decimal | str = Decimal("0.10"),
    explore: float = 0.05,
    min_p: float = 0.5,
    min_evidence: int = 30,
    rng: random.Random | None = None,
) -> LearnedPolicy | None:
    """The learned policy on the ledger's newest model, or ``None`` when none is trained."""
    found = load_latest(ledger)
    if found is None:
        return None
    return LearnedPolicy(
        found[1],
        catalog or ledger.catalog,
        failure_cost_usd=Decimal(failure_cost_usd),
        min_p=min_p,
        min_evidence=min_evidence,
        explore=explore,
        rng=rng or random.Random(),
    )


def learned_router(
    ledger: Ledger,
    *,
    agents: Mapping[str, AgentDefinition] | None = None,
    failure_cost_usd: Decimal | str = Decimal("0.10"),
    explore: float = 0.05,
    **chain: Any,
) -> Router:
    """A router with the default chain, plus the ``learned`` policy when the ledger holds a
    trained model. ``chain`` goes to :func:`~gearshift.routing.router.default_chain`."""
    catalog = ledger.catalog
    policy = learned_policy(ledger, catalog, failure_cost_usd=failure_cost_usd, explore=explore)
    return Router(catalog, agents=agents, policies=default_chain(catalog, learned=policy, **chain))


def status(ledger: Ledger) -> dict[str, Any]:
    """What the newest model learned from, how it scored on held-out data and its age."""
    counts = outcome_counts(ledger)
    found = load_latest(ledger)
    if found is None:
        return {"trained": False, "outcomes_available": counts}
    stored, predictor = found
    meta = predictor.meta
    created = dt.datetime.fromisoformat(meta["created"])
    age = dt.datetime.now(dt.UTC) - created
    return {
        "trained": True,
        "model_id": stored.id,
        "created": meta["created"],
        "age_days": round(age.total_seconds() / 86400, 2),
        "gearshift_version": meta.get("gearshift_version"),
        "format_version": meta.get("format_version"),
        "feature_version": meta.get("feature_version"),
        "mode": meta.get("mode"),
        "since": meta.get("since"),
        "summary": meta["summary"],
        "metrics": meta["metrics"],
        "outcomes_available": counts,
        "new_since_fit": max(0, sum(counts.values()) - int(meta["summary"]["outcomes"])),
    }
