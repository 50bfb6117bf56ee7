"""The ISO/IEC 27017 control catalog (checks/iso27017.yaml) and the seed policy items."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import pandas as pd
import yaml


@lru_cache(maxsize=1)
def _load(name: str) -> Any:
    text = resources.files("cloudaudit.checks").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def controls() -> pd.DataFrame:
    """Every control of the catalog: id, kind, title (en/ja), 27002:2022 equivalents, automation."""
    rows = []
    for c in _load("iso27017.yaml")["controls"]:
        rows.append({"control": c["id"], "kind": c["kind"], "title": c["title"]["en"], "title_ja": c["title"]["ja"],
                     "iso27002_2022": ", ".join(c.get("iso27002_2022", [])), "automation": c["automation"],
                     "cloud_guidance": bool(c.get("cloud_guidance", True))})
    return pd.DataFrame(rows)


def control_ids() -> set[str]:
    return set(controls()["control"])


def seed_items() -> dict[str, dict[str, str]]:
    """Seed policy items (11(1) ... 12(10), SSL, CLS) with en/ja descriptions."""
    return dict(_load("seed_items.yaml")["items"])
