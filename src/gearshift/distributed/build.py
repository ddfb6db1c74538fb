"""How a worker builds a stored run again: the prices it was submitted with, its pipeline (from
the stored path when that holds the same text, else from the stored text), and the provider its
options name, inside the one retry loop and the shared rate limits."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gearshift.catalog import Catalog
    from gearshift.distributed.ratelimit import SharedRateLimiter
    from gearshift.providers.base import Provider

__all__ = ["ProviderFactory", "default_provider", "run_catalog", "stored_pipeline"]

#: Builds the provider a run's options name, the shared rate limiter (if any) inside its retry
#: loop (tests and the bench wrap it).
ProviderFactory = Callable[[dict[str, Any], Any, "SharedRateLimiter | None"], "Provider"]


def run_catalog(run_id: str, options: dict[str, Any], own: Catalog) -> Catalog:
    """The prices the run was submitted with (``--prices``: a bundled profile, or a price
    file's text stored with the run), so every worker prices it as the submitter would; the
    worker's own catalogue when the run named none."""
    from gearshift.catalog.prices import catalog_from_text, load_catalog

    spec = options.get("prices")
    if not spec:
        return own
    text = options.get("prices_text")
    if isinstance(text, str):
        return catalog_from_text(text, f"{spec} (as stored with run {run_id})")
    return load_catalog(str(spec))


def stored_pipeline(path: str, body: str, options: dict[str, Any], catalog: Any, sim: bool) -> Any:
    from gearshift.engine.pipeline import load_pipeline

    agent_dirs = [Path(p) for p in options.get("agents_dir") or ()]
    allow = bool(options.get("allow_commands"))  # as the submitter was allowed (the ledger is
    stored = Path(path)  # trusted; the agent files found on this host are checked again)
    try:
        same = stored.read_text(encoding="utf-8") == body
    except OSError:
        same = False
    if same:
        return load_pipeline(
            stored, catalog=catalog, agent_dirs=agent_dirs, sim=sim, allow_commands=allow
        )
    with tempfile.TemporaryDirectory(prefix="gearshift-run-") as tmp:
        copy = Path(tmp) / (stored.name or "pipeline.yaml")
        copy.write_text(body, encoding="utf-8")
        pipeline = load_pipeline(
            copy, catalog=catalog, agent_dirs=agent_dirs, sim=sim, allow_commands=allow
        )
    # a relative workdir: is the submitter's, beside the file it named, not the copy's folder
    # (gone by now): on a host without that folder the job's commands fail in the open
    for job in pipeline.jobs:
        if job.workdir is not None and job.workdir.is_relative_to(tmp):
            job.workdir = stored.parent / job.workdir.relative_to(tmp)
    return pipeline


def default_provider(
    options: dict[str, Any], catalog: Any, limiter: SharedRateLimiter | None = None
) -> Provider:
    """The provider a run's options name, inside the one retry loop (as ``gearshift run``
    builds it), capped per worker by ``provider_concurrency`` and paced by the shared rate
    limits when the run has them."""
    from gearshift.errors import AuthError
    from gearshift.providers import RetryingProvider, get_provider

    name = str(options.get("provider") or "anthropic")
    if name == "sim":
        inner = get_provider(
            "sim",
            seed=int(options.get("seed") or 0),
            time_scale=float(options.get("time_scale") or 0.0),
            catalog=catalog,
        )
    elif name == "anthropic":
        if not os.environ.get("ANTHROPIC_API_KEY"):
            raise AuthError(
                "the worker needs ANTHROPIC_API_KEY for runs on --provider anthropic",
                hint="set it in the worker's environment (systemd EnvironmentFile=)",
            )
        inner = get_provider("anthropic", catalog=catalog)
    else:
        inner = get_provider(name)
    if limiter is not None:
        from gearshift.distributed.ratelimit import RateLimitedProvider

        inner = RateLimitedProvider(inner, limiter, catalog)
    provider: Provider = RetryingProvider(inner)
    if options.get("provider_concurrency"):
        from gearshift.providers.limit import LimitedProvider

        provider = LimitedProvider(provider, int(options["provider_concurrency"]))
    return provider
