"""`make image`: build the operator, OPA and shop images, and import them into a running real
node when there is one."""

from __future__ import annotations

import time

from grace_lab.localcluster.images import build_all


def _main() -> int:  # `make image`
    import sys

    from grace_lab.localcluster.cluster import LocalCluster

    cluster = LocalCluster()
    node = cluster.real_node() if cluster.running() and cluster.state.real_node else None
    t0 = time.monotonic()
    try:
        built = build_all(node)
    except (RuntimeError, OSError) as e:
        print(f"grace: image build failed: {e}", file=sys.stderr)
        return 1
    for name, (size, seconds) in built.items():
        where = f", imported in {seconds:.1f}s" if node else ""
        print(f"{name}: {size / 1e6:.0f} MB{where}")
    target = (
        f"into the real node of {cluster.dir}" if node else "(no real node running: not imported)"
    )
    print(f"# images built in {time.monotonic() - t0:.1f}s {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
