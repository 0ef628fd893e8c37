"""`grace ledger ...` as an auditor uses it: exit codes, messages, filters, export, proofs, keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from grace.cli.ledger_cmd import main
from grace.ledger import Keyring, Signer
from tests.unit.ledger.ledger_fixtures import Corpus


@pytest.fixture
def trusted(corpus: Corpus, tmp_path: Path) -> Path:
    path = tmp_path / "trusted.pem"
    path.write_text(corpus.keyring.to_pem())
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["ledger", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_verify_exits_0_on_a_clean_ledger(
    capsys: pytest.CaptureFixture[str], corpus: Corpus, trusted: Path
) -> None:
    code, out, _ = run(
        capsys, "verify", str(corpus.path), "--public-key", str(trusted),
        "--witness", str(corpus.witness_path),
    )  # fmt: skip
    assert code == 0
    assert out.startswith("ok: 14 entries")


def test_verify_exits_1_naming_the_first_bad_seq(
    capsys: pytest.CaptureFixture[str], corpus: Corpus, trusted: Path
) -> None:
    lines = corpus.lines()
    corpus.path.write_bytes(b"".join(lines[:5] + lines[6:]))  # line 5 holds seq 4
    code, out, _ = run(capsys, "verify", str(corpus.path), "--public-key", str(trusted))
    assert code == 1
    assert (
        out.splitlines()[0] == "TAMPERED at seq 4: entry seq 4 is missing (the next entry is seq 5)"
    )


def test_verify_finds_a_truncated_tail_only_with_the_witness(
    capsys: pytest.CaptureFixture[str], corpus: Corpus, trusted: Path
) -> None:
    lines = corpus.lines()
    corpus.path.write_bytes(b"".join(lines[:-3]))  # seq 13, checkpoint 14 and seq 12 gone
    witness = ("--witness", str(corpus.witness_path))
    code, out, _ = run(capsys, "verify", str(corpus.path), "--public-key", str(trusted), *witness)
    assert code == 1 and "TAMPERED at seq 12" in out
    code, out, _ = run(
        capsys, "verify", str(corpus.path), "--public-key", str(trusted), *witness, "--json"
    )
    report = json.loads(out)
    assert report["ok"] is False and report["first_bad_seq"] == 12


def test_verify_exits_2_without_a_key_or_a_readable_file(
    capsys: pytest.CaptureFixture[str], corpus: Corpus, trusted: Path, tmp_path: Path
) -> None:
    code, _, err = run(capsys, "verify", str(corpus.path))
    assert code == 2 and "--public-key" in err
    code, _, err = run(capsys, "verify", str(tmp_path / "nope"), "--public-key", str(trusted))
    assert code == 2 and "cannot read" in err
    code, _, err = run(capsys, "verify", "--public-key", str(trusted))
    assert code == 2 and "FILE or --from-cluster" in err
    not_a_key = tmp_path / "bad.pem"
    not_a_key.write_text("hello")
    code, _, err = run(capsys, "verify", str(corpus.path), "--public-key", str(not_a_key))
    assert code == 2


def test_verify_reads_keys_from_the_environment(
    capsys: pytest.CaptureFixture[str],
    corpus: Corpus,
    trusted: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRACE_LEDGER_PUBLIC_KEYS", str(trusted))
    code, _, _ = run(capsys, "verify", str(corpus.path))
    assert code == 0


def test_show_filters_by_mission_type_and_time(
    capsys: pytest.CaptureFixture[str], corpus: Corpus
) -> None:
    code, out, _ = run(capsys, "show", str(corpus.path), "--mission", "m2")
    assert code == 0
    rows = out.splitlines()[1:]
    assert [int(row.split()[0]) for row in rows] == [5, 6, 7, 8, 9]
    code, out, _ = run(capsys, "show", str(corpus.path), "--type", "mission.*", "--json")
    types = [json.loads(line)["type"] for line in out.splitlines()]
    assert types == ["mission.proposed", "mission.finished"] * 2 + ["mission.finished"]
    code, out, _ = run(capsys, "show", str(corpus.path), "--since", "2026-01-01T00:00:12Z")
    assert [int(row.split()[0]) for row in out.splitlines()[1:]] == [12, 13]
    code, out, _ = run(capsys, "show", str(corpus.path), "--since", "1d")
    assert out.splitlines()[1:] == []  # the corpus is from 2026-01-01


def test_export_writes_json_lines_that_verify_offline(
    capsys: pytest.CaptureFixture[str], corpus: Corpus, trusted: Path, tmp_path: Path
) -> None:
    exported = tmp_path / "export.jsonl"
    code, _, err = run(capsys, "export", str(corpus.path), "-o", str(exported))
    assert code == 0 and "exported 14 entries and 5 checkpoints" in err
    kinds = {next(iter(json.loads(line))) for line in exported.read_text().splitlines()}
    assert kinds == {"entry", "checkpoint"}
    code, out, _ = run(capsys, "verify", str(exported), "--public-key", str(trusted))
    assert code == 0 and out.startswith("ok: 14 entries and 5 checkpoints")


def test_prove_prints_proofs_that_verify(
    capsys: pytest.CaptureFixture[str], corpus: Corpus, trusted: Path
) -> None:
    code, out, _ = run(capsys, "prove", "m2", str(corpus.path), "--public-key", str(trusted))
    assert code == 0
    proof = json.loads(out)
    assert [e["seq"] for e in proof["entries"]] == [5, 6, 7, 8, 9]
    assert proof["checkpoint"]["tree_size"] == 14
    code, _, err = run(capsys, "prove", "nobody", str(corpus.path))
    assert code == 1 and "no ledger entries for Mission nobody" in err
    stranger = Keyring([Signer.generate().public_key]).to_pem()
    trusted.write_text(stranger)
    code, _, err = run(capsys, "prove", "m2", str(corpus.path), "--public-key", str(trusted))
    assert code == 1 and "not signed by a trusted key" in err


def test_consistency_between_two_checkpoints(
    capsys: pytest.CaptureFixture[str], corpus: Corpus, trusted: Path
) -> None:
    code, out, _ = run(
        capsys, "consistency", str(corpus.path), "--old", "5", "--public-key", str(trusted)
    )
    assert code == 0
    proof = json.loads(out)
    assert (proof["old"]["tree_size"], proof["new"]["tree_size"]) == (5, 14)
    code, _, err = run(capsys, "consistency", str(corpus.path), "--old", "6")
    assert code == 2 and "no checkpoints at tree sizes 6" in err


def test_keygen_prints_a_secret_and_keeps_previous_keys(
    capsys: pytest.CaptureFixture[str], trusted: Path, corpus: Corpus
) -> None:
    code, out, _ = run(capsys, "keygen", "--namespace", "ops", "--previous", str(trusted))
    assert code == 0
    secret = yaml.safe_load(out)
    assert secret["kind"] == "Secret" and secret["metadata"]["namespace"] == "ops"
    signer = Signer.from_pem(secret["stringData"]["private.pem"].encode())
    trusted_ids = Keyring.from_pem(secret["stringData"]["trusted.pem"]).key_ids
    assert trusted_ids == [signer.key_id, corpus.signer.key_id]


# -- "ok" about nothing is not ok (issue 11.4) ------------------------------------------------


def test_verify_fails_on_an_empty_file_unless_empty_is_allowed(
    capsys: pytest.CaptureFixture[str], trusted: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "ledger.jsonl"
    empty.write_bytes(b"")
    code, out, _ = run(capsys, "verify", str(empty), "--public-key", str(trusted))
    assert code == 1
    assert out.splitlines()[0].startswith(f"FAILED: no ledger entries in {empty}")
    assert "--allow-empty" in out

    code, out, _ = run(capsys, "verify", str(empty), "--public-key", str(trusted), "--allow-empty")
    assert code == 0
    assert "not proven: anything at all" in out


def test_verify_without_a_witness_says_what_it_could_not_prove(
    capsys: pytest.CaptureFixture[str], corpus: Corpus, trusted: Path
) -> None:
    code, out, _ = run(capsys, "verify", str(corpus.path), "--public-key", str(trusted))
    assert code == 0 and out.startswith("ok: 14 entries")
    assert "not proven: the tail is complete: without a witness" in out
    code, out, _ = run(capsys, "verify", str(corpus.path), "--public-key", str(trusted), "--json")
    assert json.loads(out)["unproven"] == [
        "the tail is complete: without a witness (--witness-namespace or --witness), the newest "
        "entries could have been cut off together with their checkpoints unnoticed"
    ]
    witness = ("--witness", str(corpus.witness_path))
    code, out, _ = run(capsys, "verify", str(corpus.path), "--public-key", str(trusted), *witness)
    assert code == 0 and "not proven" not in out


def test_a_witness_with_none_of_the_ledgers_checkpoints_fails(
    capsys: pytest.CaptureFixture[str], corpus: Corpus, trusted: Path, tmp_path: Path
) -> None:
    wrong = tmp_path / "other-witness.jsonl"
    wrong.write_bytes(b"")  # e.g. the witness file of another cluster, or emptied
    code, out, _ = run(
        capsys, "verify", str(corpus.path), "--public-key", str(trusted), "--witness", str(wrong)
    )
    assert code == 1
    assert out.startswith("FAILED: the witness holds none of this ledger's checkpoints")
