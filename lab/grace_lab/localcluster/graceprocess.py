"""Run `grace run` as its own process (demo, benchmarks, end-to-end tests): start, kill -9, stop."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from grace.ledger import Signer
from grace_lab.localcluster.processes import alive, free_port, http_ok

REPO = Path(__file__).resolve().parents[3]


class OperatorProcess:
    """`grace run` in its own process, so a test can kill -9 it and start it again."""

    def __init__(
        self,
        kubeconfig: str,
        prometheus_url: str,
        workdir: Path,
        *extra: str,
        name: str = "operator",
    ) -> None:
        """Replicas share `workdir` (so the signing key and a file ledger) and differ by `name`."""
        self.kubeconfig = kubeconfig
        self.prometheus_url = prometheus_url
        self.workdir = workdir
        self.extra = list(extra)
        self.key = workdir / "signing-key.pem"
        self.public_key = workdir / "signing-key.pub.pem"
        self.ledger = workdir / "ledger.jsonl"
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port = free_port()
        self.webhook_port = free_port()
        self.webhook_token = workdir / "webhook-token"
        workdir.mkdir(parents=True, exist_ok=True)
        if not self.webhook_token.exists():
            self.webhook_token.write_text(secrets.token_urlsafe(24))
        if not self.key.exists():
            signer = Signer.generate()
            self.key.write_text(signer.private_pem())
            self.public_key.write_text(signer.public_pem())

    def start(self) -> OperatorProcess:
        env = {**os.environ, "KUBECONFIG": self.kubeconfig, "PYTHONUNBUFFERED": "1"}
        argv = [
            sys.executable,
            "-m",
            "grace.cli.main",
            "run",
            f"--prometheus-url={self.prometheus_url}",
            f"--ledger-path={self.ledger}",
            f"--signing-key={self.key}",
            f"--policy-dir={REPO / 'policies'}",
            "--mission-tick=0.5",
            f"--metrics-port={self.metrics_port}",
            "--metrics-address=127.0.0.1",
            f"--webhook-port={self.webhook_port}",
            "--webhook-address=127.0.0.1",
            f"--webhook-token-file={self.webhook_token}",
            *self.extra,
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while not http_ok(f"http://127.0.0.1:{self.metrics_port}/metrics"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"operator did not start:\n{self.tail()}")
            time.sleep(0.1)
        return self

    @property
    def webhook_url(self) -> str:
        """Where Alertmanager posts alerts to this operator (while it is the leader)."""
        return f"http://127.0.0.1:{self.webhook_port}/alerts"

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and alive(self.proc.pid):
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def verify_ledger(self) -> subprocess.CompletedProcess[str]:
        """`grace ledger verify` of this operator's ledger with its public key, as an auditor
        runs it (exit 0 when clean)."""
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "grace.cli.main",
                "ledger",
                "verify",
                str(self.ledger),
                "--public-key",
                str(self.public_key),
            ],
            capture_output=True,
            text=True,
            check=False,
        )

    def tail(self, lines: int = 60) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
