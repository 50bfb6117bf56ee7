"""Tests of the shared check helpers in checks/_common.py."""

from pathlib import Path

import pandas as pd

from cloudaudit.checks import _common

CHECKS = Path(_common.__file__).parent


def test_joined_sorted_distinct_values_per_group_without_missing():
    frame = pd.DataFrame({"k": ["a", "a", "a", "b", "c"], "v": ["y", "x", "y", None, "z"]})
    out = _common.joined(frame, ["k"], "v", "vs")
    assert dict(zip(out["k"], out["vs"])) == {"a": "x, y", "c": "z"}  # b has no value: no row
    assert _common.joined(frame, ["k"], "v", "vs", sep="; ").set_index("k").loc["a", "vs"] == "x; y"
    # numbers sort as numbers (ports), not as text
    ports = pd.DataFrame({"k": ["a", "a", "a"], "p": [3389, 22, 22]})
    assert _common.joined(ports, ["k"], "p", "ports")["ports"].tolist() == ["22, 3389"]
    empty = _common.joined(frame.iloc[3:4], ["k"], "v", "vs")
    assert empty.empty and list(empty.columns) == ["k", "vs"]


def test_add_joined_keeps_every_row_and_fills_groups_without_values():
    base = pd.DataFrame({"k": ["c", "b", "a"]})
    source = pd.DataFrame({"k": ["a", "a", "c", "b"], "v": ["2", "1", "3", None], "w": ["q", None, None, None]})
    out = _common.add_joined(base, source, ["k"], {"v": "vs", "w": "ws"}, fill="-")
    assert out["k"].tolist() == ["c", "b", "a"]
    assert out["vs"].tolist() == ["3", "-", "1, 2"] and out["ws"].tolist() == ["-", "-", "q"]


def test_check_modules_use_the_shared_join_helper_not_their_own_lambdas():
    for path in CHECKS.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "join(sorted(set(" not in text, path.name
        assert "def joined(" not in text or path.name == "_common.py", path.name
