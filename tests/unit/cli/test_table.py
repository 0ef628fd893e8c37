"""kubectl's table and age formats."""

from __future__ import annotations

import pytest

from grace.cli.table import human_age, render


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-5, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (200, "3m20s"),
        (600, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 5 * 60, "3h5m"),
        (8 * 3600 + 5 * 60, "8h"),
        (47 * 3600, "47h"),
        (2 * 86400 + 3 * 3600, "2d3h"),
        (8 * 86400, "8d"),
        (800 * 86400, "2y70d"),
        (9 * 365 * 86400, "9y"),
        (125, "2m5s"),
        (3 * 3600 + 30 * 60, "3h30m"),
        (3 * 86400 + 4 * 3600, "3d4h"),
        (40 * 86400, "40d"),
        (730 * 86400, "2y"),
    ],
)
def test_ages_read_like_kubectl(seconds: int, shown: str) -> None:
    assert human_age(seconds) == shown


def test_columns_align_three_spaces_apart_without_trailing_blanks() -> None:
    text = render([["NAME", "PHASE", "AGE"], ["checkout", "Healthy", ""], ["db", "Critical", "5s"]])
    assert text.splitlines() == [
        "NAME       PHASE      AGE",
        "checkout   Healthy",
        "db         Critical   5s",
    ]
    assert render([]) == ""
