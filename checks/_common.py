"""Small table helpers shared by the check modules (pure pandas, no SDKs)."""

from __future__ import annotations

import pandas as pd

from cloudaudit.policy import Policy
from cloudaudit.regions import outside, resolve


def allowed_countries_text(policy: Policy) -> str:
    return ", ".join(policy.allowed_countries)


def location_verdict(frame: pd.DataFrame, policy: Policy, location: str = "region",
                     provider: str = "provider") -> pd.DataFrame:
    """Add ``countries`` (resolved set as text), ``_outside`` (bool) for a location column.

    A location passes only if every country it may store data in is allowed and, where the
    policy narrows regions for that provider, the location is one of them. Unknown codes fail.
    """
    found = resolve(frame[provider], frame[location])
    bad = outside(found, policy.allowed_countries)
    if policy.allowed_regions:
        narrowed = frame[provider].map(lambda p: p in policy.allowed_regions).astype(bool)
        listed = pd.Series([
            (loc is not None and not pd.isna(loc) and str(loc).lower() in policy.allowed_regions.get(p, ()))
            for p, loc in zip(frame[provider], frame[location])], index=frame.index)
        bad = bad | (narrowed & ~listed)
    text = found.map(lambda c: "unknown location" if c is None else ", ".join(sorted(c)))
    return frame.assign(countries=text, _outside=bad)


def classification(inv, policy: Policy) -> pd.DataFrame:
    """(provider, account_id, resource_id, label, level): the label of every resource.

    ``level`` is the canonical level, ``invalid`` for a value outside the scheme and the
    policy's default level for unlabelled resources (column ``labelled`` False).
    """
    res = inv.resources[["provider", "account_id", "resource_id"]]
    tags = inv.tags[inv.tags["key"] == policy.classification_key]
    tags = tags.drop_duplicates(["provider", "account_id", "resource_id"])[["provider", "account_id", "resource_id", "value"]]
    merged = res.merge(tags, on=["provider", "account_id", "resource_id"], how="left")
    labelled = merged["value"].notna()
    level = merged["value"].map(lambda v: policy.level_of(v) or "invalid", na_action="ignore")
    level = level.where(labelled, policy.default_level)
    return merged.rename(columns={"value": "label"}).assign(level=level, labelled=labelled)
