"""`gearshift schema FORMAT [--out FILE]`: the JSON Schema of a file format, for editors.

Each format's Structs are the ones its loader checks files against, so an editor pointed at the
schema (``# yaml-language-server: $schema=FILE`` for VS Code's YAML extension) completes keys and
flags mistakes the way ``gearshift`` would.
"""

from __future__ import annotations

import enum
import importlib
from pathlib import Path
from typing import Annotated

import typer

from gearshift.cli.common import dumps

#: format -> "module:function" returning the type(s) that describe it
FORMATS = {
    "pipeline": "gearshift.engine.pipeline:schema",
    "agents": "gearshift.agents.loaders:schema",
    "rules": "gearshift.routing.rules:schema",
    "workload": "gearshift.insight.workload:schema",
    "replay-policy": "gearshift.insight.replay:schema",
    "config": "gearshift.config:schema",
}

Format = enum.Enum("Format", {name: name for name in FORMATS}, type=str)  # type: ignore[misc]

_TITLES = {
    "pipeline": "gearshift pipeline file (gearshift run)",
    "agents": "agent definitions (Claude Code frontmatter, YAML specs, --agents JSON)",
    "rules": "task-router rules file (gearshift route --rules)",
    "workload": "workload file (gearshift plan)",
    "replay-policy": "replay policy file (gearshift replay --policy)",
    "config": "gearshift config file (config.toml)",
}


def register(app: typer.Typer) -> None:
    app.command("schema")(schema_cmd)


def schema_for(name: str) -> dict[str, object]:
    """The JSON Schema of format ``name`` (one of :data:`FORMATS`)."""
    from gearshift.formats.structs import json_schema

    module, _, function = FORMATS[name].partition(":")
    schema = json_schema(getattr(importlib.import_module(module), function)())
    return {"title": _TITLES[name], **schema}


def schema_cmd(
    file_format: Annotated[
        Format, typer.Argument(metavar="FORMAT", help="The file format.", show_default=False)
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the schema to FILE instead of printing it."),
    ] = None,
) -> None:
    """Print the JSON Schema of a file format, so editors validate and complete the files.

    FORMAT is one of: pipeline, agents, rules, workload, replay-policy, config. In VS Code with
    the YAML extension, write the schema to a file and start a YAML file with
    `# yaml-language-server: $schema=FILE`.
    """
    text = dumps(schema_for(file_format.value)) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote the {file_format.value} schema to {out}", err=True)
