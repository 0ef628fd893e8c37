"""A real OPA server process on 127.0.0.1, for tests, the bench and the demo.

It stands in for the chart's sidecar: `opa run --server` on the same policies/ directory.
Started and stopped by its own pid; stop() then start() again keeps the same port, so a
test can take OPA away mid-operation and bring it back at the same URL.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from grace_lab.localcluster.binaries import OPA_VERSION, cache_dir


def opa_binary() -> Path:
    """Where the OPA built from its Go module lives ($GRACE_OPA overrides)."""
    configured = os.environ.get("GRACE_OPA")
    if configured:
        return Path(configured)
    return cache_dir() / "bin" / f"opa-{OPA_VERSION}" / "opa"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OpaServer:
    """`opa run --server` on a policy directory, ready when GET /health answers 200."""

    def __init__(
        self,
        policy_dir: Path,
        *,
        binary: Path | None = None,
        port: int | None = None,
        ready_timeout: float = 30.0,
    ) -> None:
        self.policy_dir = Path(policy_dir)
        self.binary = binary or opa_binary()
        self.port = port or free_port()
        self.ready_timeout = ready_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: tempfile._TemporaryFileWrapper[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> OpaServer:
        if self.running:
            return self
        if not self.binary.exists():
            raise FileNotFoundError(
                f"no OPA binary at {self.binary}: build it with grace_lab.localcluster.binaries"
            )
        self._log = tempfile.NamedTemporaryFile(prefix="grace-opa-", suffix=".log")  # noqa: SIM115
        self._process = subprocess.Popen(
            [
                str(self.binary),
                "run",
                "--server",
                "--addr",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "error",
                "--ignore",
                "*_test.rego",
                str(self.policy_dir),
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()
        return self

    def stop(self) -> None:
        """Terminate the process this object started (SIGTERM, then SIGKILL after 10 s)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            code = self._process.poll()
            if code is not None:
                output = self._read_log()
                self.stop()
                raise RuntimeError(f"OPA exited with code {code}: {output}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        output = self._read_log()
        self.stop()
        raise TimeoutError(f"OPA not healthy within {self.ready_timeout}s: {output}")

    def _read_log(self) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")[-2000:]

    def __enter__(self) -> OpaServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
