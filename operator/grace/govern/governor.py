"""The Governor: the one place the operator asks whether a Mission may run."""

from __future__ import annotations

from grace.govern.engines import FailClosed, PolicyEngine
from grace.govern.model import Decision, PolicyData, PolicyInput


class Governor:
    """Asks the policy engine about a Mission and never lets an engine failure become an allow.

    Whatever goes wrong (the OPA sidecar is down, rego-cpp errors, the answer is undefined or
    malformed, the deadline passes) the decision is a deny whose reason starts with
    "policy engine unavailable", recorded on the Mission like any other decision.
    """

    def __init__(self, engine: PolicyEngine, *, deadline: float | None = None) -> None:
        self._engine = engine if isinstance(engine, FailClosed) else FailClosed(engine, deadline)

    @property
    def engine(self) -> str:
        return self._engine.name

    @property
    def digest(self) -> str:
        return self._engine.digest

    def decide(self, policy_input: PolicyInput) -> Decision:
        return self._engine.decide(policy_input)

    def set_data(self, data: PolicyData) -> None:
        """New data from the ConfigMap; raises PolicyEngineError when it cannot be applied."""
        self._engine.set_data(data)
