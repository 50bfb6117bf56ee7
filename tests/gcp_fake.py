"""Helpers for the GCP adapter tests: the local fake of the Google REST APIs and its requests.

The fake server and its fixture files ship with the package (``cloudaudit.providers.gcp.sample``
and ``sample_data/*.json``) so the demo can collect from the same organization without tests/.
"""

from __future__ import annotations

import re
from typing import Any

from cloudaudit.providers.gcp.sample import DENIED_PROJECT, ORGANIZATION, FakeGoogleCloud, load_sample

__all__ = ["DENIED_PROJECT", "ORGANIZATION", "FakeGoogleCloud", "load_sample", "writes", "paged_paths"]

# The only POSTs that are reads (IAM policy and effective org policy lookups).
READ_POST = re.compile(r":(getIamPolicy|getEffectivePolicy)$")


def writes(requests: list[dict[str, Any]]) -> list[str]:
    """Requests that are not reads: anything but GET, and POSTs other than the documented reads."""
    return [f"{r['method']} {r['path']}" for r in requests
            if not (r["method"] == "GET" or (r["method"] == "POST" and READ_POST.search(r["path"])))]


def paged_paths(requests: list[dict[str, Any]]) -> set[str]:
    """Paths that were requested with a pageToken (i.e. the client followed nextPageToken)."""
    return {r["path"] for r in requests if r["query"].get("pageToken")}
