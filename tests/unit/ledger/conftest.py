"""Fixtures of the ledger tests: a signing key and the reference ledger the tamper corpus edits."""

from __future__ import annotations

from pathlib import Path

import pytest

from grace.ledger import Signer
from tests.unit.ledger.ledger_fixtures import Corpus, write_corpus


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer.generate()


@pytest.fixture
def corpus(tmp_path: Path, signer: Signer) -> Corpus:
    return write_corpus(tmp_path, signer)
