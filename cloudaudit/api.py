"""The functions behind the public API: collect, audit, load_bundle."""

from __future__ import annotations

from concurrent.futures import Executor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

from .bundle import read_bundle, write_bundle
from .errors import ProviderError
from .inventory import Inventory
from .policy import Policy
from .providers.base import Collection, Progress, load_provider, no_progress, resolve_progress


def collect_raw(providers: Iterable[str], *, policy: Policy | None = None,
                options: Mapping[str, Mapping[str, Any]] | None = None, executor: Executor | None = None,
                progress: Progress = no_progress) -> list[Collection]:
    """Collect raw payloads from each provider (live, read-only)."""
    policy = policy or Policy()
    collections = []
    for name in providers:
        module = load_provider(name)
        provider_options = {**policy.providers.get(name, {}), **(options or {}).get(name, {})}
        provider_options.setdefault("allowed_domains", list(policy.allowed_domains))
        provider_options.setdefault("trusted_accounts", list(policy.trusted_accounts))
        collection = module.collect(provider_options, executor=executor, progress=progress)
        collection.finished = collection.finished or datetime.now(timezone.utc)
        collections.append(collection)
    return collections


def normalize(collections: Iterable[Collection]) -> Inventory:
    """Turn raw collections into one inventory (pure: no cloud calls)."""
    parts = [load_provider(c.provider).normalize(c) for c in collections]
    return Inventory.concat(parts)


def collect(providers: Iterable[str] | str = ("aws",), *, policy: Policy | None = None,
            bundle: str | Path | None = None, options: Mapping[str, Mapping[str, Any]] | None = None,
            executor: Executor | None = None, progress: Progress | bool | str = "auto") -> Inventory:
    """Collect an inventory from live clouds; optionally keep the raw evidence as a bundle.

    ``options`` holds per-provider settings, e.g. ``{"aws": {"profile": "audit",
    "role_name": "OrganizationAccountAccessRole"}}``; ``executor`` fans out over accounts /
    subscriptions / projects (a bounded thread pool by default). ``progress``: ``"auto"`` shows
    progress bars in notebooks and terminals, ``True`` / ``False`` forces them on / off, or pass
    a callback ``(done, total, label)``.
    """
    if isinstance(providers, str):
        providers = [providers]
    providers = list(providers)
    if not providers:
        raise ProviderError("no provider given (choose from aws, azure, gcp)")
    collections = collect_raw(providers, policy=policy, options=options, executor=executor,
                              progress=resolve_progress(progress))
    if bundle is not None:
        write_bundle(collections, bundle)
    return normalize(collections)


def load_bundle(path: str | Path) -> Inventory:
    """Rebuild the inventory from an evidence bundle, offline (hashes verified first)."""
    _, collections = read_bundle(path)
    return normalize(collections)


def audit(inventory: Inventory, policy: Policy | str | Path | None = None, *, checks: Iterable[str] | None = None,
          as_of: datetime | None = None, workers: int | None = None):
    """Run the ISO 27017 checks over an inventory and return :class:`~cloudaudit.Findings`.

    ``as_of``: the instant ages (key age, inactivity) are measured against; default now. Give
    the collection time when auditing old evidence. ``workers``: threads the checks run on
    (default the CPU count, at most 4; the findings do not depend on it).
    """
    from .engine import run_checks

    if isinstance(policy, (str, Path)):
        policy = Policy.load(policy)
    return run_checks(inventory, policy, checks=checks, as_of=as_of, workers=workers)
