"""GCP adapter: read-only collection for an organization, a folder or one project.

Sources: Resource Manager v3 (organization, folder tree, projects, IAM policies for audit
configs), Cloud Asset Inventory v1 at the audit scope (``searchAllResources``, ``listAssets``
with resource content, ``searchAllIamPolicies``), Org Policy v2 effective policies, Access
Approval v1 settings (per project and the audited organization), Security Center Management v1
(Security Command Center's Event Threat Detection service per project), and — only
when configured — the Admin SDK Directory API for 2-step verification.

Options (``collect(options)``):

``credentials``
    google.auth credentials; default ``google.auth.default()`` (viewer roles keep it read-only,
    see docs/permissions/gcp.md). The string
    ``"anonymous"`` sends no credentials (only for private test endpoints such as the sample fake).
``organization`` / ``folder`` / ``project``
    the audit scope: ``organizations/123`` (or ``123``), ``folders/456``, or a project id. With
    none, every organization visible through ``organizations:search``.
``endpoints``
    API name -> endpoint URL, for private service connect or tests:
    ``{"cloudresourcemanager": ..., "cloudasset": ..., "orgpolicy": ..., "accessapproval": ...,
    "securitycentermanagement": ..., "admin": ...}``.
    A URL with a scheme (``http://127.0.0.1:8080``) is used as is.
``allowed_domains``
    e-mail domains of the organization; members from other domains are external. The
    organization's own domain (its display name) is always allowed; gmail.com never is.
``max_workers``
    threads for the per-folder / per-project calls when no executor is passed (default 8).
``directory``
    Admin SDK settings ``{"customer": "my_customer", "subject": "admin@example.com"}`` for
    2-step verification (needs domain-wide delegation). Not configured: coverage row
    ``principals.mfa`` is ``unsupported`` for every project, so MFA checks report ERROR.
``quota_project``
    project billed for the Cloud Asset / Org Policy API quota (where the APIs are enabled).
``client_factory``
    a :class:`~cloudaudit.providers.gcp.clients.ClientFactory` to use instead of building one.
"""

from __future__ import annotations

from typing import Any

from .normalizer import normalize


def collect(options: dict[str, Any], **kwargs: Any):
    """Collect from Google Cloud (see the module docstring); imports the Google SDKs on first use."""
    from .collector import collect as _collect

    return _collect(options, **kwargs)

NAME = "gcp"

__all__ = ["NAME", "collect", "normalize"]
