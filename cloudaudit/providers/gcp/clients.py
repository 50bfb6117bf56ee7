"""The one place where google-cloud clients are built (REST transport, endpoints, retries).

Every client uses ``transport="rest"`` so that private endpoints and test fakes only need
plain JSON over HTTP. An endpoint given with a scheme (``http://127.0.0.1:8080``) is used as is.
"""

from __future__ import annotations

from typing import Any, Mapping

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.api_core.client_options import ClientOptions

from ...errors import ProviderError

# Option key in ``endpoints`` for each API.
APIS = ("cloudresourcemanager", "cloudasset", "orgpolicy", "accessapproval", "securitycentermanagement", "admin")

DEFAULT_TIMEOUT = 60.0


def make_retry(deadline: float = 120.0) -> gretry.Retry:
    """Exponential back-off on throttling and transient server errors only."""
    return gretry.Retry(
        predicate=gretry.if_exception_type(gexc.TooManyRequests, gexc.ServiceUnavailable,
                                           gexc.InternalServerError, gexc.BadGateway,
                                           gexc.GatewayTimeout, gexc.DeadlineExceeded),
        initial=0.2, maximum=10.0, multiplier=2.0, timeout=deadline)


class ClientFactory:
    """Builds the read-only clients the collector uses, with shared credentials and endpoints.

    ``credentials``: google.auth credentials; when None, ``google.auth.default()`` with the
    cloud-platform scope (Cloud Asset and Org Policy accept no narrower one; the viewer roles
    granted to the principal keep it read-only). ``endpoints``: API name (see :data:`APIS`) -> endpoint URL.
    """

    SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)

    def __init__(self, credentials: Any = None, endpoints: Mapping[str, str] | None = None,
                 quota_project: str | None = None):
        endpoints = dict(endpoints or {})
        unknown = sorted(set(endpoints) - set(APIS))
        if unknown:
            raise ProviderError(f"gcp option 'endpoints': unknown API {unknown[0]!r} (known: {', '.join(APIS)})")
        if credentials == "anonymous":
            # For private test endpoints (e.g. the bundled fake), never for Google's own APIs.
            from google.auth.credentials import AnonymousCredentials

            credentials = AnonymousCredentials()
        if credentials is None:
            import google.auth
            from google.auth.exceptions import DefaultCredentialsError

            try:
                credentials, detected_project = google.auth.default(scopes=list(self.SCOPES))
            except DefaultCredentialsError as exc:
                raise ProviderError(f"gcp: no credentials found (run 'gcloud auth application-default "
                                    f"login' or pass options['credentials']): {exc}") from None
        self.credentials = credentials
        self.endpoints = endpoints
        self.quota_project = quota_project
        self.retry = make_retry()
        self.timeout = DEFAULT_TIMEOUT

    def _options(self, api: str) -> ClientOptions:
        kwargs: dict[str, Any] = {}
        if api in self.endpoints:
            kwargs["api_endpoint"] = self.endpoints[api]
        if self.quota_project:
            kwargs["quota_project_id"] = self.quota_project
        return ClientOptions(**kwargs)

    def _make(self, cls: type, api: str) -> Any:
        return cls(credentials=self.credentials, transport="rest", client_options=self._options(api))

    def organizations(self) -> Any:
        from google.cloud import resourcemanager_v3
        return self._make(resourcemanager_v3.OrganizationsClient, "cloudresourcemanager")

    def folders(self) -> Any:
        from google.cloud import resourcemanager_v3
        return self._make(resourcemanager_v3.FoldersClient, "cloudresourcemanager")

    def projects(self) -> Any:
        from google.cloud import resourcemanager_v3
        return self._make(resourcemanager_v3.ProjectsClient, "cloudresourcemanager")

    def asset(self) -> Any:
        from google.cloud import asset_v1
        return self._make(asset_v1.AssetServiceClient, "cloudasset")

    def orgpolicy(self) -> Any:
        from google.cloud import orgpolicy_v2
        return self._make(orgpolicy_v2.OrgPolicyClient, "orgpolicy")

    def accessapproval(self) -> Any:
        from google.cloud import accessapproval_v1
        return self._make(accessapproval_v1.AccessApprovalClient, "accessapproval")

    def securitycentermanagement(self) -> Any:
        from google.cloud import securitycentermanagement_v1
        return self._make(securitycentermanagement_v1.SecurityCenterManagementClient, "securitycentermanagement")

    def admin_session(self, subject: str | None = None) -> Any:
        """An AuthorizedSession for the Admin SDK Directory API (needs domain-wide delegation)."""
        from google.auth.transport.requests import AuthorizedSession

        creds = self.credentials
        if subject and hasattr(creds, "with_subject"):
            creds = creds.with_subject(subject)
        if hasattr(creds, "with_scopes"):
            creds = creds.with_scopes(["https://www.googleapis.com/auth/admin.directory.user.readonly"])
        return AuthorizedSession(creds)

    def admin_endpoint(self) -> str:
        return self.endpoints.get("admin", "https://admin.googleapis.com").rstrip("/")
