"""The pages' frame: the document, the navigation, the filter form, small parts they share.

Every value that reaches the markup goes through :func:`esc` -- agent names, task texts, model
and project names come from transcripts and prompts, and are shown, never interpreted. The one
script and the style sheet are files of the package (``static/``), so the Content-Security-
Policy allows no inline script at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlencode

from gearshift.insight.charts import esc

__all__ = ["PAGES", "esc", "filter_form", "href", "kpi", "shell", "table"]

#: (path, title) of the pages, in the navigation's order.
PAGES = (("/", "Overview"), ("/agents", "Agents"), ("/executions", "Executions"), ("/live", "Live"))


def href(base: str, path: str, params: Mapping[str, str] | None = None) -> str:
    """A link to ``path`` under the app's mount point, with query ``params``, escaped for an
    attribute."""
    query = urlencode(sorted((params or {}).items()))
    return esc(f"{base}{path}" + (f"?{query}" if query else ""))


def shell(
    title: str, page: str, body: str, base: str, *, api: str = "", refresh: int | None = None
) -> str:
    """A whole page: head, navigation (``page`` marked current) and ``body``. ``api`` names
    the JSON endpoint the page shows (a link for people, ``data-api`` for tests); ``refresh``
    reloads it after that many seconds (no script needed)."""
    nav = "".join(
        f"<a href='{href(base, path)}'"
        + (" aria-current='page'" if path == page else "")
        + f">{esc(name)}</a>"
        for path, name in PAGES
    )
    source = (
        f"<a class='api' href='{esc(base + api)}' data-api='{esc(api)}'>JSON</a>" if api else ""
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)} · gearshift</title><link rel='icon' href='data:,'>"
        + (f"<meta http-equiv='refresh' content='{int(refresh)}'>" if refresh else "")
        + f"<link rel='stylesheet' href='{esc(base)}/static/app.css'>"
        f"<script src='{esc(base)}/static/app.js' defer></script></head>"
        f"<body data-page='{esc(page)}' data-base='{esc(base)}'>"
        f"<header><a class='brand' href='{href(base, '/')}'>gearshift</a><nav>{nav}</nav>"
        f"{source}</header><main>{body}</main><div id='tip' class='tip' hidden></div>"
        "</body></html>\n"
    )


_FIELDS = (
    ("since", "since", "2026-03-01, 7d, today"),
    ("until", "until", "inclusive"),
    ("project", "project", ""),
    ("agent", "agent", ""),
    ("model", "model", "exact id"),
    ("tier", "tier", "haiku, sonnet, opus"),
    ("source", "source", "api, claude-code, proxy…"),
    ("tag", "tag", "KEY=VALUE"),
    ("tz", "zone", "Europe/Paris"),
)


def filter_form(
    base: str,
    path: str,
    given: Mapping[str, str],
    *,
    choices: Sequence[tuple[str, str, Sequence[str]]] = (),
    extra: Iterable[tuple[str, str, str]] = (),
) -> str:
    """A GET form of the filters (and ``choices``: selects, ``extra``: more text fields), with
    the values given."""
    parts = []
    for name, label, options in choices:
        current = given.get(name, options[0] if options else "")
        opts = "".join(
            f"<option value='{esc(o)}'" + (" selected" if o == current else "") + f">{esc(o)}"
            "</option>"
            for o in options
        )
        parts.append(f"<label>{esc(label)}<select name='{esc(name)}'>{opts}</select></label>")
    for name, label, hint in (*extra, *_FIELDS):
        parts.append(
            f"<label>{esc(label)}<input name='{esc(name)}' value='{esc(given.get(name, ''))}' "
            f"placeholder='{esc(hint)}' autocomplete='off'></label>"
        )
    return (
        f"<form class='filters card' method='get' action='{esc(base + path)}'>"
        + "".join(parts)
        + "<button type='submit'>Apply</button>"
        + f"<a class='reset' href='{href(base, path)}'>reset</a></form>"
    )


def kpi(name: str, value: str, sub: str = "", ident: str = "") -> str:
    """A headline number; ``ident`` lets the live page's script update it."""
    attr = f" id='{esc(ident)}'" if ident else ""
    return (
        f"<div class='kpi'><span>{esc(name)}</span><b{attr}>{esc(value)}</b>"
        f"<small>{esc(sub)}</small></div>"
    )


def table(
    head: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    numeric: Iterable[int] = (),
    cls: str = "",
) -> str:
    """A table of already escaped cells (markup allowed: links); ``numeric`` columns align
    right. Wrapped so that a narrow screen scrolls it sideways instead of the page."""
    right = set(numeric)
    th = "".join(
        f"<th{' class=num' if i in right else ''}>{esc(h)}</th>" for i, h in enumerate(head)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if i in right else ''}>{cell}</td>" for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    klass = f" class='{esc(cls)}'" if cls else ""
    return (
        f"<div class='scroll'><table{klass}><thead><tr>{th}</tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )
