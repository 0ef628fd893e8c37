"""tests/data/kind-images.txt names every image a cluster test, example, demo or benchmark uses.

On kind a real kubelet pulls images, so the contributor CI loads each of them (hack/kind-images.sh);
an image missing from the list would leave its pods in ImagePullBackOff there and nowhere else.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIST = REPO / "tests" / "data" / "kind-images.txt"
IMAGE = re.compile(r"(?<![\w.])((?:registry\.)?example/[a-z0-9][a-z0-9/._-]*:[A-Za-z0-9._-]+)")


def _sources() -> list[Path]:
    roots = [REPO / "tests", REPO / "examples", REPO / "bench", REPO / "operator", REPO / "lab"]
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if path.suffix not in (".py", ".yaml", ".yml") or not path.is_file():
                continue
            if (REPO / "tests" / "unit") in path.parents:  # no cluster behind unit tests
                continue
            found.append(path)
    return found


def test_every_image_the_cluster_sees_is_listed_for_kind() -> None:
    used = {m for p in _sources() for m in IMAGE.findall(p.read_text())}
    listed = {
        line.strip()
        for line in LIST.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert used, "the scan found no image at all: the pattern is broken"
    assert used - listed == set(), f"add to {LIST.name}: {sorted(used - listed)}"
    assert listed - used == set(), (
        f"no longer used, remove from {LIST.name}: {sorted(listed - used)}"
    )
