"""A ledger site per test: two namespaces (segments, witness), a signing key on disk, the CLI."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from grace.ledger import (
    ConfigMapStore,
    ConfigMapWitness,
    Keyring,
    Ledger,
    SegmentPolicy,
    Signer,
    VerifyReport,
    verify_log,
)
from grace.ledger.configmapstore import LEDGER_LABEL, parse_segments
from tests.conftest import REPO, ClusterUnderTest

SMALL = SegmentPolicy(max_bytes=8 * 1024, max_entries=6)
"""Small enough that a few dozen entries fill several segments."""

GRACE_CLI = Path(sys.executable).with_name("grace")
WRITER = Path(__file__).with_name("writer.py")


@dataclass
class LedgerSite:
    """Where one test's ledger lives, and how users and auditors reach it."""

    cluster: ClusterUnderTest
    namespace: str
    witness_namespace: str
    key_dir: Path
    signer: Signer
    prefix: str = "grace-ledger"
    origin: str = field(default_factory=lambda: f"grace.dev/it/{secrets.token_hex(4)}")
    _clients: list[Any] = field(default_factory=list)
    _cores: dict[str | None, client.CoreV1Api] = field(default_factory=dict)
    _children: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def keyring(self) -> Keyring:
        return Keyring([self.signer.public_key])

    def connect(self, user: str | None = None) -> client.CoreV1Api:
        """A new connection as admin or as a test user; closed when the test ends."""
        api_client = self.cluster.api_client(user)
        self._clients.append(api_client)
        return client.CoreV1Api(api_client)

    def core(self, user: str | None = None) -> client.CoreV1Api:
        """The test's shared connection as admin or as a test user."""
        if user not in self._cores:
            self._cores[user] = self.connect(user)
        return self._cores[user]

    def store(self, user: str | None = None) -> ConfigMapStore:
        return ConfigMapStore(self.core(user), self.namespace, prefix=self.prefix, policy=SMALL)

    def witness(self, user: str | None = None) -> ConfigMapWitness:
        return ConfigMapWitness(self.core(user), self.witness_namespace, self.origin)

    def ledger(
        self,
        user: str | None = None,
        *,
        policy: SegmentPolicy = SMALL,
        checkpoint_every: int = 5,
        witnessed: bool = True,
    ) -> Ledger:
        """A writer with its own connection, as a separate operator replica would have."""
        api = self.connect(user)
        return Ledger(
            ConfigMapStore(api, self.namespace, prefix=self.prefix, policy=policy),
            self.signer,
            self.origin,
            checkpoint_every=checkpoint_every,
            witnesses=[ConfigMapWitness(api, self.witness_namespace, self.origin)]
            if witnessed
            else [],
        )

    def segment_objects(self) -> list[Any]:
        """The segment ConfigMaps as stored, in chain order."""
        items = (
            self.core()
            .list_namespaced_config_map(
                self.namespace, label_selector=f"{LEDGER_LABEL}={self.prefix}"
            )
            .items
        )
        return sorted(items, key=lambda cm: cm.metadata.name)

    def report(self, *, witnessed: bool = True, user: str | None = None) -> VerifyReport:
        """What an auditor's `verify` says: witness first, then the segments, freshly listed."""
        checkpoints = self.witness(user).checkpoints() if witnessed else []
        store = ConfigMapStore(self.core(user), self.namespace, prefix=self.prefix)
        log = parse_segments(store.segments())
        return verify_log(log, self.keyring, witnessed=checkpoints, origin=self.origin)

    def cli(self, *args: str, namespace: str | None = None) -> subprocess.CompletedProcess[str]:
        """`grace ledger ARGS --from-cluster ...` against this site, as an admin would type it."""
        env = {**os.environ, "KUBECONFIG": self.cluster.kubeconfig}
        env.pop("GRACE_LEDGER_PUBLIC_KEYS", None)
        command = [
            str(GRACE_CLI),
            "ledger",
            *args,
            "--from-cluster",
            "--context",
            self.cluster.context,
            "--ledger-namespace",
            namespace or self.namespace,
            "--prefix",
            self.prefix,
        ]
        return subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=60, check=False
        )

    def cli_verify(self, *, witnessed: bool = True) -> subprocess.CompletedProcess[str]:
        extra = ["--witness-namespace", self.witness_namespace] if witnessed else []
        return self.cli(
            "verify",
            "--public-key",
            str(self.key_dir / "trusted.pem"),
            "--origin",
            self.origin,
            *extra,
        )

    def writer_command(self, start: int, count: int) -> list[str]:
        """The child writer (see writer.py): prints `<i> <seq>` per acknowledged append."""
        return [
            sys.executable,
            str(WRITER),
            "--kubeconfig",
            self.cluster.kubeconfig,
            "--context",
            self.cluster.context,
            "--namespace",
            self.namespace,
            "--witness-namespace",
            self.witness_namespace,
            "--prefix",
            self.prefix,
            "--origin",
            self.origin,
            "--key",
            str(self.key_dir / "private.pem"),
            "--max-bytes",
            str(SMALL.max_bytes),
            "--max-entries",
            str(SMALL.max_entries),
            str(start),
            str(count),
        ]

    @staticmethod
    def writer_env() -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "operator"), str(REPO)])}

    def writer(self, start: int, count: int) -> subprocess.Popen[str]:
        """Start a writer; one still running when the test ends is killed then."""
        child = subprocess.Popen(
            self.writer_command(start, count),
            stdout=subprocess.PIPE,
            text=True,
            env=self.writer_env(),
        )
        self._children.append(child)
        return child

    def close(self) -> None:
        for child in self._children:
            if child.poll() is None:
                child.kill()
            child.communicate()
        for api_client in self._clients:
            api_client.close()


@pytest.fixture
def witness_namespace(api: Any, namespace: str) -> Iterator[str]:
    """A second namespace for the witness, deleted afterwards like the `namespace` fixture's."""
    core = client.CoreV1Api(api)
    name = f"{namespace[:50]}-w"
    core.create_namespace({"metadata": {"name": name, "labels": {"grace.dev/test": "true"}}})
    yield name
    core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture
def site(
    cluster: ClusterUnderTest, namespace: str, witness_namespace: str, tmp_path: Path
) -> Iterator[LedgerSite]:
    signer = Signer.generate()
    key_dir = tmp_path / "ledger-key"
    key_dir.mkdir()
    (key_dir / "private.pem").write_text(signer.private_pem())
    (key_dir / "trusted.pem").write_text(signer.public_pem())
    ledger_site = LedgerSite(cluster, namespace, witness_namespace, key_dir, signer)
    yield ledger_site
    ledger_site.close()
