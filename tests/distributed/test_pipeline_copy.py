"""A worker whose copy of the pipeline file differs from the submitted text (or has none) loads
the stored text; its relative paths still mean what they meant beside the submitted file."""

from __future__ import annotations

from pathlib import Path

from gearshift.catalog import load_catalog
from gearshift.distributed.build import stored_pipeline

SUBMITTED = "tasks:\n  - {id: a, task: 'Write notes.md', workdir: out, outputs: [notes.md]}\n"


def test_a_relative_workdir_stays_beside_the_submitted_file(tmp_path: Path) -> None:
    stored = tmp_path / "project" / "p.yaml"
    stored.parent.mkdir()
    stored.write_text("tasks: []\n")  # this host's copy differs: the stored text is used
    (job,) = stored_pipeline(str(stored), SUBMITTED, {}, load_catalog(), True).jobs
    assert job.workdir == stored.parent / "out"
    missing = tmp_path / "elsewhere" / "p.yaml"  # no copy on this host at all
    (job,) = stored_pipeline(str(missing), SUBMITTED, {}, load_catalog(), True).jobs
    assert job.workdir == missing.parent / "out"
