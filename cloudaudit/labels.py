"""Classification labels, shared by the checks and the engine.

The checks judge a resource at its label's level (CLS-*, ENC-001 ...). The engine escalates
the severity of open findings on top-secret / confidential subjects and fills the findings'
``classification`` column. Both read the labels from here, so a resource labelled only
through its account is judged, shown and escalated at the same level.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .frames import lookup
from .inventory import Inventory
from .memo import memoized
from .policy import Policy

KEY = ["provider", "account_id"]
RKEY = ["provider", "account_id", "resource_id"]


def resource_labels(inventory: Inventory, policy: Policy, inherit: bool = True) -> pd.DataFrame:
    """(provider, account_id, resource_id, label, level, labelled, label_source): one row per
    resource, in the order of ``inventory.resources``.

    ``level`` is the canonical level, ``invalid`` for a value outside the scheme and the
    policy's default level for unlabelled resources (``labelled`` False). With ``inherit``, a
    resource without its own label takes the label on its account (a tag row whose
    ``resource_id`` is the account id: AWS account tags, subscription tags, project labels);
    ``label_source`` says ``resource``, ``account`` or ``none``. Computed once per run.
    """
    return memoized(f"labels/{inherit}", (inventory.resources, inventory.tags, policy),
                    lambda: _resource_labels(inventory, policy, inherit))


def _resource_labels(inventory: Inventory, policy: Policy, inherit: bool) -> pd.DataFrame:
    res = inventory.resources[RKEY]
    tags = inventory.tags[inventory.tags["key"] == policy.classification_key]
    tags = tags[RKEY + ["value"]]  # a key tagged twice: the first value counts (lookup)
    merged = lookup(res, tags, RKEY, ["value"])
    source = pd.Series(np.where(merged["value"].notna(), "resource", "none"), index=merged.index)
    if inherit:
        own = tags[tags["resource_id"] == tags["account_id"]][KEY + ["value"]]
        parent = lookup(merged[KEY], own.rename(columns={"value": "_parent"}), KEY, ["_parent"])["_parent"]
        source = source.where(~(merged["value"].isna() & parent.notna()), "account")
        merged["value"] = merged["value"].fillna(parent)
    labelled = merged["value"].notna()
    level = policy.levels(merged["value"])
    level = level.where(labelled, policy.default_level)
    return merged.rename(columns={"value": "label"}).assign(level=level, labelled=labelled, label_source=source)


def subject_levels(inventory: Inventory, policy: Policy) -> pd.DataFrame:
    """(provider, account_id, resource_id, classification): the level of every labelled subject.

    A resource has its own label, else its account's (as :func:`resource_labels`); any other
    tagged subject (an account, a principal) has its own label. Unlabelled subjects have no
    row: findings on them carry no classification and are not escalated.
    """
    labels = resource_labels(inventory, policy)
    labels = labels[labels["labelled"].to_numpy(dtype=bool)][RKEY + ["level"]]
    tags = inventory.tags[inventory.tags["key"] == policy.classification_key][RKEY + ["value"]]
    resources = inventory.resources[RKEY].assign(_resource=True)
    other = lookup(tags, resources, RKEY, ["_resource"])["_resource"].isna().to_numpy()
    tags = tags[other]  # resources are in ``labels`` already: one row per subject keeps lookups fast
    own = tags[RKEY].assign(level=policy.levels(tags["value"]))
    levels = pd.concat([labels, own], ignore_index=True).rename(columns={"level": "classification"})
    return levels.astype({"classification": "string"})
