"""Policy data comes from the grace-policy ConfigMap and reloads without a restart."""

from __future__ import annotations

import json

import pytest

from grace.govern import (
    EmbeddedEngine,
    Governor,
    PolicyData,
    PolicyDataError,
    PolicyDataReloader,
    default_policy_dir,
    policy_data_from_configmap,
)
from tests.unit.govern.corpus import CASES

ALLOWED = next(c for c in CASES if c.name == "medium-risk-high-criticality-confident-runs-alone")


def test_shipped_defaults_equal_the_data_opa_loads() -> None:
    shipped = json.loads((default_policy_dir() / "grace" / "config" / "data.json").read_text())
    assert PolicyData().wire() == shipped
    assert policy_data_from_configmap(None) == PolicyData()
    assert policy_data_from_configmap({}) == PolicyData()


def test_every_key_is_read() -> None:
    data = policy_data_from_configmap(
        {
            "changeWindows": "- {days: [Sat, Sun], start: '01:00', end: '05:00', timezone: UTC}\n",
            "protectedNamespaces": "[kube-system, payments]",
            "maxConcurrentPerNamespace": "2",
            "maxConcurrentCluster": "8",
            "maxPerNamespacePerHour": "10",
        }
    )
    assert data.wire() == {
        "changeWindows": [
            {"days": ["Sat", "Sun"], "start": "01:00", "end": "05:00", "timezone": "UTC"}
        ],
        "protectedNamespaces": ["kube-system", "payments"],
        "maxConcurrentPerNamespace": 2,
        "maxConcurrentCluster": 8,
        "maxPerNamespacePerHour": 10,
    }


def test_missing_keys_keep_their_defaults() -> None:
    data = policy_data_from_configmap({"maxConcurrentCluster": "9", "changeWindows": ""})
    assert data.max_concurrent_cluster == 9
    assert data.change_windows == PolicyData().change_windows


def test_namespaces_may_be_a_plain_list_of_words() -> None:
    data = policy_data_from_configmap({"protectedNamespaces": "kube-system, payments  vault"})
    assert data.protected_namespaces == ["kube-system", "payments", "vault"]


def test_unquoted_yaml_times_and_day_spellings_are_understood() -> None:
    # YAML 1.1 reads 17:00 as the number 1020: the window must still close at 17:00.
    data = policy_data_from_configmap(
        {"changeWindows": "- {days: [monday, Tuesday, '*'], start: 08:30, end: 17:00}"}
    )
    window = data.change_windows[0]
    assert (window.start, window.end) == ("08:30", "17:00")
    assert window.days == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def test_no_windows_at_all_is_allowed() -> None:
    assert policy_data_from_configmap({"changeWindows": "[]"}).change_windows == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"maxConcurrentClustr": "3"}, "unknown key 'maxConcurrentClustr'"),
        ({"maxConcurrentCluster": "-1"}, "maxConcurrentCluster"),
        ({"maxConcurrentCluster": "many"}, "maxConcurrentCluster"),
        ({"changeWindows": "- {days: [Mon], start: '09:00', end: '09:00'}"}, "is empty"),
        ({"changeWindows": "- {days: [Mon], start: '25:00', end: '09:00'}"}, "time of day"),
        ({"changeWindows": "- {days: [Mon], start: '9', end: '10:00'}"}, "time of day"),
        ({"changeWindows": "- {days: [Someday], start: '09:00', end: '10:00'}"}, "days"),
        ({"changeWindows": "- {days: [], start: '09:00', end: '10:00'}"}, "days"),
        (
            {"changeWindows": "- {days: [Mon], start: '09:00', end: '10:00', timezone: Mars/Base}"},
            "unknown time zone",
        ),
        ({"changeWindows": "[{days: [Mon]"}, "not valid YAML"),
    ],
)
def test_bad_configmap_is_refused_with_a_clear_message(data: dict[str, str], message: str) -> None:
    with pytest.raises(PolicyDataError, match=message):
        policy_data_from_configmap(data)


def test_reload_changes_decisions_without_a_restart() -> None:
    engine = EmbeddedEngine()
    governor = Governor(engine)
    reloader = PolicyDataReloader(governor)
    before = governor.decide(ALLOWED.input)
    assert before.result == "allow"

    reloader.apply({"protectedNamespaces": "kube-system, shop"})
    after = governor.decide(ALLOWED.input)
    assert after.result == "deny"
    assert after.reasons == ["namespace shop is protected: GRACE never acts there"]
    assert after.policy_digest != before.policy_digest

    reloader.apply(None)  # ConfigMap deleted: back to the shipped defaults
    again = governor.decide(ALLOWED.input)
    assert again.result == "allow"
    assert again.policy_digest == before.policy_digest


def test_a_bad_configmap_keeps_the_last_good_data() -> None:
    governor = Governor(EmbeddedEngine())
    reloader = PolicyDataReloader(governor)
    reloader.apply({"maxConcurrentCluster": "0"})
    with pytest.raises(PolicyDataError):
        reloader.apply({"maxConcurrentCluster": "0", "protectedNamespaces": "{not: a list}"})
    assert reloader.current.max_concurrent_cluster == 0
    assert governor.decide(ALLOWED.input).reasons == [
        "blast radius: the cluster already has 0 active Missions, the limit is 0"
    ]


def test_the_data_digest_names_the_content_in_force_not_its_spelling() -> None:
    from grace.govern.policy import data_digest

    open_ = policy_data_from_configmap({"protectedNamespaces": "[kube-system]"})
    respelled = policy_data_from_configmap({"protectedNamespaces": "[ kube-system ]"})
    shop = policy_data_from_configmap({"protectedNamespaces": "[kube-system, shop]"})
    assert data_digest(open_) == data_digest(respelled)
    assert data_digest(open_) != data_digest(shop)
    assert data_digest(PolicyData()).startswith("sha256:")
