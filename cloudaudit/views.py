"""Report-ready views derived from the inventory (pure pandas).

The reports know findings, not inventories; these tables are what the CLI, the demo and
notebooks hand them as context (``residency=``, ``privileged=``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from . import regions
from .frames import text_series
from .inventory import Inventory
from .policy import Policy


def residency_table(inventory: Inventory, policy: Policy) -> pd.DataFrame:
    """Data-bearing resources and their copies per provider, region and countries.

    ``outside`` is True where any of the countries is not allowed, the location is unknown, or
    the policy narrows the provider to some regions (``allowed_regions``) and this is not one of
    them — the same verdict as the residency checks (RES-001).
    """
    res = inventory.resources
    res = res[res["data_bearing"].fillna(True).astype(bool)]
    primary = res[["provider", "region"]].assign(what="resource")
    reps = inventory.replicas
    copies = reps[["provider"]].assign(region=reps["target_region"], what="copy")
    located = pd.concat([primary, copies], ignore_index=True)
    if located.empty:
        return pd.DataFrame(columns=["provider", "region", "countries", "resources", "copies", "outside"])
    found = regions.resolve(located["provider"], located["region"])
    located = located.assign(countries=regions.countries_text(found),
                             outside=regions.outside(found, policy.allowed_countries)
                             | regions.outside_regions(located["provider"], located["region"], policy.allowed_regions))
    table = (located.assign(resources=located["what"].eq("resource").astype(int),
                            copies=located["what"].eq("copy").astype(int))
             .groupby(["provider", "region", "countries", "outside"], dropna=False, observed=True)[["resources", "copies"]]
             .sum().reset_index())
    return table.sort_values(["outside", "provider", "resources"], ascending=[False, True, False]).reset_index(drop=True)


def privileged_roster(inventory: Inventory) -> pd.DataFrame:
    """Every privileged (admin) grant with the principal's MFA, activity and origin."""
    grants = inventory.grants[inventory.grants["privilege"] == "admin"]
    principals = inventory.principals[["provider", "account_id", "principal_id", "name", "kind", "human", "mfa",
                                       "last_active", "enabled"]]
    roster = grants.merge(principals, on=["provider", "account_id", "principal_id"], how="left")
    roster = roster.assign(principal=roster["name"].fillna(roster["principal_id"]),
                           kind=text_series(roster["kind"]).fillna(text_series(roster["principal_kind"])))
    columns = ["provider", "account_id", "principal", "kind", "role", "scope", "mfa", "standing", "via", "external",
               "last_active"]
    return roster[columns].sort_values(["provider", "account_id", "principal"]).reset_index(drop=True)


def report_context(inventory: Inventory | None, policy: Policy, **extra: Any) -> dict[str, Any]:
    """Keyword arguments for cloudaudit.reports.write_report / render_html."""
    from ._version import __version__

    context: dict[str, Any] = {"organization": policy.organization or None, "tool_version": __version__}
    if inventory is not None:
        context["residency"] = residency_table(inventory, policy)
        context["privileged"] = privileged_roster(inventory)
    context.update({k: v for k, v in extra.items() if v is not None})
    return context
