"""The automatic assessor: rubric scores from the words of a task, with the evidence for each.

Routing runs on every task, so the default assessor must be fast, deterministic and explainable:
no model call, the same answer every time, and a reason a person can check. It reads the task
text (and, when the text says little, its agent's role and description) and scores the article's
three questions from cues — phrases that say something about a question:

* **Kind-of-work cues** set all three scores at once from the article's task lists: linting,
  formatting, parsing, schema validation, short summaries and boilerplate sit at 1; code review,
  docs, debugging, analysis and orchestration at 2; architecture, deep debugging, large
  refactoring, security analysis and novel problems at 3 (each with its own profile).
* **Question cues** speak to one question: "across services" and "race condition" to multi-step
  reasoning, "trade-offs" and "recommend" to judgment, "production", "payment" and
  "vulnerability" to the cost of being wrong.
* **Damping cues** ("typo", "single file", "draft") lower a score by one.

Each question takes the *highest* level any cue gives it (a task is as hard as its hardest
part), then damping applies. A task whose first verb is a bounded, mechanical action
(summarize, format, list, convert, ...) has its cost-of-being-wrong capped at 2: the output is
checkable, so a sensitive subject ("summarize the security advisory") does not make it risky.
A question no cue speaks to gets 2, the article's Sonnet default.

The cue tables were tuned on the calibration part of ``tests/data/labelled_tasks.jsonl`` only;
docs/routing.md reports accuracy on the held-out part.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from gearshift.routing.rubric import DIMENSIONS, Assessment, Scores

__all__ = ["Cue", "KeywordEstimator"]

Levels = tuple[int | None, int | None, int | None]


@dataclass(frozen=True, slots=True)
class Cue:
    """A phrase pattern and the level (1-3, or ``None`` for no opinion) it gives each question."""

    name: str
    pattern: str
    levels: Levels


def _c(name: str, pattern: str, m: int | None, j: int | None, s: int | None) -> Cue:
    return Cue(name, pattern, (m, j, s))


# Kinds of work (the article's lists). Patterns are matched against lower-cased text.
KIND_CUES: tuple[Cue, ...] = (
    _c(
        "linting",
        r"\b(?:lint\w*|ruff|eslint|pylint|flake8|clippy|tflint|mypy|style guide|"
        r"naming convention|code style|unused (?:imports?|variables?)|bare except|"
        r"shadowed builtins?|"
        r"flag (?:functions|violations)|longer than \d+ lines)\b",
        1,
        1,
        1,
    ),
    _c(
        "formatting",
        r"\b(?:format\w*|reformat\w*|prettier|black|isort|sort the imports|indentation|"
        r"line endings|trailing whitespace|tabs with|wrap the lines|align the)\b",
        1,
        1,
        1,
    ),
    _c(
        "test writing",
        r"\b(?:(?:write|add|generate|create)\b[\w ,-]{0,30}\btests?|test cases|"
        r"unit tests?|snapshot tests|coverage)\b",
        1,
        1,
        1,
    ),
    _c(
        "boilerplate",
        r"\b(?:scaffold\w*|boilerplate|skeleton|getters?|setters?|crud|stub\w*|"
        r"directory structure|dockerfile|__init__|interfaces from|workflow that runs|"
        r"(?:folder|project) (?:layout|structure))\b",
        1,
        1,
        1,
    ),
    _c(
        "schema validation",
        r"\b(?:validate|verify that|confirm that|check that|json schema|"
        r"schema|required keys|duplicate ids)\b",
        1,
        1,
        1,
    ),
    _c(
        "parsing",
        r"\b(?:parse|parsing|convert|transform|normalize|flatten|extract|pull the|"
        r"csv|json lines|e\.164|iso 8601)\b",
        1,
        1,
        1,
    ),
    _c(
        "short summary",
        r"\b(?:summari[sz]e\w*|summary|tl;?dr|key facts|action items|condense|"
        r"abstract|chunk|bullet points|list the|count the)\b",
        1,
        1,
        1,
    ),
    _c("rename", r"\b(?:rename|typo|to an enum|update the readme|readme's)\b", 1, 1, 1),
    _c("code review", r"\b(?:review\w*|pull request|pr #?\d+|the diff|feedback on)\b", 2, 2, 2),
    _c(
        "docs",
        r"\b(?:document\w*|docs? page|docstrings?|readme|tutorial|guide|api reference|"
        r"runbook|blog post|release notes|email to)\b",
        2,
        2,
        1,
    ),
    _c(
        "debugging",
        r"\b(?:debug\w*|fix (?:it|the|this)|fails?|failing|error|exception|"
        r"stack trace|traceback|returns 500|why|off-by-one|flaky|crash\w*|exits? with)\b",
        2,
        2,
        2,
    ),
    _c(
        "analysis",
        r"\b(?:analy[sz]\w*|metrics|benchmark|patterns|flame graph|a/b test|"
        r"compare|churn\w*|estimate|identify|spend report|slow-query)\b",
        2,
        2,
        1,
    ),
    _c("classification", r"\b(?:triage|classify|categori[sz]e|label each)\b", 1, 2, 1),
    _c(
        "orchestration",
        r"\b(?:orchestrat\w*|coordinate|delegate|subagents?|subtasks|"
        r"route (?:each|them|the)|which agents?|assign each|incoming tasks)\b",
        2,
        2,
        1,
    ),
    _c("implementation", r"\b(?:implement\w*|build the|rules engine)\b", 2, 2, 2),
    _c(
        "architecture",
        r"\b(?:architect(?:ure|ural)? (?:decisions?|for)|design (?:the|a|an)\b|"
        r"propose an architecture|system design|design complex|choose between|trade-?offs?|"
        r"shard\w*|multi-tenant|security architecture)\b",
        3,
        3,
        3,
    ),
    _c(
        "deep debugging",
        r"\b(?:root cause|deadlock\w*|memory leak|race condition|races?|"
        r"heisenbug|intermittent\w*|occasionally|corrupt\w*|processed twice|charge\w* "
        r"customers twice|only (?:at|under|between|in)|segfault|core dump)\b",
        3,
        2,
        3,
    ),
    _c(
        "refactoring",
        r"\b(?:refactor\w*|restructure|untangle|god class|circular imports|"
        r"migrate|callback-based|one code path)\b",
        2,
        2,
        2,
    ),
    _c(
        "security analysis",
        r"\b(?:threat-?model\w*|vulnerab\w*|exploit\w*|injection|"
        r"path traversal|ssrf|privilege escalation|authentication bypass\w*|session fixation|"
        r"algorithm confusion|cve-[\d-]+|encryption|cryptograph\w*|security flaws?|cors|csp|"
        r"personal data)\b",
        3,
        3,
        3,
    ),
    _c(
        "novel problem",
        r"\b(?:invent|novel|first principles|never (?:been|routed|done)|"
        r"no library|come up with|devise|prove|counterexample|a way to|an algorithm|"
        r"research and|reverse-engineer\w*|undocumented)\b",
        3,
        3,
        2,
    ),
)

QUESTION_CUES: tuple[Cue, ...] = (
    _c(
        "wide scope",
        r"\b(?:across (?:the |all |every |multiple |our )?\w+|every internal|"
        r"multiple services|three services|several|end-to-end|without downtime|"
        r"preserv\w+ (?:behaviou?r|every invariant|invariants)|into separate|cohesive modules|"
        r"without breaking)\b",
        3,
        None,
        None,
    ),
    _c(
        "concurrency", r"\b(?:concurren\w*|async|distributed|failover|replicat\w*)\b", 3, None, None
    ),
    _c(
        "trade-off",
        r"\b(?:trade-?offs?|weigh\w*|justify|pros and cons|evaluat\w*|strategy|"
        r"an approach|ambiguous|vague|strengths and weaknesses)\b",
        None,
        3,
        None,
    ),
    _c(
        "decision", r"\b(?:decid\w*|assess\w*|recommend\w*|choose|pick|suggest\w*)\b", None, 2, None
    ),
    _c("deeper tests", r"\b(?:property-based|invariants?)\b", 2, 2, None),
    _c("audience", r"\b(?:audience|customers|public|new contributors|team)\b", None, 2, None),
    _c(
        "money",
        r"\b(?:payments?|billing|invoices?|charge\w*|discount|coupons?|"
        r"financial)\b",
        None,
        None,
        2,
    ),
    _c(
        "production",
        r"\b(?:production|prod|outage|incident|customer data|drops? the|"
        r"medical|hospitals?|secrets?|auth\w*|security|sessions?)\b",
        None,
        None,
        2,
    ),
    _c(
        "severe",
        r"\b(?:data loss|vulnerab\w*|breach|leak\w*|exploit\w*|irreversible|"
        r"another user's)\b",
        None,
        None,
        3,
    ),
)

DAMPING_CUES: tuple[Cue, ...] = (
    _c(
        "tiny change",
        r"\b(?:typo|two-line|one-line|trivial|single (?:file|function|line)|"
        r"small)\b",
        -1,
        -1,
        -1,
    ),
    _c("low stakes", r"\b(?:draft|prototype|scratch|throwaway|internal)\b", None, None, -1),
    _c("cosmetic", r"\b(?:style-only|cosmetic)\b", -1, None, -1),
)

_BOUNDED_VERBS = frozenset(
    (
        "summarize",
        "summarise",
        "condense",
        "list",
        "count",
        "extract",
        "convert",
        "parse",
        "normalize",
        "flatten",
        "format",
        "reformat",
        "sort",
        "align",
        "wrap",
        "replace",
        "lint",
        "run",
        "scan",
        "chunk",
        "rename",
        "validate",
        "check",
        "scaffold",
        "generate",
        "create",
        "transform",
    )
)
_LEAD = re.compile(r"^\W*(?:please\s+|can you\s+)?([a-z]+)")


@dataclass(frozen=True, slots=True)
class _Compiled:
    cue: Cue
    regex: re.Pattern[str]
    kind: bool
    top: int


def _compile(cues: Sequence[Cue], *, kind: bool) -> tuple[_Compiled, ...]:
    return tuple(
        _Compiled(c, re.compile(c.pattern), kind, max((v for v in c.levels if v), default=0))
        for c in cues
    )


class KeywordEstimator:
    """Scores the three rubric questions from cue phrases; see the module docstring.

    Instances are immutable after construction and safe to share between threads. Pass your own
    cue tables to adapt the estimator to a team's vocabulary; ``default`` is the score of a
    question no cue speaks to.
    """

    name = "estimator"

    def __init__(
        self,
        kinds: Sequence[Cue] = KIND_CUES,
        questions: Sequence[Cue] = QUESTION_CUES,
        damping: Sequence[Cue] = DAMPING_CUES,
        *,
        default: int = 2,
        bounded_verbs: frozenset[str] = _BOUNDED_VERBS,
    ) -> None:
        self._kinds = _compile(kinds, kind=True)
        self._raising = (*self._kinds, *_compile(questions, kind=False))
        self._damping = _compile(damping, kind=False)
        self._default = default
        self._bounded = bounded_verbs

    def estimate(self, text: str, *, role: str = "", description: str = "") -> Assessment:
        """Assess ``text``; the agent's ``role``/``description`` fill in when the text names no
        kind of work."""
        lowered = text.lower()
        levels: list[int | None] = [None, None, None]
        evidence: list[list[str]] = [[], [], []]
        lead = _LEAD.match(lowered)
        bounded_at = lead.start(1) if lead and lead.group(1) in self._bounded else -1
        named_kind = self._raise(lowered, levels, evidence, "", bounded_at)
        if not named_kind and (role or description):
            self._raise(f"{role}. {description}".lower(), levels, evidence, "agent: ", -1)
        for i in range(3):
            if levels[i] is None:
                levels[i] = self._default
                evidence[i].append(f"no cue: default {self._default}")
        self._damp(lowered, levels, evidence)
        if lead and bounded_at >= 0 and (levels[2] or 0) > 2:
            levels[2] = 2
            evidence[2].append(f"capped at 2: '{lead.group(1)}' is a bounded, checkable action")
        scores = Scores(*(max(1, min(3, v or 1)) for v in levels))
        return Assessment(
            scores, self.name, dict(zip(DIMENSIONS, map(tuple, evidence), strict=True))
        )

    async def assess(self, text: str, *, role: str = "", description: str = "") -> Assessment:
        """The :class:`~gearshift.routing.assessor.Assessor` interface (no I/O, so no waiting)."""
        return self.estimate(text, role=role, description=description)

    def _raise(
        self,
        text: str,
        levels: list[int | None],
        evidence: list[list[str]],
        prefix: str,
        bounded_at: int,
    ) -> bool:
        """Apply the raising cues found in ``text``; return whether it names a kind of work.

        A mechanical task names other kinds of work only as its object ("summarize the
        reviews", "extract the error code"): when the first kind named is a level-1 kind, other
        level-2 kinds are ignored, and when it is the task's leading bounded verb ("condense
        the vulnerability report"), level-3 kinds are ignored too.
        """
        found = [(c, m) for c in self._raising if (m := c.regex.search(text)) is not None]
        kinds = [(m.start(), c) for c, m in found if c.kind]
        lead_at, lead = min(kinds, key=lambda pair: pair[0]) if kinds else (-1, None)
        ignored = 1  # kinds with a top level in 2..ignored are skipped: none by default
        if lead is not None and lead.top == 1:
            ignored = 3 if lead_at == bounded_at else 2
        for compiled, match in found:
            if compiled.kind and 1 < compiled.top <= ignored:
                continue
            for i, level in enumerate(compiled.cue.levels):
                if level is None:
                    continue
                current = levels[i]
                note = f"{prefix}'{match.group()}' ({compiled.cue.name})"
                if current is None or level > current:
                    levels[i] = level
                    evidence[i] = [f"{note} -> {level}"]
                elif level == current:
                    evidence[i].append(note)
        return bool(kinds)

    def _damp(self, text: str, levels: list[int | None], evidence: list[list[str]]) -> None:
        for compiled in self._damping:
            match = compiled.regex.search(text)
            if match is None:
                continue
            for i, delta in enumerate(compiled.cue.levels):
                if delta is not None and (levels[i] or 0) > 1:
                    levels[i] = (levels[i] or 1) + delta
                    evidence[i].append(f"'{match.group()}' ({compiled.cue.name}) {delta:+d}")
