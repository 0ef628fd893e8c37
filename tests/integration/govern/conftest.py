"""A real OPA server (built from its Go module) for the governance tests, one per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from grace.govern import default_policy_dir
from grace_lab.localcluster.opa import OpaServer, opa_binary


@pytest.fixture(scope="module")
def opa_server() -> Iterator[OpaServer]:
    if not opa_binary().exists():
        pytest.fail(
            f"no OPA binary at {opa_binary()}: build it with `python -m grace_lab.localcluster.binaries`"
        )
    server = OpaServer(default_policy_dir())
    with server:
        yield server
