"""Tampering done with cluster-admin rights is reported at the first untrustworthy entry."""

from __future__ import annotations

from typing import Any

import pytest

from grace.ledger import EntryType, Ledger, LedgerCorruptedError, Subject
from grace.ledger.configmapstore import DATA_KEY
from grace.ledger.records import parse_lines
from tests.integration.ledger.conftest import LedgerSite

pytestmark = pytest.mark.cluster


def _fill(site: LedgerSite, count: int = 20) -> Ledger:
    """`count` entries, checkpointed (and witnessed) every 5: segments of 6 entries each."""
    ledger = site.ledger(checkpoint_every=5)
    for i in range(count):
        subject = Subject(kind="Mission", namespace="shop", name=f"m{i // 10}")
        ledger.append(EntryType.STEP_FINISHED, subject, {"i": i}, f"t-{i}")
    return ledger


def _first_seq(segment: Any) -> int:
    return parse_lines(segment.data[DATA_KEY].encode()).entries[0].seq


def _recreate(site: LedgerSite, segment: Any, text: str, *, sealed: bool) -> None:
    """What an admin can do to a sealed segment: delete it and create it again, edited."""
    core = site.core()
    core.delete_namespaced_config_map(segment.metadata.name, site.namespace)
    core.create_namespaced_config_map(
        site.namespace,
        {
            "metadata": {
                "name": segment.metadata.name,
                "labels": segment.metadata.labels,
                "annotations": segment.metadata.annotations,
            },
            "data": {DATA_KEY: text},
            "immutable": sealed,
        },
    )


def _edit_entry(text: str, seq: int) -> str:
    """Change the data of entry `seq` and nothing else (its signature stays as it was)."""
    lines = text.splitlines(keepends=True)
    for n, line in enumerate(lines):
        if f'"seq":{seq},' in line:
            lines[n] = line.replace(f'"i":{seq}}}', f'"i":{seq + 1000}}}')
            assert lines[n] != line
            return "".join(lines)
    raise AssertionError(f"seq {seq} is not in this segment")


def _assert_tampered_at(site: LedgerSite, seq: int, *, witnessed: bool = True) -> None:
    report = site.report(witnessed=witnessed)
    assert not report.ok and report.first_bad_seq == seq, report.summary()
    cli = site.cli_verify(witnessed=witnessed)
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert cli.stdout.startswith(f"TAMPERED at seq {seq}:"), cli.stdout


def test_a_sealed_segment_recreated_with_an_edit_is_caught_at_that_entry(
    site: LedgerSite,
) -> None:
    _fill(site)
    segment = site.segment_objects()[1]
    assert segment.immutable
    seq = _first_seq(segment) + 2
    _recreate(site, segment, _edit_entry(segment.data[DATA_KEY], seq), sealed=True)
    _assert_tampered_at(site, seq)
    assert "signature" in site.report().problem


def test_a_deleted_sealed_segment_is_caught_at_its_first_entry(site: LedgerSite) -> None:
    _fill(site)
    segment = site.segment_objects()[1]
    site.core().delete_namespaced_config_map(segment.metadata.name, site.namespace)
    _assert_tampered_at(site, _first_seq(segment))


def test_an_edit_of_the_head_segment_is_caught_at_that_entry(site: LedgerSite) -> None:
    _fill(site)
    head = site.segment_objects()[-1]
    assert not head.immutable
    seq = _first_seq(head) + 1
    head.data[DATA_KEY] = _edit_entry(head.data[DATA_KEY], seq)
    site.core().replace_namespaced_config_map(head.metadata.name, site.namespace, head)
    _assert_tampered_at(site, seq)


def test_a_truncated_tail_is_caught_by_the_witness(site: LedgerSite) -> None:
    ledger = _fill(site)
    assert [c.tree_size for c in site.witness().checkpoints()] == [5, 10, 15, 20]
    cut = 8  # keep seq 0..7: the witness saw tree sizes 10, 15 and 20
    segments = site.segment_objects()
    keep = [s for s in segments if _first_seq(s) <= cut]
    last = keep[-1]
    for segment in segments[len(keep) :]:
        site.core().delete_namespaced_config_map(segment.metadata.name, site.namespace)
    lines = last.data[DATA_KEY].splitlines(keepends=True)
    kept = []
    for line in lines:
        if f'"seq":{cut},' in line:
            break
        kept.append(line)
    _recreate(site, last, "".join(kept), sealed=False)  # looks like a head in mid-write

    # the segments alone still look fine: only the witness knows what was there
    alone = site.report(witnessed=False)
    assert alone.ok and alone.checked == cut, alone.summary()
    assert site.cli_verify(witnessed=False).returncode == 0
    _assert_tampered_at(site, cut)
    assert "truncated" in site.report().problem

    # the writer that saw the tail refuses to write over the gap
    with pytest.raises(LedgerCorruptedError):
        ledger.append(EntryType.STEP_FINISHED, Subject(kind="Mission", name="m9"), {}, "after")
