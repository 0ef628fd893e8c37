"""ConfigMap segments and witnesses: naming, sealing budgets, bodies, parsing and RBAC (no API)."""

from __future__ import annotations

import json

from grace.ledger import Ledger, MemoryStore, Signer, parse_lines
from grace.ledger.configmapstore import (
    CONFIGMAP_LIMIT,
    DATA_KEY,
    Plan,
    Segment,
    SegmentPolicy,
    batch_size,
    ledger_role,
    parse_segments,
    parse_witness,
    plan_write,
    segment_body,
    segment_index,
    segment_name,
    witness_body,
    witness_name,
    witness_role,
)
from grace.ledger.records import render
from tests.unit.ledger.ledger_fixtures import ORIGIN, Corpus, cut_segments, fixed_clock, mission


def test_segment_names_sort_and_parse_back() -> None:
    assert segment_name("grace-ledger", 7) == "grace-ledger-000007"
    assert segment_index("grace-ledger", "grace-ledger-000007") == 7
    assert segment_index("grace-ledger", "grace-ledger-checkpoints") is None
    assert segment_index("grace-ledger", "other-ledger-000007") is None
    names = [segment_name("grace-ledger", i) for i in (10, 2, 100)]
    assert sorted(names) == [segment_name("grace-ledger", i) for i in (2, 10, 100)]


def test_the_plan_seals_before_a_segment_overflows(corpus: Corpus) -> None:
    policy = SegmentPolicy(max_bytes=100, max_entries=2)
    line = b"x" * 40 + b"\n"
    assert plan_write(None, line, policy, entry=True) is Plan.CREATE
    assert plan_write(Segment(0, "a\n", sealed=True), line, policy, entry=True) is Plan.CREATE
    assert plan_write(Segment(0, "a" * 50), line, policy, entry=True) is Plan.APPEND
    assert plan_write(Segment(0, "a" * 60), line, policy, entry=True) is Plan.SEAL
    full = Segment(0, "ab", entries=parse_lines(corpus.path.read_bytes()).entries[:2])
    assert plan_write(full, line, policy, entry=True) is Plan.SEAL
    assert plan_write(full, line, policy, entry=False) is Plan.APPEND  # a checkpoint still fits
    assert plan_write(Segment(0, ""), b"y" * 200, policy, entry=True) is Plan.APPEND


def test_a_batch_fills_the_head_and_no_more(corpus: Corpus) -> None:
    policy = SegmentPolicy(max_bytes=100, max_entries=3)
    lines = [b"x" * 29 + b"\n"] * 5
    one = Segment(0, "a" * 10, entries=parse_lines(corpus.path.read_bytes()).entries[:1])
    assert batch_size(None, lines, policy) == 3  # an empty segment: the entry budget
    assert batch_size(one, lines, policy) == 2  # 10 + 2 x 30 bytes, 1 + 2 entries
    assert batch_size(Segment(0, "a" * 80), lines, policy) == 1  # full: sealed, one starts anew
    assert batch_size(Segment(0, "a" * 80, sealed=True), lines, policy) == 3
    assert plan_write(one, b"".join(lines[:2]), policy, entry=True, entries=2) is Plan.APPEND
    assert plan_write(one, b"".join(lines[:3]), policy, entry=True, entries=3) is Plan.SEAL


def test_segments_stay_far_below_the_configmap_limit(signer: Signer) -> None:
    ledger = Ledger(MemoryStore(), signer, ORIGIN, checkpoint_every=3, clock=fixed_clock())
    for i in range(40):
        ledger.append("step.finished", mission(f"m{i}"), {"blob": "z" * 60_000}, f"k{i}")
    stream = render(ledger.entries(), ledger.checkpoints())
    policy = SegmentPolicy()
    segments = cut_segments(stream.splitlines(keepends=True), policy)
    assert len(segments) > 5
    assert all(s.sealed for s in segments[:-1]) and not segments[-1].sealed
    for segment in segments:
        body = segment_body("grace-system", "grace-ledger", segment, 0)
        assert len(json.dumps(body).encode()) < CONFIGMAP_LIMIT // 2
        assert len(segment.text.encode()) <= policy.max_bytes
        assert body.get("immutable", False) is segment.sealed


def test_a_segment_body_is_a_compare_and_swap_when_it_has_a_resource_version() -> None:
    created = segment_body("ns", "grace-ledger", Segment(3, "a\n"), 40)
    assert "resourceVersion" not in created["metadata"]
    assert created["metadata"]["annotations"]["grace.dev/first-seq"] == "40"
    assert created["metadata"]["labels"]["grace.dev/ledger"] == "grace-ledger"
    replaced = segment_body("ns", "grace-ledger", Segment(3, "a\n", resource_version="17"), 40)
    assert replaced["metadata"]["resourceVersion"] == "17"
    assert replaced["data"] == {DATA_KEY: "a\n"}


def test_segments_read_back_as_the_stream_they_were_cut_from(corpus: Corpus) -> None:
    lines = corpus.lines()
    segments = cut_segments(lines, SegmentPolicy(max_entries=4))
    joined = parse_segments([(segment_name("l", s.index), s.text) for s in segments])
    whole = parse_lines(b"".join(lines))
    assert joined.entries == whole.entries
    assert joined.checkpoints == whole.checkpoints
    assert joined.unreadable is None


def test_a_witness_configmap_is_immutable_and_named_by_tree_size(corpus: Corpus) -> None:
    checkpoint = parse_lines(corpus.witness_path.read_bytes()).checkpoints[-1]
    body = witness_body("grace-witness", "grace-checkpoint", checkpoint)
    assert body["immutable"] is True
    assert body["metadata"]["name"] == witness_name("grace-checkpoint", checkpoint)
    assert body["metadata"]["name"].endswith("-000000000014")
    assert body["metadata"]["annotations"]["grace.dev/origin"] == ORIGIN
    assert parse_witness(body["data"]) == checkpoint


def test_the_roles_cannot_rewrite_history() -> None:
    ledger_verbs = set(ledger_role("grace-system")["rules"][0]["verbs"])
    witness_verbs = set(witness_role("grace-witness")["rules"][0]["verbs"])
    assert {"delete", "deletecollection", "patch"}.isdisjoint(ledger_verbs)
    assert "update" in ledger_verbs  # the head segment is replaced with its resourceVersion
    assert witness_verbs == {"get", "list", "watch", "create"}
