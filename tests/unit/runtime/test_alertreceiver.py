"""The webhook receiver over real HTTP: only an authenticated v4 post within the size limit
wakes anything, and only the nodes it names; every refusal is a 4xx and counted."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY

from grace.runtime.alertreceiver import PATH, AlertReceiver, TokenFile

TOKEN = "s3cret-token"


class Watch:
    """What the receiver sees of a NodeWatch: its key, its body, and wake()."""

    def __init__(self, namespace: str, name: str, alert: str) -> None:
        self.namespace, self.name = namespace, name
        self.body = {
            "metadata": {"namespace": namespace, "name": name},
            "spec": {
                "target": {"kind": "Deployment", "name": name},
                "signals": [
                    {"name": "a", "alert": {"name": alert, "labels": {"namespace": namespace}}}
                ],
            },
        }
        self.woken = 0

    def wake(self) -> None:
        self.woken += 1


def posts(outcome: str) -> float:
    return REGISTRY.get_sample_value("grace_alert_webhook_posts_total", {"outcome": outcome}) or 0.0


def firing(alertname: str, namespace: str) -> dict[str, Any]:
    return {
        "version": "4",
        "status": "firing",
        "receiver": "grace",
        "groupLabels": {},
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": alertname, "namespace": namespace},
                "annotations": {},
                "startsAt": "2026-12-04T16:00:00Z",
                "fingerprint": "abc",
            }
        ],
    }


def test_only_authenticated_well_formed_posts_wake_the_named_nodes(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    checkout, cart = (
        Watch("shop", "checkout", "KubePodCrashLooping"),
        Watch("shop", "cart", "Other"),
    )
    receiver = AlertReceiver(TokenFile(token), 2048, lambda: [checkout, cart])
    auth = {"Authorization": f"Bearer {TOKEN}"}

    async def scenario() -> dict[str, int]:
        before = {o: posts(o) for o in ("accepted", "unauthorized", "malformed", "too-large")}
        async with TestClient(TestServer(receiver.app(), host="127.0.0.1")) as http:
            body = json.dumps(firing("KubePodCrashLooping", "shop"))
            statuses = {
                "none": (await http.post(PATH, data=body)).status,
                "wrong": (
                    await http.post(PATH, data=body, headers={"Authorization": "Bearer nope"})
                ).status,
                "malformed": (await http.post(PATH, data="{not json", headers=auth)).status,
                "v3": (
                    await http.post(
                        PATH, data=json.dumps({**firing("X", "shop"), "version": "3"}), headers=auth
                    )
                ).status,
                "large": (await http.post(PATH, data="x" * 4096, headers=auth)).status,
            }
            assert checkout.woken == 0 and cart.woken == 0
            ok = await http.post(PATH, data=body, headers=auth)
            statuses["ok"] = ok.status
            assert await ok.json() == {"alerts": 1, "woken": 1}
        after = {o: posts(o) - before[o] for o in before}
        assert after == {"accepted": 1, "unauthorized": 2, "malformed": 2, "too-large": 1}
        return statuses

    statuses = asyncio.run(scenario())
    assert statuses == {
        "none": 401,
        "wrong": 401,
        "malformed": 400,
        "v3": 400,
        "large": 413,
        "ok": 200,
    }
    assert (checkout.woken, cart.woken) == (1, 0)


def test_a_rotated_token_is_picked_up_and_a_missing_one_refuses_everything(tmp_path: Path) -> None:
    token = tmp_path / "token"
    file = TokenFile(token)
    assert file.current() == ""
    token.write_text("one")
    assert file.current() == "one"
    token.write_text("two")
    os.utime(token, (1, 1))
    assert file.current() == "two"
