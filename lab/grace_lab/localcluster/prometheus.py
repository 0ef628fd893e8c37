"""Real Prometheus and Alertmanager processes on 127.0.0.1, for tests, the demo and the bench.

Both are the Debian packages' binaries run as plain processes, each in its own data directory,
started and stopped by their own pid. `stop()` then `start()` comes back on the same port with
the same data (a Prometheus restart keeps its series); `kill()` is SIGKILL, a crash. The
configuration is rewritten and hot-reloaded (`POST /-/reload`) when targets or rules change.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

from grace_lab.localcluster.processes import (
    alive,
    cmdline,
    free_port,
    http_ok,
    spawn,
    stop,
    wait_until,
)

PROMETHEUS_BINARY = "/usr/bin/prometheus"
ALERTMANAGER_BINARY = "/usr/bin/prometheus-alertmanager"

Duration = float | str
"""Seconds, or a Prometheus duration string such as "500ms", "30s", "5m"."""


class PrometheusUnavailableError(ConnectionError):
    """Prometheus did not answer (down, killed, restarting)."""


def prometheus_binary() -> Path:
    """The Prometheus to run ($GRACE_PROMETHEUS overrides the Debian package's)."""
    return Path(os.environ.get("GRACE_PROMETHEUS", PROMETHEUS_BINARY))


def alertmanager_binary() -> Path:
    """The Alertmanager to run ($GRACE_ALERTMANAGER overrides the Debian package's)."""
    return Path(os.environ.get("GRACE_ALERTMANAGER", ALERTMANAGER_BINARY))


def duration(value: Duration) -> str:
    """A Prometheus duration string: 1 -> "1s", 0.5 -> "500ms", "5m" stays "5m"."""
    if isinstance(value, str):
        return value
    ms = round(float(value) * 1000)
    if ms <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _seconds(value: Duration) -> float:
    text = duration(value)
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    for unit in ("ms", "s", "m", "h", "d"):
        if text.endswith(unit) and text[: -len(unit)].isdigit():
            return int(text[: -len(unit)]) * units[unit]
    raise ValueError(f"unsupported duration {value!r}")


class _Process:
    """One server process in its own data directory, started and stopped by its pid."""

    name = "server"

    def __init__(
        self,
        binary: Path,
        port: int | None,
        data_dir: Path | None,
        ready_timeout: float,
        host: str = "127.0.0.1",
    ) -> None:
        self.binary = Path(binary)
        self.host = host
        self.port = port or free_port()
        self.ready_timeout = ready_timeout
        self._owns_dir = data_dir is None
        self.dir = (
            Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix=f"grace-{self.name}-"))
        )
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = self.dir / f"{self.name}.log"
        self.pid: int | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        """host:port, as other servers' configs name it."""
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.pid is not None and alive(self.pid)

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _write_config(self) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        """Start (again) on the same port with the same data; returns once /-/ready answers."""
        if self.running:
            return self
        if not self.binary.exists():
            raise FileNotFoundError(f"no {self.name} binary at {self.binary}")
        self._write_config()
        self.pid = spawn(self._argv(), self.log)
        try:
            wait_until(
                self.name,
                lambda: http_ok(f"{self.url}/-/ready", timeout=1.0),
                self.ready_timeout,
                self.pid,
                self.log,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM (then SIGKILL), only to the pid this object started; the data stays."""
        pid, self.pid = self.pid, None
        if pid is not None:
            stop(pid, str(self.binary), grace_seconds=10.0)

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown, whatever is not on disk is lost."""
        pid, self.pid = self.pid, None
        if pid is None or not alive(pid) or str(self.binary) not in cmdline(pid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)

    def close(self) -> None:
        """Stop, and delete the data directory if it was a temporary one made here."""
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def reload(self) -> None:
        """Rewrite the config and, if running, make the server load it (POST /-/reload)."""
        self._write_config()
        if not self.running:
            return
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST", data=b"")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{self.name} refused its new config: {e.read().decode()}") from e
        except (urllib.error.URLError, OSError) as e:
            raise PrometheusUnavailableError(f"{self.name} at {self.url}: {e}") from e

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def tail(self, lines: int = 30) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class PrometheusServer(_Process):
    """A real Prometheus scraping static targets, optionally evaluating rules and alerting."""

    name = "prometheus"

    def __init__(
        self,
        targets: Sequence[str] = (),
        *,
        scrape_interval: Duration = 1,
        evaluation_interval: Duration = 1,
        rule_files: Sequence[Path | str] = (),
        alertmanagers: Sequence[str] = (),
        job: str = "shop",
        port: int | None = None,
        data_dir: Path | None = None,
        binary: Path | None = None,
        retention: str = "1d",
        ready_timeout: float = 60.0,
        scrape_configs: Sequence[Mapping[str, Any]] = (),
        host: str = "127.0.0.1",
    ) -> None:
        """`scrape_configs`: more jobs beside the static `job` (service discovery, TLS, ...);
        `host`: where to listen (a real node's pods reach the node's address, not 127.0.0.1)."""
        super().__init__(binary or prometheus_binary(), port, data_dir, ready_timeout, host)
        self.scrape_configs = [dict(c) for c in scrape_configs]
        self.targets = list(targets)
        self.scrape_interval = duration(scrape_interval)
        self.evaluation_interval = duration(evaluation_interval)
        self.rule_files = [Path(p) for p in rule_files]
        self.alertmanagers = list(alertmanagers)
        self.job = job
        self.retention = retention
        self.config_file = self.dir / "prometheus.yml"
        self.rules_file = self.dir / "rules.yml"
        self._rules: list[dict[str, Any]] | None = None

    def _argv(self) -> list[str]:
        return [
            str(self.binary),
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.dir / 'tsdb'}",
            f"--storage.tsdb.retention.time={self.retention}",
            f"--web.listen-address={self.address}",
            "--web.enable-lifecycle",
            "--log.level=info",
        ]

    def config(self) -> dict[str, Any]:
        """The configuration this server runs with (written to `config_file`)."""
        interval = self.scrape_interval
        timeout = interval if _seconds(interval) < 10 else "10s"
        cfg: dict[str, Any] = {
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": timeout,
                "evaluation_interval": self.evaluation_interval,
            },
            "scrape_configs": [
                {"job_name": self.job, "static_configs": [{"targets": list(self.targets)}]},
                *self.scrape_configs,
            ],
        }
        rule_files = [str(p) for p in self.rule_files]
        if self._rules is not None:
            rule_files.append(str(self.rules_file))
        if rule_files:
            cfg["rule_files"] = rule_files
        if self.alertmanagers:
            cfg["alerting"] = {
                "alertmanagers": [{"static_configs": [{"targets": list(self.alertmanagers)}]}]
            }
        return cfg

    def _write_config(self) -> None:
        if self._rules is not None:
            self.rules_file.write_text(yaml.safe_dump({"groups": self._rules}, sort_keys=False))
        self.config_file.write_text(yaml.safe_dump(self.config(), sort_keys=False))

    def set_targets(self, targets: Sequence[str]) -> None:
        """Scrape exactly these host:port targets from now on (hot reload, no restart)."""
        self.targets = list(targets)
        self.reload()

    def set_rules(self, groups: Sequence[Mapping[str, Any]]) -> None:
        """Evaluate these rule groups (Prometheus rule-file `groups:` entries), hot-reloaded.

        Any reload makes Prometheus rediscover its Alertmanagers: call `wait_alertmanagers()`
        before relying on an alert being delivered.
        """
        self._rules = [dict(g) for g in groups]
        self.reload()

    def set_alertmanagers(self, addresses: Sequence[str]) -> None:
        self.alertmanagers = list(addresses)
        self.reload()

    # ---- HTTP API ----------------------------------------------------------------------------

    def api(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET /api/v1/<path>; the `data` member. PrometheusUnavailableError when nobody answers."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"Prometheus refused {path}: {e.read().decode()[:500]}") from e
        except (urllib.error.URLError, OSError) as e:
            raise PrometheusUnavailableError(f"Prometheus at {self.url}: {e}") from e
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus {path}: {body.get('error')}")
        return body.get("data")

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query's result (a vector's samples; [] when nothing matches)."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self.api("query", params)
        result = data.get("result")
        if data.get("resultType") == "scalar":
            return [{"metric": {}, "value": result}]
        return list(result or [])

    def query_value(self, promql: str, at: float | None = None) -> float | None:
        """The first sample's value as a float; None when the result is empty."""
        result = self.query(promql, at)
        if not result:
            return None
        return float(result[0]["value"][1])

    def active_targets(self) -> list[dict[str, Any]]:
        data = self.api("targets", {"state": "active"})
        return list(data.get("activeTargets") or [])

    def wait_scraping(self, timeout: float = 30.0) -> None:
        """Block until every configured target has been scraped successfully.

        Prometheus applies new targets (at start, after `set_targets`) on a ~5 s tick of its
        scrape manager, so a fresh target is not scraped at once.
        """

        def scraping() -> bool:
            try:
                targets = self.active_targets()
            except (PrometheusUnavailableError, RuntimeError):
                return False
            healthy = {t["labels"].get("instance") for t in targets if t.get("health") == "up"}
            return set(self.targets) <= healthy

        wait_until(f"{self.name} scraping {self.targets}", scraping, timeout, self.pid, self.log)

    def wait_alertmanagers(self, timeout: float = 30.0) -> None:
        """Block until Prometheus has discovered every configured Alertmanager.

        Discovery runs on a ~5 s tick after start and after every reload; an alert that fires
        before it completes is dropped and only re-sent after --rules.alert.resend-delay (1m),
        so a measurement must wait for this before injecting a fault.
        """

        def discovered() -> bool:
            try:
                active = self.api("alertmanagers").get("activeAlertmanagers") or []
            except (PrometheusUnavailableError, RuntimeError):
                return False
            urls = " ".join(str(a.get("url", "")) for a in active)
            return all(f"//{address}/" in urls for address in self.alertmanagers)

        wait_until(f"{self.name} discovering Alertmanager", discovered, timeout, self.pid, self.log)


class AlertmanagerServer(_Process):
    """A real Alertmanager with one route: every alert goes to a webhook, grouped as configured.

    The defaults are Alertmanager's own (group_wait 30s, group_interval 5m, repeat_interval 4h)
    so that a comparison against it measures what users of the classic path actually get.
    """

    name = "alertmanager"

    def __init__(
        self,
        webhook_url: str,
        *,
        group_by: Sequence[str] = ("alertname",),
        group_wait: Duration = "30s",
        group_interval: Duration = "5m",
        repeat_interval: Duration = "4h",
        send_resolved: bool = True,
        bearer_token_file: Path | None = None,
        port: int | None = None,
        data_dir: Path | None = None,
        binary: Path | None = None,
        ready_timeout: float = 30.0,
    ) -> None:
        """`bearer_token_file`: the webhook is posted with `Authorization: Bearer <its content>`
        (GRACE's receiver requires one)."""
        super().__init__(binary or alertmanager_binary(), port, data_dir, ready_timeout)
        self.bearer_token_file = bearer_token_file
        self.webhook_url = webhook_url
        self.group_by = list(group_by)
        self.group_wait = duration(group_wait)
        self.group_interval = duration(group_interval)
        self.repeat_interval = duration(repeat_interval)
        self.send_resolved = send_resolved
        self.config_file = self.dir / "alertmanager.yml"

    def _argv(self) -> list[str]:
        return [
            str(self.binary),
            f"--config.file={self.config_file}",
            f"--storage.path={self.dir / 'data'}",
            f"--web.listen-address={self.address}",
            "--cluster.listen-address=",
            "--log.level=info",
        ]

    def config(self) -> dict[str, Any]:
        webhook: dict[str, Any] = {"url": self.webhook_url, "send_resolved": self.send_resolved}
        if self.bearer_token_file is not None:
            webhook["http_config"] = {
                "authorization": {"type": "Bearer", "credentials_file": str(self.bearer_token_file)}
            }
        return {
            "route": {
                "receiver": "webhook",
                "group_by": list(self.group_by),
                "group_wait": self.group_wait,
                "group_interval": self.group_interval,
                "repeat_interval": self.repeat_interval,
            },
            "receivers": [
                {
                    "name": "webhook",
                    "webhook_configs": [webhook],
                }
            ],
        }

    def _write_config(self) -> None:
        self.config_file.write_text(yaml.safe_dump(self.config(), sort_keys=False))

    def set_webhook(self, url: str) -> None:
        self.webhook_url = url
        self.reload()

    def alerts(self) -> list[dict[str, Any]]:
        """GET /api/v2/alerts: what Alertmanager currently holds."""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=10) as resp:
                body: list[dict[str, Any]] = json.loads(resp.read())
        except (urllib.error.URLError, OSError) as e:
            raise PrometheusUnavailableError(f"Alertmanager at {self.url}: {e}") from e
        return body
