"""Learning which tier each task really needs, from outcomes.

* outcomes: ``learn import`` files (:mod:`.files`, :mod:`.outcomes`) and the ledger's own
  validated executions;
* training (:mod:`.train`): a calibrated P(success | task, tier), stored in the ledger as a
  pickle-free artefact (:mod:`.artefact`);
* evaluation (:mod:`.evaluate`, :mod:`.curve`, :mod:`.metrics`, :mod:`.plot`): APGR and CPT
  against baselines, with bootstrap intervals;
* :func:`learned_router`: the routing chain with the ``learned`` policy.

Inference lives in :mod:`gearshift.routing` (features, predictor, policy); this package may use
the ledger, routing and the catalog. scikit-learn is the optional extra ``gearshift[learn]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gearshift._lazy import lazy_names

if TYPE_CHECKING:
    from gearshift.learn.api import fit_ledger, learned_policy, learned_router, status
    from gearshift.learn.artefact import FORMAT_VERSION, from_blob, load_latest, store, to_blob
    from gearshift.learn.curve import Curve, apgr, curve_of
    from gearshift.learn.evaluate import EvalReport, evaluate
    from gearshift.learn.files import parse_ladder, read_outcomes, read_wide
    from gearshift.learn.outcome import Outcome
    from gearshift.learn.outcomes import ImportResult, import_file, training_outcomes
    from gearshift.learn.train import FitOptions, fit

_WHERE = {
    "fit_ledger": ".api",
    "learned_policy": ".api",
    "learned_router": ".api",
    "status": ".api",
    "FORMAT_VERSION": ".artefact",
    "from_blob": ".artefact",
    "load_latest": ".artefact",
    "store": ".artefact",
    "to_blob": ".artefact",
    "Curve": ".curve",
    "apgr": ".curve",
    "curve_of": ".curve",
    "EvalReport": ".evaluate",
    "evaluate": ".evaluate",
    "parse_ladder": ".files",
    "read_outcomes": ".files",
    "read_wide": ".files",
    "Outcome": ".outcome",
    "ImportResult": ".outcomes",
    "import_file": ".outcomes",
    "training_outcomes": ".outcomes",
    "FitOptions": ".train",
    "fit": ".train",
}

__all__ = [
    "FORMAT_VERSION",
    "Curve",
    "EvalReport",
    "FitOptions",
    "ImportResult",
    "Outcome",
    "apgr",
    "curve_of",
    "evaluate",
    "fit",
    "fit_ledger",
    "from_blob",
    "import_file",
    "learned_policy",
    "learned_router",
    "load_latest",
    "parse_ladder",
    "read_outcomes",
    "read_wide",
    "status",
    "store",
    "to_blob",
    "training_outcomes",
]

__getattr__, __dir__ = lazy_names(__name__, _WHERE, __all__)
