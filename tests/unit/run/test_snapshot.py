"""The safe-hold keeps enough of a workload to put it back, and can tell when it is back."""

from __future__ import annotations

import copy
from typing import Any

from grace.run.snapshot import differences, matches, restore_patch, summary, take


def deployment() -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {
            "name": "checkout",
            "namespace": "shop",
            "uid": "uid-1",
            "resourceVersion": "42",
            "annotations": {"deployment.kubernetes.io/revision": "4"},
        },
        "spec": {
            "replicas": 3,
            "paused": False,
            "template": {
                "metadata": {"labels": {"app": "checkout"}, "annotations": {"team": "shop"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "shop/checkout:1.4",
                            "resources": {"requests": {"cpu": "100m"}},
                            "env": [{"name": "MODE", "value": "live"}],
                        }
                    ]
                },
            },
        },
    }


def test_a_snapshot_records_what_a_restore_needs() -> None:
    snap = take(deployment())
    assert snap["replicas"] == 3
    assert snap["paused"] is False
    assert snap["revision"] == "4"
    assert snap["uid"] == "uid-1" and snap["resourceVersion"] == "42"
    assert snap["containers"] == [
        {"name": "app", "image": "shop/checkout:1.4", "resources": {"requests": {"cpu": "100m"}}}
    ]
    assert snap["templateAnnotations"] == {"team": "shop"}
    assert snap["template"]["spec"]["containers"][0]["env"] == [{"name": "MODE", "value": "live"}]
    assert summary(snap) == (
        "Deployment/checkout, replicas 3, images app=shop/checkout:1.4, revision 4"
    )


def test_the_restore_patch_guards_the_uid_and_replaces_the_whole_template() -> None:
    snap = take(deployment())
    ops = restore_patch(snap)
    assert ops[0] == {"op": "test", "path": "/metadata/uid", "value": "uid-1"}
    assert {"op": "replace", "path": "/spec/template", "value": snap["template"]} in ops
    assert {"op": "add", "path": "/spec/replicas", "value": 3} in ops
    assert {"op": "add", "path": "/spec/paused", "value": False} in ops


def test_an_unchanged_workload_matches_even_with_explicit_nulls() -> None:
    snap = take(deployment())
    live = deployment()
    live["spec"]["template"]["metadata"]["creationTimestamp"] = None
    live["metadata"]["resourceVersion"] = "99"
    assert matches(snap, live)


def test_differences_say_what_is_not_back() -> None:
    snap = take(deployment())
    live = deployment()
    live["spec"]["replicas"] = 5
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "shop/checkout:1.5"
    live["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] = "t"
    diffs = differences(snap, live)
    assert not matches(snap, live)
    assert "replicas: expected 3, found 5" in diffs
    assert "container app image: expected shop/checkout:1.4, found shop/checkout:1.5" in diffs
    assert any(d.startswith("template annotations") for d in diffs)


def test_a_change_elsewhere_in_the_template_is_still_a_difference() -> None:
    snap = take(deployment())
    live = copy.deepcopy(deployment())
    live["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "debug"
    assert differences(snap, live) == ["pod template differs"]


def test_a_replaced_target_never_matches() -> None:
    snap = take(deployment())
    live = deployment()
    live["metadata"]["uid"] = "uid-2"
    assert differences(snap, live) == ["the target was replaced (uid uid-1 is now uid-2)"]
