"""Azure adapter: a whole Entra ID tenant, read-only, from ARM, Azure Resource Graph and Microsoft Graph.

``collect(options, *, executor=None, progress=no_progress) -> Collection`` reads every
subscription the identity can see (fan-out over a bounded thread pool) and the tenant's Entra
ID data; ``normalize(collection) -> Inventory`` is pure and replays an evidence bundle offline.

Options (``[providers.azure]`` in the policy file, or ``options={"azure": {...}}``):

``credential``
    any azure-core ``TokenCredential`` (``get_token``); default ``DefaultAzureCredential``
    (environment, workload identity, managed identity, Azure CLI ...).
``tenant_id``
    the Entra tenant (default: the one the credential's subscriptions belong to).
``cloud``
    ``public`` (default), ``china`` or ``usgov``: picks the ARM, Graph and authority endpoints.
``arm_endpoint``, ``graph_endpoint``, ``authority``
    explicit https endpoints overriding the cloud's.
``connection_verify``
    path to a CA bundle for TLS verification (a proxy or a private endpoint's CA).
``disable_instance_discovery``
    true for an authority Microsoft's instance discovery does not know (private / test
    authorities); passed to the default credential.
``subscriptions``
    only these subscription ids (others the identity can see are skipped; a listed one it
    cannot see gets an ``error`` coverage row).
``data_access_logging``
    read each data store's diagnostic settings (one ARM call per storage account, Key Vault,
    SQL database, Cosmos DB account and Recovery Services vault; default true). False skips
    them and marks ``resources.data_access_logging`` unsupported.
``max_workers``
    thread-pool size for the fan-out over subscriptions and Resource Graph families (default 8).

Accounts: ``account_id`` is the subscription id for ARM data and the tenant id for Entra data
(users, directory roles, conditional access, app credentials).  Least privileges are in
``docs/permissions/azure.md``.
"""

from __future__ import annotations

from typing import Any

from .normalize import normalize


def collect(options: dict[str, Any], **kwargs: Any):
    """Collect from Azure (see the module docstring); imports the Azure SDKs on first use."""
    from .collector import collect as _collect

    return _collect(options, **kwargs)

NAME = "azure"

__all__ = ["NAME", "collect", "normalize"]
