"""Classification labels, shared by the checks and the engine.

The checks judge a resource at its label's level (CLS-*, ENC-001 ...). The engine escalates
the severity of open findings on top-secret / confidential subjects and fills the findings'
``classification`` column. Both read the labels from here, so a resource labelled only
through its account is judged, shown and escalated at the same level.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .frames import lookup, text_series
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


def _classification_tags(inventory: Inventory, policy: Policy) -> pd.DataFrame:
    """(provider, account_id, resource_id, value, level) of the classification tags, once per
    run. A subject tagged twice: the first value counts (the readers look it up)."""
    def select() -> pd.DataFrame:
        tags = inventory.tags
        tags = tags[RKEY + ["value"]][tags["key"] == policy.classification_key]  # the columns first: less to copy
        return tags.assign(level=pd.Categorical(policy.levels(tags["value"])))  # a handful of levels

    return memoized("classification_tags", (inventory.tags, policy), select)


def _on_accounts(tags: pd.DataFrame) -> pd.DataFrame:
    """The tags set on an account itself (AWS account tags, subscription tags, project labels),
    which the account's resources inherit."""
    return tags[(tags["resource_id"] == tags["account_id"]).fillna(False).to_numpy(dtype=bool)]


def _resource_labels(inventory: Inventory, policy: Policy, inherit: bool) -> pd.DataFrame:
    res = inventory.resources[RKEY]
    tags = _classification_tags(inventory, policy)
    merged = lookup(res, tags, RKEY, ["value", "level"])  # the tags' levels: each distinct value mapped once
    merged["level"] = text_series(merged["level"])
    own = merged["value"].notna().to_numpy()
    inherited = np.zeros(len(merged), dtype=bool)
    if inherit:
        on_accounts = _on_accounts(tags)[KEY + ["value", "level"]].rename(
            columns={"value": "_parent", "level": "_level"})
        parent = lookup(merged[KEY], on_accounts, KEY, ["_parent", "_level"])
        inherited = ~own & parent["_parent"].notna().to_numpy()
        merged["value"] = merged["value"].fillna(parent["_parent"])
        merged["level"] = merged["level"].fillna(text_series(parent["_level"]))
    labelled = merged["value"].notna()
    source = pd.Categorical.from_codes(np.where(own, 0, np.where(inherited, 1, 2)).astype(np.int8),
                                       categories=["resource", "account", "none"])
    level = merged["level"].where(labelled, policy.default_level)
    return merged.rename(columns={"value": "label"}).assign(level=level, labelled=labelled, label_source=source)


def subject_levels(inventory: Inventory, policy: Policy, subjects: pd.DataFrame) -> pd.Series:
    """The classification level of each row of ``subjects`` (provider, account_id,
    resource_id), aligned with it: the subject's own label, else, for a resource of the
    inventory, its account's label (as :func:`resource_labels`), as a categorical. <NA> where
    there is no label: such findings carry no classification and are not escalated. The cost
    grows with the number of subjects, not with the inventory: a run of one check stays cheap.
    """
    tags = _classification_tags(inventory, policy)[RKEY + ["level"]]
    level = lookup(subjects[RKEY], tags, RKEY, ["level"])["level"]
    accounts = _on_accounts(tags)
    if len(accounts) and level.isna().any():
        maybe = level.isna() & subjects["resource_id"].notna() & subjects["account_id"].isin(accounts["account_id"])
        rows = np.flatnonzero(maybe.fillna(False).to_numpy(dtype=bool))
        parent = lookup(subjects[KEY].iloc[rows], accounts[KEY + ["level"]], KEY, ["level"])["level"]
        rows, parent = rows[parent.notna().to_numpy()], parent[parent.notna()]
        resources = inventory.resources[RKEY].assign(_resource=True)
        held = lookup(subjects[RKEY].iloc[rows], resources, RKEY, ["_resource"])["_resource"].notna().to_numpy()
        level = level.copy()
        level.iloc[rows[held]] = parent.to_numpy()[held]
    return pd.Series(level.array, index=subjects.index)
