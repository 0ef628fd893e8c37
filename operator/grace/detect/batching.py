"""Which PromQL queries can be asked as one and split back exactly: the pure decisions.

A fleet template gives many HealthNodes of a namespace the same expression but for one label
value (`app="checkout"`, `app="payments"`, ...). When every selector of the expression carries
that label with an equality matcher and every operation keeps series with different values of
it apart (per-series functions, aggregations that can group by it, arithmetic between two such
aggregations), then asking once with `app=~"checkout|payments"` and every aggregation grouped
`by (app)` returns, for each value, exactly the series the node's own query returns. Split by
that label, each node gets the very answer it would have got alone.

Anything outside that small grammar (`without`, `topk`, `on()`, `absent`, subqueries, a
selector without the label, values that are not plain words, ...) is simply not batched: the
node asks its own query, so a wrong rewrite can never happen, only a missed saving.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PLACEHOLDER = "\x00"
"""Stands for the varying label value inside a family's template (never valid PromQL)."""

MAX_BATCH = 64
"""Values per batched query: keeps the regex matcher and the answer small."""

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<dur>\d+(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*)(?![A-Za-z0-9_])
    | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<id>[A-Za-z_:][A-Za-z0-9_:]*)
    | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^(){}\[\],=<>])
    )""",
    re.VERBOSE,
)
_VALUE = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
_AGGREGATIONS = frozenset({"sum", "min", "max", "avg", "count", "group", "stddev", "stdvar"})
_FUNCTIONS = frozenset(
    {
        "rate", "irate", "increase", "delta", "idelta", "deriv", "resets", "changes",
        "abs", "ceil", "floor", "round", "sqrt", "exp", "ln", "log2", "log10",
        "clamp", "clamp_min", "clamp_max", "histogram_quantile", "quantile_over_time",
        "avg_over_time", "min_over_time", "max_over_time", "sum_over_time",
        "count_over_time", "last_over_time", "stddev_over_time", "stdvar_over_time",
        "present_over_time",
    }
)  # fmt: skip
_BINARY = frozenset({"+", "-", "*", "/", "%", "^", ">", "<", ">=", "<=", "==", "!="})


@dataclass(frozen=True)
class Family:
    """Queries that differ only in the value of `label`: `template` with that value left out."""

    template: str
    label: str


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


class _UnbatchableError(Exception):
    """Outside the grammar whose split is provably exact."""


def families(query: str) -> list[tuple[Family, str]]:
    """Every way this query can be batched: (its family, its own value of the family's label).

    A label qualifies when every selector matches it with `=` to one and the same plain value.
    """
    try:
        tokens = _tokens(query)
        _Parser(tokens, "").parse()  # the structure alone, before looking for labels
    except _UnbatchableError:
        return []
    found: list[tuple[Family, str]] = []
    for label in sorted(_equality_labels(tokens)):
        value = _common_value(tokens, label)
        if value is None:
            continue
        try:
            _Parser(tokens, label).parse()
        except _UnbatchableError:
            continue
        found.append((Family(_render(tokens, label, PLACEHOLDER), label), value))
    return found


def batched_query(family: Family, values: Sequence[str]) -> str:
    """One query for every value: the label matched by alternation, aggregations grouped by it."""
    if not values or len(values) > MAX_BATCH or not all(_VALUE.match(v) for v in values):
        raise ValueError("values must be 1..MAX_BATCH plain words")
    tokens = _tokens(family.template.replace(PLACEHOLDER, values[0]))
    alternation = "|".join(sorted(set(values)))
    return _render(tokens, family.label, alternation, regex=True, group=True)


def split(result: Any, label: str, values: Iterable[str]) -> dict[str, list[Any]]:
    """The batched answer's series by the label's value: each value's share, [] when none."""
    out: dict[str, list[Any]] = {value: [] for value in values}
    if not isinstance(result, list):
        return out
    for series in result:
        if not isinstance(series, Mapping):
            continue
        metric = series.get("metric")
        value = metric.get(label) if isinstance(metric, Mapping) else None
        if isinstance(value, str) and value in out:
            out[value].append(series)
    return out


# -- the grammar -------------------------------------------------------------------------------


def _tokens(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    text = query.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise _UnbatchableError(f"cannot read {text[position:]!r}")
        kind = match.lastgroup or ""
        tokens.append(_Token(kind, match.group(kind)))
        position = match.end()
    return tokens


def _equality_labels(tokens: Sequence[_Token]) -> set[str]:
    return {
        tokens[i].text
        for i in range(len(tokens) - 2)
        if tokens[i].kind == "id" and tokens[i + 1].text == "=" and tokens[i + 2].kind == "str"
    }


def _common_value(tokens: Sequence[_Token], label: str) -> str | None:
    values = {
        tokens[i + 2].text[1:-1]
        for i in range(len(tokens) - 2)
        if tokens[i].text == label and tokens[i + 1].text == "=" and tokens[i + 2].kind == "str"
    }
    if len(values) != 1:
        return None
    value = values.pop()
    return value if _VALUE.match(value) else None


def _render(
    tokens: Sequence[_Token],
    label: str,
    value: str,
    *,
    regex: bool = False,
    group: bool = False,
) -> str:
    """The tokens as text with `label`'s value replaced (and, for a batch, grouped by it)."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if (
            token.text == label
            and i + 2 < len(tokens)
            and tokens[i + 1].text == "="
            and tokens[i + 2].kind == "str"
        ):
            out.append(f'{label}{"=~" if regex else "="}"{value}"')
            i += 3
            continue
        out.append(token.text)
        if group and token.kind == "id" and token.text in _AGGREGATIONS:
            following = tokens[i + 1].text if i + 1 < len(tokens) else ""
            if following == "by":  # sum by (le) (...): add the label to the list
                close = next(j for j in range(i + 2, len(tokens)) if tokens[j].text == ")")
                if label not in {t.text for t in tokens[i + 3 : close]}:
                    out += ["by", "(", label, ","]
                    i += 3  # "by", "("
                    continue
            if following == "(" and not _grouped_after(tokens, i + 1):
                out += ["by", "(", label, ")"]
        i += 1
    return " ".join(out).replace(" ( ", "(").replace(" )", ")").replace(" , ", ",")


def _grouped_after(tokens: Sequence[_Token], open_at: int) -> bool:
    """`sum (...) by (x)`: a grouping written after the argument (rejected by the parser)."""
    depth = 0
    for j in range(open_at, len(tokens)):
        if tokens[j].text == "(":
            depth += 1
        elif tokens[j].text == ")":
            depth -= 1
            if depth == 0:
                return j + 1 < len(tokens) and tokens[j + 1].text in ("by", "without")
    return False


class _Parser:
    """Recursive descent over the batchable subset; `label` must be on every selector."""

    def __init__(self, tokens: Sequence[_Token], label: str) -> None:
        self.tokens = tokens
        self.label = label
        self.at = 0

    def parse(self) -> None:
        self.expression()
        if self.at != len(self.tokens):
            raise _UnbatchableError(f"unexpected {self.peek()!r}")

    def peek(self) -> str:
        return self.tokens[self.at].text if self.at < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> _Token:
        if self.at >= len(self.tokens):
            raise _UnbatchableError("unexpected end")
        token = self.tokens[self.at]
        if expected is not None and token.text != expected:
            raise _UnbatchableError(f"expected {expected!r}, got {token.text!r}")
        self.at += 1
        return token

    def expression(self) -> str:
        """Returns the operand's kind: "number", "vector" (per series) or "grouped"."""
        left = self.unary()
        while self.peek() in _BINARY:
            self.take()
            if self.peek() in ("bool", "on", "ignoring", "group_left", "group_right"):
                raise _UnbatchableError("vector matching modifiers")
            right = self.unary()
            if "number" in (left, right):
                left = right if left == "number" else left
            elif left == right == "grouped":
                left = "grouped"
            else:  # vector op vector would match on all their labels: not provably exact
                raise _UnbatchableError("binary operation between ungrouped vectors")
        return left

    def unary(self) -> str:
        if self.peek() in ("-", "+"):
            self.take()
        return self.primary()

    def primary(self) -> str:
        token = self.take()
        if token.kind == "num":
            return "number"
        if token.text == "(":
            kind = self.expression()
            self.take(")")
            return kind
        if token.kind != "id":
            raise _UnbatchableError(f"unexpected {token.text!r}")
        if token.text in _AGGREGATIONS:
            if self.peek() == "by":
                self.take()
                self.labels()
            self.take("(")
            self.expression()
            self.take(")")
            if self.peek() in ("by", "without"):
                raise _UnbatchableError("grouping after the argument")
            return "grouped"
        if token.text in _FUNCTIONS and self.peek() == "(":
            self.take("(")
            kinds = [self.expression()]
            while self.peek() == ",":
                self.take()
                kinds.append(self.expression())
            self.take(")")
            vectors = [k for k in kinds if k != "number"]
            if len(vectors) != 1:
                raise _UnbatchableError(f"{token.text} needs exactly one vector argument")
            return vectors[0]
        return self.selector(token)

    def labels(self) -> None:
        self.take("(")
        while self.peek() != ")":
            if self.take().kind != "id":
                raise _UnbatchableError("label list")
            if self.peek() == ",":
                self.take()
        self.take(")")

    def selector(self, name: _Token) -> str:
        matched = False
        if name.text in ("by", "without", "on", "ignoring", "offset", "bool", "and", "or"):
            raise _UnbatchableError(f"unexpected {name.text!r}")
        if self.peek() == "{":
            self.take()
            while self.peek() != "}":
                label = self.take()
                op = self.take()
                value = self.take()
                if (
                    label.kind != "id"
                    or op.text not in ("=", "!=", "=~", "!~")
                    or value.kind != "str"
                ):
                    raise _UnbatchableError("matcher")
                matched |= label.text == self.label and op.text == "="
                if self.peek() == ",":
                    self.take()
            self.take("}")
        if self.label and not matched:
            raise _UnbatchableError(f"a selector without {self.label}=")
        if self.peek() == "[":
            self.take()
            if self.take().kind != "dur":
                raise _UnbatchableError("range")
            self.take("]")  # a subquery ([5m:1m]) fails here
        if self.peek() in ("offset", "@"):
            raise _UnbatchableError("offset or @")
        return "vector"
