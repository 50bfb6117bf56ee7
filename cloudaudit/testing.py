"""Helpers for golden tests and notebooks: small hand-written inventories."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import pandas as pd

from .inventory import TABLES, Inventory


def inventory(covered: bool = True, gaps: Iterable[Mapping[str, Any]] = (), **tables: Any) -> Inventory:
    """Build an Inventory from lists of row dicts, e.g. ``inventory(resources=[{...}])``.

    With ``covered=True`` every (provider, account_id) that appears anywhere gets an ``ok``
    coverage row for every table, as a complete collection would; ``gaps`` adds coverage rows
    with another status (e.g. ``{"provider": "aws", "account_id": "1", "table": "principals",
    "status": "denied"}``), which replace the ok row for that table and account.
    """
    frames = {name: pd.DataFrame(list(rows)) for name, rows in tables.items()}
    inv = Inventory(frames)
    gaps = [dict(g) for g in gaps]
    if covered:
        keys = pd.concat([t[["provider", "account_id"]] for t in inv.tables.values() if len(t)]
                         + [pd.DataFrame([{"provider": g["provider"], "account_id": g["account_id"]} for g in gaps],
                                         columns=["provider", "account_id"])],
                         ignore_index=True).drop_duplicates()
        rows = [{"provider": p, "account_id": a, "region": None, "table": t, "source": "test", "status": "ok"}
                for p, a in keys.itertuples(index=False) for t in TABLES if t != "coverage"]
        gap_keys = {(g["provider"], g["account_id"], g["table"]) for g in gaps
                    if not g.get("region") and not g.get("resource_id")}
        rows = [r for r in rows if (r["provider"], r["account_id"], r["table"]) not in gap_keys]
        existing = list(tables.get("coverage", []))
        inv = Inventory({**frames, "coverage": pd.DataFrame(existing + rows + [
            {"source": "test", "message": "", **g} for g in gaps])})
    elif gaps:
        existing = list(tables.get("coverage", []))
        inv = Inventory({**frames, "coverage": pd.DataFrame(existing + [{"source": "test", **g} for g in gaps])})
    return inv
