"""The one place that builds Azure credentials and clients (ARM, Resource Graph, Microsoft Graph).

Every client shares the same credential, cloud endpoints, CA bundle and retry settings, so
collectors never deal with endpoints or TLS themselves.  All clients are azure-core pipelines:
the SDK clients (``SubscriptionClient``, ``ResourceGraphClient``) and, for ARM paths without an
installed SDK and for Microsoft Graph, a plain ``PipelineClient`` with the bearer-token and
retry policies (the retry policy honours ``Retry-After`` on 429/503).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Iterator
from urllib.parse import urlsplit

from ...errors import ProviderError

CLOUDS: dict[str, dict[str, str]] = {
    "public": {"arm": "https://management.azure.com", "graph": "https://graph.microsoft.com",
               "authority": "https://login.microsoftonline.com"},
    "china": {"arm": "https://management.chinacloudapi.cn", "graph": "https://microsoftgraph.chinacloudapi.cn",
              "authority": "https://login.chinacloudapi.cn"},
    "usgov": {"arm": "https://management.usgovcloudapi.net", "graph": "https://graph.microsoft.us",
              "authority": "https://login.microsoftonline.us"},
}


class AzureHttpError(Exception):
    """A non-2xx answer from ARM or Graph read through :class:`Clients` (status and service error code)."""

    def __init__(self, status_code: int, code: str, message: str, url: str):
        super().__init__(f"HTTP {status_code} {code}: {message} ({urlsplit(url).path})")
        self.status_code = status_code
        self.code = code
        self.error_message = message


@dataclass
class Clients:
    """Factory for every Azure client the adapter uses; built once per collection."""

    credential: Any
    arm: str
    graph: str
    authority: str
    tenant_id: str | None = None
    connection_verify: str | bool = True
    retry_total: int = 4
    _pipelines: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "Clients":
        """Resolve cloud endpoints and the credential from the adapter options."""
        cloud = str(options.get("cloud") or "public").lower()
        if cloud not in CLOUDS:
            raise ProviderError(f"azure: unknown cloud {cloud!r} (choose from: {', '.join(CLOUDS)})")
        base = CLOUDS[cloud]
        arm = str(options.get("arm_endpoint") or base["arm"]).rstrip("/")
        graph = str(options.get("graph_endpoint") or base["graph"]).rstrip("/")
        authority = str(options.get("authority") or base["authority"]).rstrip("/")
        for name, url in (("arm_endpoint", arm), ("graph_endpoint", graph), ("authority", authority)):
            if urlsplit(url).scheme != "https":
                raise ProviderError(f"azure: {name} must be an https:// URL, got {url!r}")
        verify = options.get("connection_verify")
        verify = True if verify in (None, "") else verify
        credential = options.get("credential")
        if credential is None:
            credential = _default_credential(authority, options.get("tenant_id"), verify,
                                             bool(options.get("disable_instance_discovery")))
        elif not hasattr(credential, "get_token"):
            raise ProviderError("azure: option 'credential' must be an azure-core TokenCredential (has get_token)")
        return cls(credential=credential, arm=arm, graph=graph, authority=authority,
                   tenant_id=options.get("tenant_id"), connection_verify=verify,
                   retry_total=int(options.get("retry_total", 4)))

    # ------------------------------------------------------------------ SDK clients
    def _sdk_kwargs(self) -> dict[str, Any]:
        return {"base_url": self.arm, "credential_scopes": [f"{self.arm}/.default"],
                "connection_verify": self.connection_verify, "retry_total": self.retry_total}

    def subscriptions(self) -> Any:
        """``azure.mgmt.resource.subscriptions.SubscriptionClient`` on the configured cloud."""
        from azure.mgmt.resource.subscriptions import SubscriptionClient

        return SubscriptionClient(self.credential, **self._sdk_kwargs())

    def resource_graph(self) -> Any:
        """``azure.mgmt.resourcegraph.ResourceGraphClient`` on the configured cloud."""
        from azure.mgmt.resourcegraph import ResourceGraphClient

        return ResourceGraphClient(self.credential, **self._sdk_kwargs())

    # ------------------------------------------------------------------ REST pipelines
    def _pipeline(self, base: str) -> Any:
        with self._lock:  # collectors call this from many threads
            if base not in self._pipelines:
                self._pipelines[base] = self._new_pipeline(base)
            return self._pipelines[base]

    def _new_pipeline(self, base: str) -> Any:
        from azure.core import PipelineClient
        from azure.core.pipeline.policies import (BearerTokenCredentialPolicy, ContentDecodePolicy,
                                                  HeadersPolicy, NetworkTraceLoggingPolicy,
                                                  RetryPolicy, UserAgentPolicy)
        from azure.core.pipeline.transport import RequestsTransport

        # No ARM auto-registration policy: it would POST a provider registration (a write).
        policies = [HeadersPolicy(), UserAgentPolicy(sdk_moniker="cloudaudit"),
                    RetryPolicy(retry_total=self.retry_total),
                    BearerTokenCredentialPolicy(self.credential, f"{base}/.default"),
                    ContentDecodePolicy(), NetworkTraceLoggingPolicy()]
        return PipelineClient(base_url=base, policies=policies,
                              transport=RequestsTransport(connection_verify=self.connection_verify))

    def get_json(self, base: str, path_or_url: str, params: dict[str, str] | None = None) -> Any:
        """GET one JSON document from ARM or Graph; raises :class:`AzureHttpError` on non-2xx."""
        from azure.core.rest import HttpRequest

        client = self._pipeline(base)
        url = path_or_url if path_or_url.startswith("https://") else client.format_url(path_or_url)
        response = client.send_request(HttpRequest("GET", url, params=params or {}))
        if response.status_code >= 300:
            code, message = _error_of(response)
            raise AzureHttpError(response.status_code, code, message, url)
        return response.json()

    def arm_list(self, path: str, api_version: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every item of an ARM list, following ``nextLink``."""
        return list(self._paged(self.arm, path, {"api-version": api_version, **(params or {})}, "nextLink"))

    def arm_get(self, path: str, api_version: str, params: dict[str, str] | None = None) -> Any:
        """One ARM document."""
        return self.get_json(self.arm, path, {"api-version": api_version, **(params or {})})

    def graph_list(self, path: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every item of a Microsoft Graph collection, following ``@odata.nextLink``."""
        return list(self._paged(self.graph, path, params or {}, "@odata.nextLink"))

    def graph_get(self, path: str, params: dict[str, str] | None = None) -> Any:
        """One Microsoft Graph document."""
        return self.get_json(self.graph, path, params)

    def _paged(self, base: str, path: str, params: dict[str, str], link_key: str) -> Iterator[dict[str, Any]]:
        page = self.get_json(base, path, params)
        while True:
            yield from page.get("value", [])
            link = page.get(link_key)
            if not link:
                return
            if urlsplit(link).netloc.lower() != urlsplit(base).netloc.lower():
                # never send the bearer token to a host other than the service's own
                raise AzureHttpError(0, "ForeignNextLink", f"next page link points to {urlsplit(link).netloc}", link)
            page = self.get_json(base, link)  # the link carries its own query string


def _error_of(response: Any) -> tuple[str, str]:
    try:
        body = response.json()
        error = body.get("error", {}) if isinstance(body, dict) else {}
        return str(error.get("code", "")), str(error.get("message", ""))[:300]
    except Exception:  # noqa: BLE001 - a non-JSON error page
        return "", response.text()[:200]


def _default_credential(authority: str, tenant_id: str | None, verify: str | bool,
                        disable_instance_discovery: bool) -> Any:
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError as exc:
        raise ProviderError(f"provider 'azure' needs azure-identity: pip install 'cloudaudit[azure]' ({exc})") from None
    kwargs: dict[str, Any] = {"authority": authority}
    if tenant_id:
        kwargs["additionally_allowed_tenants"] = [tenant_id]
    if verify is not True:
        kwargs["connection_verify"] = verify
    if disable_instance_discovery:  # private / sovereign authorities that Microsoft's discovery does not know
        kwargs["disable_instance_discovery"] = True
    return DefaultAzureCredential(**kwargs)
