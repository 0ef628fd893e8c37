"""Two engines that answer data.grace.decision the same way, and the wrapper that fails closed.

The embedded engine (regopy, rego-cpp in-process) is the default: no sidecar, ~2 ms a decision.
The OPA server engine asks an OPA process (the chart's sidecar) over HTTP through
opa-python-client. Both read the same modules and the same data, so they give one answer;
tests/integration/govern proves it on the whole decision corpus.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import urlsplit

import regopy
import requests
from opa_client import OpaClient
from pydantic import ValidationError

from grace.govern.model import Decision, PolicyAnswer, PolicyData, PolicyInput
from grace.govern.policy import DATA_PATH, ENTRYPOINT, QUERY, PolicyBundle, policy_digest

UNAVAILABLE = "policy engine unavailable"
"""Every fail-closed reason starts with this, so a Mission timeline and a test can spot it."""

EngineKind = Literal["embedded", "opa"]
ENGINE_KINDS: tuple[EngineKind, ...] = ("embedded", "opa")

_MAX_CAUSE = 300


class PolicyEngineError(Exception):
    """The engine gave no usable answer: an error, a timeout, undefined or a malformed result."""


@runtime_checkable
class PolicyEngine(Protocol):
    """Anything that answers data.grace.decision for one input document."""

    @property
    def name(self) -> str: ...

    @property
    def digest(self) -> str:
        """sha256 of the policy modules plus the data this engine decides with."""
        ...

    def decide(self, policy_input: PolicyInput) -> Decision: ...

    def set_data(self, data: PolicyData) -> None:
        """Replace data.grace.config (the ConfigMap changed); takes effect on the next decision."""
        ...


def decision_from_answer(answer: Any, engine: str, digest: str) -> Decision:
    """Turn the raw `data.grace.decision` value into a Decision, refusing anything malformed."""
    if answer is None:
        raise PolicyEngineError(f"{QUERY} is undefined")
    try:
        parsed = PolicyAnswer.model_validate(answer)
    except ValidationError as exc:
        raise PolicyEngineError(f"malformed answer from {QUERY}: {_short(str(exc))}") from exc
    return Decision(
        result=parsed.result,
        tier=parsed.tier,
        reasons=list(parsed.reasons),
        engine=engine,
        policy_digest=digest,
    )


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_CAUSE else text[: _MAX_CAUSE - 3] + "..."


class EmbeddedEngine:
    """rego-cpp in this process: the modules and data are compiled once into a bundle and
    every decision runs the compiled plan (a full compile per query would cost ~15 ms)."""

    name = "embedded"

    def __init__(self, bundle: PolicyBundle | None = None, data: PolicyData | None = None) -> None:
        self._bundle = bundle or PolicyBundle.load()
        self._lock = threading.Lock()
        self._interpreter: Any = None
        self._compiled: Any = None
        self._digest = ""
        self.set_data(data or PolicyData())

    @property
    def digest(self) -> str:
        return self._digest

    def set_data(self, data: PolicyData) -> None:
        interpreter = regopy.Interpreter()
        try:
            for path, source in sorted(self._bundle.modules.items()):
                interpreter.add_module(path, source)
            interpreter.add_data({DATA_PATH[0]: {DATA_PATH[1]: data.wire()}})
            compiled = interpreter.build(None, [ENTRYPOINT])
        except regopy.RegoError as exc:
            raise PolicyEngineError(f"policy does not compile: {_short(str(exc))}") from exc
        if not compiled.ok():
            raise PolicyEngineError("policy does not compile")
        digest = self._bundle.digest(data)
        with self._lock:
            self._interpreter, self._compiled, self._digest = interpreter, compiled, digest

    def decide(self, policy_input: PolicyInput) -> Decision:
        document = policy_input.wire()
        with self._lock:
            digest = self._digest
            try:
                self._interpreter.set_input(regopy.Input(document))
                output = self._interpreter.query_bundle_entrypoint(self._compiled, ENTRYPOINT)
            except (regopy.RegoError, ValueError) as exc:  # ValueError: output that is not JSON
                raise PolicyEngineError(f"evaluation failed: {_short(str(exc))}") from exc
            if not output.ok():
                raise PolicyEngineError(f"evaluation failed: {_short(str(output))}")
            results = output.results
        answer = results[0].expressions[0] if results and results[0].expressions else None
        return decision_from_answer(answer, self.name, digest)


class OpaServerEngine:
    """An OPA server (production: the sidecar started on the same policies/ directory).

    Data pushed with set_data lives only in the server's memory, so after any failure, and
    every `resync_seconds`, the engine checks data.grace.config and pushes it again: an OPA
    that restarted never decides with stale configuration for longer than that.
    """

    name = "opa-server"

    def __init__(
        self,
        url: str,
        timeout: float = 1.0,
        *,
        bundle: PolicyBundle | None = None,
        data: PolicyData | None = None,
        resync_seconds: float = 10.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"OPA server URL must be http(s)://host:port, got {url!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._client = OpaClient(
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 8181),
            ssl=parts.scheme == "https",
            timeout=timeout,
            retries=0,
        )
        self._bundle = bundle or PolicyBundle.load()
        self._data = data or PolicyData()
        self._digest = self._bundle.digest(self._data)
        self._resync_seconds = resync_seconds
        self._sync_lock = threading.Lock()
        self._pushed = False
        self._synced_at = 0.0

    @property
    def digest(self) -> str:
        return self._digest

    def set_data(self, data: PolicyData) -> None:
        with self._sync_lock:
            self._data = data
            self._digest = self._bundle.digest(data)
            self._pushed = False
            try:
                self._push()
            except Exception as exc:
                raise PolicyEngineError(self._describe(exc)) from exc

    def decide(self, policy_input: PolicyInput) -> Decision:
        try:
            digest = self._sync()
            response = self._client.query_rule(
                input_data=policy_input.wire(), package_path="grace", rule_name="decision"
            )
        except Exception as exc:
            self._pushed = False
            raise PolicyEngineError(self._describe(exc)) from exc
        if not isinstance(response, dict):
            raise PolicyEngineError(f"OPA server {self.url}: answer is not a JSON object")
        return decision_from_answer(response.get("result"), self.name, digest)

    def server_digest(self) -> str:
        """The digest of what the server really holds (its non-test modules and its data)."""
        try:
            ids = self._client.get_policies_list()
            sources = [
                self._client.get_policy(pid)["result"]["raw"]
                for pid in ids
                if not str(pid).endswith("_test.rego")
            ]
            data = self._client.get_data("/".join(DATA_PATH))["result"]
        except Exception as exc:
            raise PolicyEngineError(self._describe(exc)) from exc
        return policy_digest(sources, data)

    def _sync(self) -> str:
        """Make sure the server decides with our data; return the digest of that data."""
        with self._sync_lock:
            due = time.monotonic() - self._synced_at >= self._resync_seconds
            if self._pushed and due:
                held = self._client.get_data("/".join(DATA_PATH)).get("result")
                self._pushed = held == self._data.wire()
                self._synced_at = time.monotonic()
            if not self._pushed:
                self._push()
            return self._digest

    def _push(self) -> None:
        self._client.update_or_create_data(self._data.wire(), "/".join(DATA_PATH))
        self._pushed = True
        self._synced_at = time.monotonic()

    def _describe(self, exc: Exception) -> str:
        where = f"OPA server {self.url}"
        if isinstance(exc, requests.Timeout):
            return f"{where}: no answer within {self.timeout:g}s"
        if isinstance(exc, requests.ConnectionError):
            return f"{where}: cannot connect"
        if isinstance(exc, requests.HTTPError) and exc.response is not None:
            return f"{where}: HTTP {exc.response.status_code}: {_short(exc.response.text)}"
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return f"{where}: {_short(str(message))}"


def unavailable(engine: str, digest: str, cause: str) -> Decision:
    """The fail-closed answer: nothing runs, and the Mission says why."""
    return Decision(
        result="deny",
        tier="none",
        reasons=[f"{UNAVAILABLE}: {cause}"],
        engine=engine,
        policy_digest=digest,
    )


class FailClosed:
    """Wraps an engine so that no error, timeout, undefined or malformed answer ever allows.

    `deadline` bounds a decision in wall time even when the engine itself cannot be
    interrupted (rego-cpp): the caller gets a deny and the late answer is thrown away.
    """

    def __init__(self, engine: PolicyEngine, deadline: float | None = None) -> None:
        self.engine = engine
        self.deadline = deadline

    @property
    def name(self) -> str:
        return self.engine.name

    @property
    def digest(self) -> str:
        return self.engine.digest

    def set_data(self, data: PolicyData) -> None:
        self.engine.set_data(data)

    def decide(self, policy_input: PolicyInput) -> Decision:
        try:
            decision = self._decide(policy_input)
            if not isinstance(decision, Decision):
                raise PolicyEngineError(f"malformed answer from {QUERY}")
            return decision
        except Exception as exc:
            cause = str(exc) if isinstance(exc, PolicyEngineError) else _describe_any(exc)
            return unavailable(self.engine.name, self._safe_digest(), cause)

    def _decide(self, policy_input: PolicyInput) -> Decision:
        if self.deadline is None:
            return self.engine.decide(policy_input)
        box: list[Decision | BaseException] = []

        def run() -> None:
            try:
                box.append(self.engine.decide(policy_input))
            except BaseException as exc:
                box.append(exc)

        worker = threading.Thread(target=run, name=f"policy-{self.engine.name}", daemon=True)
        worker.start()
        worker.join(self.deadline)
        if not box:
            raise PolicyEngineError(f"{self.engine.name}: no answer within {self.deadline:g}s")
        outcome = box[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _safe_digest(self) -> str:
        try:
            return self.engine.digest
        except Exception:
            return ""


def _describe_any(exc: Exception) -> str:
    return _short(f"{type(exc).__name__}: {exc}")


def make_engine(
    kind: str,
    *,
    opa_url: str | None = None,
    timeout: float = 1.0,
    bundle: PolicyBundle | None = None,
    data: PolicyData | None = None,
) -> PolicyEngine:
    """The engine a `--policy-engine embedded|opa` flag names (`--opa-url` for opa)."""
    if kind == "embedded":
        return EmbeddedEngine(bundle=bundle, data=data)
    if kind in ("opa", "opa-server"):
        if not opa_url:
            raise ValueError("the opa policy engine needs an OPA server URL (--opa-url)")
        return OpaServerEngine(opa_url, timeout, bundle=bundle, data=data)
    raise ValueError(f"unknown policy engine {kind!r}: expected one of {', '.join(ENGINE_KINDS)}")
