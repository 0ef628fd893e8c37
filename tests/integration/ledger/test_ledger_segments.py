"""Appends through ConfigMapStore: full segments are sealed, all stay small, verify is clean."""

from __future__ import annotations

import pytest
from kubernetes import client

from grace.ledger import EntryType, SegmentPolicy, Subject
from grace.ledger.configmapstore import CONFIGMAP_LIMIT, DATA_KEY, FIRST_SEQ_ANNOTATION
from grace.ledger.records import parse_lines
from tests.integration.ledger.conftest import SMALL, LedgerSite

pytestmark = pytest.mark.cluster


def _mission(i: int) -> Subject:
    return Subject(kind="Mission", namespace="shop", name=f"m{i // 7}")


def test_full_segments_are_sealed_and_the_cli_verifies_the_cluster(site: LedgerSite) -> None:
    ledger = site.ledger()
    for i in range(30):
        kind = EntryType.MISSION_FINISHED if i % 7 == 6 else EntryType.STEP_FINISHED
        blob = "x" * 3000 if i % 3 == 0 else ""  # some big entries: the byte budget seals too
        ledger.append(kind, _mission(i), {"i": i, "blob": blob}, f"seq-{i}")
    # a retried event (kopf redelivery, operator restart) is recorded once
    again = site.ledger().append(EntryType.STEP_FINISHED, _mission(0), {"i": 0}, "seq-0")
    assert again.seq == 0

    segments = site.segment_objects()
    assert len(segments) >= 5
    assert [bool(cm.immutable) for cm in segments] == [True] * (len(segments) - 1) + [False]
    next_seq = 0
    for cm in segments:
        text = cm.data[DATA_KEY]
        assert len(text.encode()) <= SMALL.max_bytes
        entries = parse_lines(text.encode()).entries
        assert 1 <= len(entries) <= SMALL.max_entries
        assert entries[0].seq == next_seq == int(cm.metadata.annotations[FIRST_SEQ_ANNOTATION])
        next_seq = entries[-1].seq + 1
    assert next_seq == 30
    sealed_by_bytes = [
        cm for cm in segments[:-1] if len(parse_lines(cm.data[DATA_KEY].encode()).entries) < 6
    ]
    assert sealed_by_bytes, "no segment was sealed for its byte budget"

    # sealed means sealed: even the cluster admin cannot edit one in place
    core = site.core()
    sealed = segments[0]
    edited = sealed.data[DATA_KEY].replace('"i":1}', '"i":9}')
    assert edited != sealed.data[DATA_KEY]
    sealed.data[DATA_KEY] = edited
    with pytest.raises(client.ApiException) as refused:
        core.replace_namespaced_config_map(sealed.metadata.name, site.namespace, sealed)
    assert refused.value.status == 422

    report = site.report()
    assert report.ok, report.summary()
    assert report.checked == 30 and report.checkpoints_checked > 0

    cli = site.cli_verify()
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert cli.stdout.startswith("ok: 30 entries")


def test_the_default_policy_keeps_big_entries_far_below_the_object_limit(
    site: LedgerSite,
) -> None:
    ledger = site.ledger(policy=SegmentPolicy(), witnessed=False)
    for i in range(12):
        ledger.append(EntryType.STEP_FINISHED, _mission(i), {"blob": "z" * 60_000}, f"big-{i}")

    segments = site.segment_objects()
    sizes = [len(cm.data[DATA_KEY].encode()) for cm in segments]
    assert len(segments) >= 3, sizes
    assert all(size <= SegmentPolicy().max_bytes for size in sizes), sizes
    assert max(sizes) < CONFIGMAP_LIMIT // 3
    assert all(cm.immutable for cm in segments[:-1])
    report = site.report(witnessed=False)
    assert report.ok and report.checked == 12, report.summary()


def test_verify_from_cluster_refuses_to_say_ok_about_nothing(site: LedgerSite) -> None:
    # an empty ledger namespace (or a ledger deleted wholesale) fails, unless allowed
    empty = site.cli_verify()
    assert empty.returncode == 1, empty.stdout + empty.stderr
    assert empty.stdout.startswith(f"FAILED: no ledger entries in namespace {site.namespace}")
    allowed = site.cli("verify", "--public-key", str(site.key_dir / "trusted.pem"), "--allow-empty")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr

    site.ledger().append(EntryType.MISSION_FINISHED, _mission(0), {"i": 0}, "seq-0")
    # a misspelled witness namespace is an error, not "ok"
    typo = site.cli(
        "verify", "--public-key", str(site.key_dir / "trusted.pem"),
        "--witness-namespace", site.witness_namespace + "x",
    )  # fmt: skip
    assert typo.returncode == 2
    assert f"--witness-namespace {site.witness_namespace}x: no such namespace" in typo.stderr
    assert "Traceback" not in typo.stderr
    # and so is a misspelled ledger namespace
    wrong = site.cli(
        "verify", "--public-key", str(site.key_dir / "trusted.pem"),
        namespace=site.namespace + "x",
    )  # fmt: skip
    assert wrong.returncode == 2 and "--ledger-namespace" in wrong.stderr
