"""The Detector: from one round of samples to a HealthNode's next status, models kept in memory.

Pure given its inputs: the kopf timer that queries Prometheus every `interval` hands the
samples in and decides whether to PATCH with `worth_writing`. The per-signal models (hysteresis
memory, anomaly detector, forecaster) live here, keyed by node and by the signal's spec, so a
changed query or threshold starts a fresh model instead of inheriting another series' past.
After a restart the hysteresis rebuilds from the stored status, and `warm_up` replays recent
history from a range query into the anomaly detector and the forecaster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from grace.api.duration import format_duration, parse_duration
from grace.api.healthnode import (
    HealthNode,
    HealthNodeSpec,
    HealthNodeStatus,
    Signal,
    SignalState,
    SignalStatus,
)
from grace.detect.anomaly import AnomalyDetector, AnomalySettings
from grace.detect.evaluate import (
    ConditionFacts,
    SignalEvaluation,
    SignalMemory,
    WritePolicy,
    evaluate_signal,
    node_conditions,
    node_phase,
)
from grace.detect.forecast import Forecaster, ForecastSettings
from grace.detect.graph import HealthGraph, analysis_status, node_of
from grace.detect.sample import NoData, Sample, Value

NodeKey = tuple[str, str]
"""(namespace, name) of a HealthNode."""


def key_of(node: HealthNode) -> NodeKey:
    return (node.metadata.namespace, node.metadata.name)


def _fingerprint(signal: Signal) -> str:
    return signal.model_dump_json(by_alias=True)


@dataclass
class _SignalModels:
    fingerprint: str
    memory: SignalMemory | None = None
    anomaly: AnomalyDetector | None = None
    anomaly_since: datetime | None = None
    forecaster: Forecaster | None = None
    breach_predicted: bool = False
    last_learned: datetime | None = None


class Detector:
    """Holds the in-memory models of every watched HealthNode and evaluates them."""

    def __init__(
        self,
        anomaly: AnomalySettings | None = None,
        forecast: ForecastSettings | None = None,
        write_policy: WritePolicy | None = None,
    ) -> None:
        self._anomaly_settings = anomaly or AnomalySettings()
        self._forecast_settings = forecast or ForecastSettings()
        self.write_policy = write_policy or WritePolicy()
        self._models: dict[NodeKey, dict[str, _SignalModels]] = {}

    # -- model lifecycle --------------------------------------------------------------------

    def _signal_models(self, node: HealthNode) -> dict[str, _SignalModels]:
        """The node's models, reset per signal whose spec changed, dropped for removed ones."""
        interval = parse_duration(node.spec.interval)
        old = self._models.get(key_of(node), {})
        fresh: dict[str, _SignalModels] = {}
        for sig in node.spec.signals:
            fp = _fingerprint(sig)
            kept = old.get(sig.name)
            if kept is not None and kept.fingerprint == fp:
                fresh[sig.name] = kept
                continue
            fresh[sig.name] = _SignalModels(
                fingerprint=fp,
                anomaly=AnomalyDetector(self._anomaly_settings) if sig.anomaly else None,
                forecaster=(
                    Forecaster(interval, parse_duration(sig.forecast), self._forecast_settings)
                    if sig.forecast
                    else None
                ),
            )
        self._models[key_of(node)] = fresh
        return fresh

    def forget(self, key: NodeKey) -> None:
        """Drop a deleted HealthNode's models."""
        self._models.pop(key, None)

    def known(self) -> list[NodeKey]:
        return sorted(self._models)

    def history_needed(self, node: HealthNode) -> timedelta:
        """How far back `warm_up` history is useful: the longest model window times the interval."""
        samples = 0
        for sig in node.spec.signals:
            if sig.anomaly:
                a = self._anomaly_settings
                samples = max(samples, a.long_window, a.window)
            if sig.forecast:
                f = Forecaster(
                    parse_duration(node.spec.interval),
                    parse_duration(sig.forecast),
                    self._forecast_settings,
                )
                samples = max(samples, f.window)
        return timedelta(seconds=samples * parse_duration(node.spec.interval))

    def warm_up(
        self, node: HealthNode, history: Mapping[str, Iterable[tuple[float, float]]]
    ) -> None:
        """Replay recent (unix time, value) history per signal name into anomaly and forecast.

        Hysteresis is not replayed: it resumes from the stored status, which is what a user saw.
        """
        models = self._signal_models(node)
        for name, points in history.items():
            m = models.get(name)
            if m is None:
                continue
            pts = list(points)
            if m.anomaly is not None:
                m.anomaly.warm_up(v for _, v in pts)
            if m.forecaster is not None:
                m.forecaster.warm_up(pts)
            if pts:
                m.last_learned = datetime.fromtimestamp(pts[-1][0], UTC)

    # -- evaluation -------------------------------------------------------------------------

    def evaluate(
        self,
        node: HealthNode,
        samples: Mapping[str, Sample],
        now: datetime,
        graph: HealthGraph | None = None,
    ) -> HealthNodeStatus:
        """The node's next status from this round of samples (one per signal name).

        A signal with no entry in `samples` counts as NoData. Pass `graph` (the namespace's
        HealthNodes) to recompute `rootCause` and the GraphValid condition; without it the stored
        root cause is kept. Fields the detector does not own (missions, learning) are kept.
        """
        models = self._signal_models(node)
        interval = timedelta(seconds=parse_duration(node.spec.interval))
        previous = {s.name: s for s in node.status.signals}
        evaluations: list[SignalEvaluation] = []
        statuses: list[SignalStatus] = []
        anomalies: list[str] | None = None
        breaches: list[str] | None = None

        for sig in node.spec.signals:
            m = models[sig.name]
            sample = samples.get(sig.name, NoData("no sample was taken for this signal"))
            ev = evaluate_signal(sig, previous.get(sig.name), sample, now, m.memory)
            m.memory = ev.memory
            learn = m.last_learned is None or now - m.last_learned >= interval / 2
            status = ev.status
            if m.anomaly is not None:
                anomalies = anomalies if anomalies is not None else []
                score = self._score_anomaly(m, sample, now, learn)
                if score is not None:
                    status = status.model_copy(
                        update={
                            "anomaly_score": round(score, 3),
                            "anomaly_since": m.anomaly_since if m.anomaly.is_anomaly else None,
                        }
                    )
                    if m.anomaly.is_anomaly:
                        anomalies.append(
                            f"{sig.name}: unusual for its recent past since {_stamp(m.anomaly_since)}"
                        )
            if m.forecaster is not None:
                forecast = self._forecast(m, sig, sample, now, learn)
                if forecast is not None:
                    status = status.model_copy(update={"forecast": _round(forecast)})
                if sig.critical is not None:
                    breaches = breaches if breaches is not None else []
                    if m.breach_predicted and status.state is not SignalState.CRITICAL:
                        horizon = format_duration(parse_duration(sig.forecast or "0s"))
                        breaches.append(
                            f"{sig.name}: forecast to cross critical ({_bound(sig)}) "
                            f"within {horizon}"
                        )
            if learn and isinstance(sample, Value):
                m.last_learned = now
            evaluations.append(ev)
            statuses.append(status)

        phase = node_phase(s.state for s in statuses)
        root_cause = node.status.root_cause
        analysis = node.status.root_cause_analysis
        extra = []
        if graph is not None:
            fresh = node.status.model_copy(update={"phase": phase, "signals": statuses})
            g = graph.with_node(node_of(node.model_copy(update={"status": fresh})))
            found = g.analyze(node.metadata.name)
            root_cause = found.root_cause
            analysis = analysis_status(found)
            extra.append(g.condition(node.metadata.name, node.metadata.generation or None))
        facts = ConditionFacts(
            interval=node.spec.interval,
            generation=node.metadata.generation or None,
            predicted_breaches=breaches,
            anomalies=anomalies,
            extra=extra,
        )
        conditions = node_conditions(node.status.conditions, evaluations, phase, now, facts)
        return node.status.model_copy(
            update={
                "phase": phase,
                "observed_generation": node.metadata.generation or None,
                "last_evaluated": now,
                "signals": statuses,
                "root_cause": root_cause,
                "root_cause_analysis": analysis,
                "conditions": conditions,
            }
        )

    def worth_writing(
        self, stored: HealthNodeStatus, new: HealthNodeStatus, spec: HealthNodeSpec
    ) -> bool:
        return self.write_policy.worth_writing(stored, new, spec)

    def _score_anomaly(
        self, m: _SignalModels, sample: Sample, now: datetime, learn: bool
    ) -> float | None:
        assert m.anomaly is not None
        if not isinstance(sample, Value):
            return None
        was = m.anomaly.is_anomaly
        score = m.anomaly.observe(sample.value) if learn else m.anomaly.score(sample.value)
        if m.anomaly.is_anomaly and not was:
            m.anomaly_since = now
        return score

    def _forecast(
        self, m: _SignalModels, sig: Signal, sample: Sample, now: datetime, learn: bool
    ) -> float | None:
        assert m.forecaster is not None
        if not isinstance(sample, Value):
            m.breach_predicted = False
            return None
        if learn:
            m.forecaster.learn(sample.value, now.timestamp())
        fc = m.forecaster.forecast()
        if fc is None:
            m.breach_predicted = False
            return None
        if sig.critical is not None:
            # Set on the conservative bound, clear only when the point forecast falls back:
            # the condition does not flap while the forecast hovers around the threshold.
            if m.forecaster.predicted_breach(sig.critical):
                m.breach_predicted = True
            elif not sig.critical.crossed(fc.value):
                m.breach_predicted = False
        return fc.value


def _bound(sig: Signal) -> str:
    t = sig.critical
    if t is None:
        return ""
    return f"above {t.above:g}" if t.above is not None else f"below {t.below:g}"


def _stamp(when: datetime | None) -> str:
    return when.isoformat().replace("+00:00", "Z") if when is not None else "?"


def _round(value: float) -> float:
    """Six significant digits: enough for a human, and no float noise in the status."""
    return float(f"{value:.6g}")
