"""Detection: signals -> phase, with hysteresis, anomaly scores, forecasts and the health graph.

Layering: `sample`, `evaluate`, `graph`, `anomaly`, `forecast` are pure; `detector` combines
them and keeps per-node models in memory; `prometheus` is the only module doing I/O. Imports
`grace.api` only; imported by the handlers, the CLI and (for ranking) the proposer.
"""

from __future__ import annotations

from grace.detect.anomaly import AnomalyDetector, AnomalySettings
from grace.detect.detector import Detector, NodeKey, key_of
from grace.detect.evaluate import (
    SignalEvaluation,
    SignalMemory,
    WritePolicy,
    evaluate_signal,
    node_conditions,
    node_phase,
    raw_level,
)
from grace.detect.forecast import Forecast, Forecaster, ForecastSettings
from grace.detect.graph import GraphNode, HealthGraph, RankedCause
from grace.detect.sample import Error, NoData, Sample, Unreachable, Value, sample_of

__all__ = [
    "AnomalyDetector",
    "AnomalySettings",
    "Detector",
    "Error",
    "Forecast",
    "ForecastSettings",
    "Forecaster",
    "GraphNode",
    "HealthGraph",
    "NoData",
    "NodeKey",
    "RankedCause",
    "Sample",
    "SignalEvaluation",
    "SignalMemory",
    "Unreachable",
    "Value",
    "WritePolicy",
    "evaluate_signal",
    "key_of",
    "node_conditions",
    "node_phase",
    "raw_level",
    "sample_of",
]
