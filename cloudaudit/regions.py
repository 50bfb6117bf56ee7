"""Location code -> set of countries, per provider, from the bundled region catalog.

An unknown code resolves to ``None`` ("unknown") and must never be treated as allowed.
Multi-regions, dual-regions and geographies resolve to every country they may store data in.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

_AWS_ZONE = re.compile(r"^([a-z]{2}(?:-[a-z]+)+-\d+)[a-z]$")          # ap-northeast-1a
_AWS_LOCAL_ZONE = re.compile(r"^([a-z]{2}(?:-[a-z]+)+-\d+)-[a-z0-9-]+$")  # us-east-1-bos-1a
_GCP_ZONE = re.compile(r"^([a-z]+-[a-z]+\d+)-[a-z]$")                  # asia-northeast1-a


@lru_cache(maxsize=1)
def catalog() -> dict[str, Any]:
    """The bundled region catalog (cloudaudit/data/regions.json)."""
    text = resources.files("cloudaudit").joinpath("data/regions.json").read_text(encoding="utf-8")
    return json.loads(text)


def normalize(provider: str, location: str | None) -> str | None:
    """Canonical code: lower case, Azure display names without spaces, zones to their region."""
    if location is None or location is pd.NA or (isinstance(location, float) and pd.isna(location)):
        return None
    code = str(location).strip().lower()
    if provider == "azure":
        code = code.replace(" ", "")
    elif provider == "aws":
        m = _AWS_ZONE.match(code) or _AWS_LOCAL_ZONE.match(code)
        if m and m.group(1) in catalog()["aws"]["regions"]:
            code = m.group(1)
    elif provider == "gcp":
        m = _GCP_ZONE.match(code)
        if m:
            code = m.group(1)
    return code or None


@lru_cache(maxsize=4096)
def countries(provider: str, location: str | None) -> frozenset[str] | None:
    """Countries a location may store data in, or None when the code is unknown."""
    code = normalize(provider, location)
    if code is None:
        return None
    table = catalog().get(provider)
    if table is None:
        return None
    region = table.get("regions", {}).get(code)
    if region is not None:
        return frozenset(region["countries"]) or None
    alias = table.get("aliases", {}).get(code)
    if alias is not None:
        return frozenset(alias) or None
    multi = table.get("multi", {}).get(code)
    if multi is not None:
        if "countries" in multi:
            return frozenset(multi["countries"]) or None
        members = [countries(provider, m) for m in multi.get("members", [])]
        if not members or any(m is None for m in members):
            return None
        return frozenset().union(*members)  # type: ignore[arg-type]
    return None


def is_known(provider: str, location: str) -> bool:
    """True when the code resolves to at least one country."""
    return countries(provider, location) is not None


def resolve(provider: pd.Series, location: pd.Series) -> pd.Series:
    """Vectorized :func:`countries`: resolves each distinct (provider, location) pair once."""
    keys = pd.DataFrame({"p": provider.astype("string"), "l": location.astype("string")})
    uniq = keys.drop_duplicates()
    uniq = uniq.assign(c=[countries(p, None if pd.isna(loc) else loc) if not pd.isna(p) else None
                          for p, loc in zip(uniq["p"], uniq["l"])])
    merged = keys.merge(uniq, on=["p", "l"], how="left")
    return pd.Series(merged["c"].to_numpy(), index=location.index, dtype=object)


def _per_unique(found: pd.Series, func) -> pd.Series:
    """Apply ``func`` once per distinct resolved value (None included), then broadcast by code."""
    codes, uniques = pd.factorize(found)  # None / NaN -> -1
    values = [func(u) for u in uniques] + [func(None)]
    return pd.Series(pd.array(values, dtype=object)[codes], index=found.index)


def outside(found: pd.Series, allowed: tuple[str, ...] | frozenset[str]) -> pd.Series:
    """True where the resolved countries are unknown or not all allowed (fail closed)."""
    allowed = frozenset(allowed)
    return _per_unique(found, lambda c: c is None or not c <= allowed).astype(bool)


def listed(provider: str, location: str | None, allowed: tuple[str, ...] | frozenset[str]) -> bool:
    """A location is listed when it, or every member region of a multi-/dual-region, is in ``allowed``."""
    if location is None:
        return False
    code = normalize(provider, location)
    if location in allowed or code in allowed:
        return True
    multi = catalog().get(provider, {}).get("multi", {}).get(code or "")
    members = (multi or {}).get("members")
    return bool(members) and all(m in allowed for m in members)


def outside_regions(provider: pd.Series, location: pd.Series,
                    allowed_regions: Mapping[str, Sequence[str]] | None) -> pd.Series:
    """True where the policy narrows the provider to some regions (``residency.allowed_regions``)
    and the location is not one of them (a multi-/dual-region: not all of its members); unknown
    or empty locations of a narrowed provider are outside. False for providers not narrowed.

    The one place this narrowing is decided: the checks (``location_verdict``) and the report's
    residency table both use it, combined with :func:`outside` for the allowed countries.
    """
    if not allowed_regions or not len(location):
        return pd.Series(False, index=location.index, dtype=bool)
    keys = pd.DataFrame({"p": provider.astype("string"), "l": location.astype("string").str.lower()})
    uniq = keys.drop_duplicates()  # one lookup per distinct (provider, location)
    narrowed = [not pd.isna(p) and p in allowed_regions for p in uniq["p"]]
    found = [(not pd.isna(loc)) and listed(p, loc, tuple(allowed_regions.get(p, ())))
             for p, loc in zip(uniq["p"], uniq["l"])]
    uniq = uniq.assign(bad=np.logical_and(narrowed, np.logical_not(found)))
    merged = keys.merge(uniq, on=["p", "l"], how="left")
    return pd.Series(merged["bad"].to_numpy(dtype=bool), index=location.index)


def countries_text(found: pd.Series) -> pd.Series:
    """Resolved countries as sorted text ("JP, KR"), or "unknown location"."""
    return _per_unique(found, lambda c: "unknown location" if c is None else ", ".join(sorted(c)))
