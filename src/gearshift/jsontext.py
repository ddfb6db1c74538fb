"""Edits of JSON text that keep every byte they do not change.

A file people also edit by hand (Claude Code's settings.json) should come back from a tool with
its key order, indentation and spacing as they were: only what the tool adds, changes or removes
may differ. :class:`JsonText` finds values in the text with :mod:`json`'s own scanner and splices
new text in, written like the text around it -- the separator and indentation of the neighbouring
items, the space after a colon, the line ending; an empty container is opened one indentation
unit deeper than its line. Removing an item takes out exactly the text adding it put in, so an
addition followed by its removal gives back the bytes it started from.

Offsets change with every edit: find what to edit again after each one (:meth:`JsonText.find`).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["JsonText", "Span"]

_SPACE = " \t\n\r"
_DECODER = json.JSONDecoder()


class Span:
    """A value in the text: ``text[start:end]``, its parsed ``value``, and for an object member
    its ``key`` and where the key starts (``item_start``; for an array element, ``start``)."""

    __slots__ = ("end", "item_start", "key", "start", "value")

    def __init__(
        self, start: int, end: int, value: Any, key: str | None = None, item_start: int = -1
    ) -> None:
        self.start = start
        self.end = end
        self.value = value
        self.key = key
        self.item_start = start if item_start < 0 else item_start


class JsonText:
    """JSON text to edit in place. Build it from valid JSON (``json.JSONDecodeError`` otherwise,
    with the line and column of the problem)."""

    def __init__(self, text: str) -> None:
        json.loads(text)
        self.text = text
        self._colon, self._comma = ": ", ", "
        root = self.root()
        items = self.items(root) if isinstance(root.value, dict | list) else []
        if isinstance(root.value, dict) and items:
            self._colon = _colon_of(text, items[0])
        if len(items) > 1:
            between = text[items[0].end : items[1].item_start]
            if "\n" not in between:
                self._comma = between

    # -- finding ------------------------------------------------------------------------------

    def root(self) -> Span:
        start = _skip(self.text, 0)
        value, end = _DECODER.raw_decode(self.text, start)
        return Span(start, end, value)

    def find(self, *path: str | int) -> Span | None:
        """The value at ``path`` from the root (a key for an object, an index for an array), or
        ``None`` when a step is missing or does not fit its container. A key given twice in one
        object means its last value, as JSON parsers read it."""
        span = self.root()
        for step in path:
            if isinstance(step, str) and isinstance(span.value, dict):
                found = [m for m in self.items(span) if m.key == step]
                if not found:
                    return None
                span = found[-1]
            elif isinstance(step, int) and isinstance(span.value, list):
                if not 0 <= step < len(span.value):
                    return None
                span = self.items(span)[step]
            else:
                return None
        return span

    def index_of(self, container: Span, key: str) -> int:
        """The index among ``container``'s items of its (last) member ``key``; -1 if none."""
        keys = [m.key for m in self.items(container)]
        return len(keys) - 1 - keys[::-1].index(key) if key in keys else -1

    def line_of(self, span: Span) -> int:
        """The line (from 1) where ``span`` starts."""
        return self.text.count("\n", 0, span.item_start) + 1

    def items(self, container: Span) -> list[Span]:
        """The members of an object or the elements of an array, in order."""
        text, is_object = self.text, isinstance(container.value, dict)
        i = _skip(text, container.start + 1)
        out: list[Span] = []
        while text[i] not in "}]":
            key = None
            item_start = i
            if is_object:
                key, i = _DECODER.raw_decode(text, i)
                i = _skip(text, _skip(text, i) + 1)  # past the colon
            value, end = _DECODER.raw_decode(text, i)
            out.append(Span(i, end, value, key, item_start))
            i = _skip(text, end)
            if text[i] == ",":
                i = _skip(text, i + 1)
        return out

    # -- editing ------------------------------------------------------------------------------

    def replace(self, span: Span, value: Any) -> None:
        """Put ``value`` in place of the value at ``span`` (its key, if any, stays), over
        several lines where the old value or its item started a line, else on one."""
        text = self.text
        start = span.item_start
        while start > 0 and text[start - 1] in " \t":
            start -= 1
        if "\n" in text[span.start : span.end] or text[start - 1 : start] in ("\n", "\r"):
            new = self._format(value, self._indent(span.item_start))
        else:
            new = self._compact(value)
        self._splice(span.start, span.end, new)

    def add(self, container: Span, value: Any, key: str | None = None) -> None:
        """Append ``value`` to an array, or a member ``key: value`` to an object."""
        items = self.items(container)
        if not items and self._one_line():
            close = self._close(container)
            self._splice(container.start + 1, close, self._item(key, self._compact(value)))
            return
        if not items:
            indent = self._indent(container.start)
            inner = indent + self._unit()
            gap = self._newline() + inner
            item = self._item(key, self._format(value, inner))
            close = self._close(container)
            self._splice(container.start + 1, close, gap + item + self._newline() + indent)
            return
        last = items[-1]
        if len(items) > 1:
            sep = self.text[items[-2].end : last.item_start]
        else:
            before = self.text[container.start + 1 : last.item_start]
            if "\n" in before:
                sep = "," + self._newline() + before[before.rfind("\n") + 1 :]
            else:
                sep = self._comma
        if "\n" in sep:
            text = self._format(value, sep[sep.rfind("\n") + 1 :])
        else:
            text = self._compact(value)
        self._splice(last.end, last.end, sep + self._item(key, text))

    def remove(self, container: Span, index: int) -> None:
        """Take out item ``index`` of ``container`` with the separator that joined it."""
        items = self.items(container)
        item = items[index]
        if len(items) == 1:
            self._splice(container.start + 1, self._close(container), "")
        elif index == len(items) - 1:
            self._splice(items[index - 1].end, item.end, "")
        else:
            self._splice(item.item_start, items[index + 1].item_start, "")

    # -- style --------------------------------------------------------------------------------

    def _splice(self, start: int, end: int, new: str) -> None:
        self.text = self.text[:start] + new + self.text[end:]

    def _close(self, container: Span) -> int:
        """Where the closing bracket of ``container`` is."""
        return container.end - 1

    def _item(self, key: str | None, value_text: str) -> str:
        if key is None:
            return value_text
        return json.dumps(key, ensure_ascii=False) + self._colon + value_text

    def _indent(self, at: int) -> str:
        """The indentation of the line holding offset ``at``."""
        line = self.text.rfind("\n", 0, at) + 1
        end = line
        while end < at and self.text[end] in " \t":
            end += 1
        return self.text[line:end]

    def _unit(self) -> str:
        """One level of indentation: the first indented line's, else two spaces."""
        text = self.text
        i = text.find("\n")
        while i >= 0:
            j = i + 1
            while j < len(text) and text[j] in " \t":
                j += 1
            if j > i + 1 and j < len(text) and text[j] not in "\r\n":
                return text[i + 1 : j]
            i = text.find("\n", i + 1)
        return "  "

    def _one_line(self) -> bool:
        """Whether the text is JSON written on one line (an empty ``{}`` is not: it says
        nothing of its style)."""
        if "\n" in self.text:
            return False
        root = self.root()
        return isinstance(root.value, dict | list) and bool(root.value)

    def _newline(self) -> str:
        return "\r\n" if "\r\n" in self.text else "\n"

    def _format(self, value: Any, indent: str) -> str:
        """``value`` written over several lines, its inner lines starting with ``indent``."""
        if not isinstance(value, dict | list) or not value:
            return self._compact(value)
        text = json.dumps(
            value, indent=self._unit(), ensure_ascii=False, separators=(",", self._colon)
        )
        return text.replace("\n", self._newline() + indent)

    def _compact(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(self._comma, self._colon))


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _SPACE:
        i += 1
    return i


def _colon_of(text: str, first: Span) -> str:
    """What follows a key in the text (``": "``, ``":"``...), read off the first member."""
    key_end = _DECODER.raw_decode(text, first.item_start)[1]
    between = text[key_end : first.start]
    return between if "\n" not in between and between.strip() == ":" else ": "
