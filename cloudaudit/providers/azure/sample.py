"""A sample Entra tenant served over HTTPS on 127.0.0.1: ARM, Resource Graph, Microsoft Graph
and the token endpoint, from the JSON files in ``sample/`` (documented response shapes).

Used by the tests and the demo so the real adapter (real SDK clients, real azure-core
pipelines, real TLS) can collect a whole tenant offline::

    with AzureSampleTenant() as fake:
        collection = collect(fake.options())

Behaviour worth knowing: every list is paged (2 items a page) with ``nextLink`` (ARM),
``@odata.nextLink`` (Graph) or ``$skipToken`` (Resource Graph); the first call to
``userRegistrationDetails`` answers 429 with ``Retry-After``; every ARM path of a
``forbidden_subscriptions`` entry answers 403 and Resource Graph leaves that subscription out;
licence-gated Graph data answers 403 when ``licences`` lacks ``p1`` / ``p2``.  Every request
is recorded in :attr:`AzureSampleTenant.requests` as ``(method, path, query)``.  Needs
``trustme`` (a test / demo dependency) for the certificates.
"""

from __future__ import annotations

import copy
import json
import re
import ssl
import tempfile
import threading
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from ...errors import ProviderError
from .._fakeserver import AnyMethodHandler, LocalServer

PAGE = 2


def sample_data() -> dict[str, Any]:
    """The sample tenant's fixture files as one dict (tenant, locations, resources, arm, graph)."""
    root = resources.files("cloudaudit.providers.azure").joinpath("sample")
    return {name: json.loads(root.joinpath(f"{name}.json").read_text(encoding="utf-8"))
            for name in ("tenant", "locations", "resources", "arm", "graph")}


class AzureSampleTenant(LocalServer):
    """Context manager running the fake tenant; ``url`` and ``ca_path`` are set once started."""

    def __init__(self, data: dict[str, Any] | None = None, *, licences: tuple[str, ...] = ("p1", "p2"),
                 throttle: bool = True, page_size: int = PAGE):
        self.data = copy.deepcopy(data) if data is not None else sample_data()
        self.licences = set(licences)
        self.throttle = throttle
        self.page_size = page_size
        self.requests: list[tuple[str, str, str]] = []
        self.throttled: list[str] = []
        self.url = ""
        self.link_base = ""   # host put in next-page links (default: this server)
        self.truncate_graph = False   # Resource Graph answers resultTruncated instead of a $skipToken
        # path (lower case, as requested) -> (HTTP status, error code, message) answered instead of the data
        self.errors: dict[str, tuple[int, str, str]] = {}
        self.ca_path = ""
        self._lock = threading.Lock()
        self._tmp: tempfile.TemporaryDirectory | None = None

    @property
    def tenant_id(self) -> str:
        return self.data["tenant"]["tenant"]["tenantId"]

    def options(self, **extra: Any) -> dict[str, Any]:
        """Adapter options pointing every endpoint at this fake, with a static-token credential."""
        return {"credential": StaticToken(), "tenant_id": self.tenant_id, "arm_endpoint": self.url,
                "graph_endpoint": self.url, "authority": self.url, "connection_verify": self.ca_path, **extra}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "AzureSampleTenant":
        try:
            import trustme
        except ImportError:
            raise ProviderError("the Azure sample tenant needs trustme: pip install trustme") from None
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self._tmp = tempfile.TemporaryDirectory(prefix="cloudaudit-azure-fake-")
        self.ca_path = str(Path(self._tmp.name) / "ca.pem")
        ca.cert_pem.write_to_path(self.ca_path)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(context)
        fake = self

        class Handler(_Handler):
            tenant = fake

        self.url = f"https://127.0.0.1:{self._serve(Handler, name='fake-azure', context=context)}"
        return self

    def stop(self) -> None:
        super().stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # ------------------------------------------------------------------ data helpers
    def forbidden(self) -> set[str]:
        return set(self.data["tenant"].get("forbidden_subscriptions", []))

    def mg_ancestry(self, subscription_id: str) -> list[str]:
        """Management-group scopes above a subscription, nearest first."""
        groups = {g["name"]: g for g in self.data["tenant"]["management_groups"]}
        sub = next(s for s in self.data["tenant"]["subscriptions"] if s["subscriptionId"] == subscription_id)
        chain, node = [], sub.get("_parent")
        while node:
            chain.append(f"/providers/Microsoft.Management/managementGroups/{node}")
            node = groups[node]["parent"]
        return chain

    def applies_to(self, scope: str, subscription_id: str) -> bool:
        sub_scope = f"/subscriptions/{subscription_id}".lower()
        scope = scope.lower()
        return (scope == sub_scope or scope.startswith(sub_scope + "/")
                or scope in [s.lower() for s in self.mg_ancestry(subscription_id)])

    def mg_tree(self, name: str) -> dict[str, Any]:
        groups = self.data["tenant"]["management_groups"]
        node = next(g for g in groups if g["name"] == name)
        children = [self.mg_tree(g["name"]) for g in groups if g["parent"] == name]
        children += [{"id": s["id"], "type": "/subscriptions", "name": s["subscriptionId"],
                      "displayName": s["displayName"], "children": None}
                     for s in self.data["tenant"]["subscriptions"] if s.get("_parent") == name]
        return {"id": f"/providers/Microsoft.Management/managementGroups/{name}",
                "type": "Microsoft.Management/managementGroups", "name": name,
                "displayName": node["displayName"], "children": children}


def _fake_jwt() -> str:
    import base64

    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    claims = {"oid": "a0d17000-0000-4000-8000-00000000a0d1", "appid": "a0d17000-0000-4000-8000-0000000a0d17",
              "idtyp": "app", "tid": "11111111-2222-4333-8444-555555555555"}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.sig"


class StaticToken:
    """A minimal azure-core TokenCredential for fakes: always the same (unsigned, JWT-shaped) token."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken
        import time

        return AccessToken(_fake_jwt(), int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo
        import time

        return AccessTokenInfo(_fake_jwt(), int(time.time()) + 3600)


_SUB = re.compile(r"^/subscriptions/([^/]+)(/.*)?$", re.I)
_TYPES = re.compile(r"type\s+in~\s*\(([^)]*)\)", re.I)


class _Handler(AnyMethodHandler):
    tenant: AzureSampleTenant
    protocol_version = "HTTP/1.1"

    # ------------------------------------------------------------------ plumbing
    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(status, {"error": {"code": code, "message": message}})

    def _paged(self, items: list[Any], link_key: str, path: str, query: dict[str, list[str]]) -> None:
        start = int(query.get("$skiptoken", ["0"])[0])
        size = self.tenant.page_size
        body: dict[str, Any] = {"value": items[start:start + size]}
        if start + size < len(items):
            params = {k: v[0] for k, v in query.items() if k != "$skiptoken"}
            params["$skiptoken"] = str(start + size)
            body[link_key] = f"{self.tenant.link_base or self.tenant.url}{path}?{urlencode(params)}"
        self._send(200, body)

    def dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.tenant._lock:
            self.tenant.requests.append((method, path, parts.query))
        try:
            if path.endswith("/oauth2/v2.0/token") and method == "POST":
                return self._send(200, {"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
                                        "access_token": "fake-token-from-endpoint"})
            if path.endswith("/v2.0/.well-known/openid-configuration"):
                return self._openid(path)
            if not (self.headers.get("Authorization") or "").startswith("Bearer "):
                return self._error(401, "InvalidAuthenticationToken", "Access token is missing.")
            if method == "POST" and path == "/providers/Microsoft.ResourceGraph/resources":
                return self._resource_graph(json.loads(body or b"{}"))
            if method != "GET":
                return self._error(405, "MethodNotAllowed", f"{method} is not served by the read-only fake")
            forced = self.tenant.errors.get(path.lower().rstrip("/"))
            if forced is not None:
                return self._error(*forced)
            if path.startswith("/v1.0/"):
                return self._graph(path, query)
            return self._arm(path, query)
        except Exception as exc:  # noqa: BLE001 - a fake bug must show up as a 500, not a hang
            return self._error(500, "FakeError", f"{type(exc).__name__}: {exc}")

    def _openid(self, path: str) -> None:
        tenant = path.split("/")[1]
        base = f"{self.tenant.url}/{tenant}"
        self._send(200, {"token_endpoint": f"{base}/oauth2/v2.0/token",
                         "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                         "issuer": f"{base}/v2.0", "jwks_uri": f"{base}/discovery/v2.0/keys",
                         "response_modes_supported": ["query", "fragment", "form_post"],
                         "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                                   "client_secret_basic"],
                         "tenant_region_scope": "AS"})

    # ------------------------------------------------------------------ ARM
    def _arm(self, path: str, query: dict[str, list[str]]) -> None:
        data, t = self.tenant.data, self.tenant
        low = path.lower().rstrip("/")
        if low == "/tenants":
            return self._paged([data["tenant"]["tenant"]], "nextLink", path, query)
        if low == "/subscriptions":
            subs = [{k: v for k, v in s.items() if not k.startswith("_")} for s in data["tenant"]["subscriptions"]]
            return self._paged(subs, "nextLink", path, query)
        m = re.match(r"^/providers/microsoft\.management/managementgroups/([^/]+)$", low)
        if m:
            names = [g["name"] for g in data["tenant"]["management_groups"]]
            name = next((n for n in names if n.lower() == m.group(1)), None)
            if name is None:
                return self._error(404, "NotFound", f"management group {m.group(1)} not found")
            expand = "children" in query.get("$expand", [""])[0]
            tree = t.mg_tree(name)
            if not expand:
                tree.pop("children")
            return self._send(200, {"id": tree["id"], "type": tree["type"], "name": tree["name"],
                                    "properties": {"tenantId": t.tenant_id, "displayName": tree["displayName"],
                                                   **({"children": tree["children"]} if expand else {})}})
        if low == f"/providers/microsoft.customerlockbox/tenantoptedin/{t.tenant_id}":
            return self._send(200, data["arm"].get("customerLockbox", {"isOptedIn": False}))
        if low == "/providers/microsoft.aadiam/diagnosticsettings":
            return self._send(200, {"value": data["arm"].get("aadiamDiagnosticSettings", [])})
        if "/providers/microsoft.authorization/policydefinitions/" in low or \
                "/providers/microsoft.authorization/policysetdefinitions/" in low:
            doc = next((v for k, v in data["arm"].get("policyDefinitions", {}).items() if k.lower() == low), None)
            if doc is None:
                return self._error(404, "PolicyDefinitionNotFound", f"policy definition {path} not found")
            return self._send(200, doc)
        m = _SUB.match(path)
        if not m:
            return self._error(404, "NotFound", f"no route for {path}")
        sub, rest = m.group(1), (m.group(2) or "").lower().rstrip("/")
        if sub in t.forbidden():
            return self._error(403, "AuthorizationFailed",
                               f"The client does not have authorization to perform action over scope "
                               f"'/subscriptions/{sub}' or the scope is invalid.")
        arm = data["arm"]
        if rest == "/locations":
            items = json.loads(json.dumps(data["locations"]["value"]).replace("{sub}", sub))
            return self._send(200, {"value": [dict(i, id=f"/subscriptions/{sub}/locations/{i['name']}") for i in items]})
        if rest == "/providers/microsoft.authorization/roleassignments":
            items = [a for a in arm["roleAssignments"] if t.applies_to(a["properties"]["scope"], sub)]
            return self._paged(items, "nextLink", path, query)
        if rest == "/providers/microsoft.authorization/roleassignmentscheduleinstances":
            if "p2" not in t.licences:
                return self._error(400, "AadPremiumLicenseRequired", "The tenant needs to have Microsoft Entra ID P2 "
                                   "or Microsoft Entra ID Governance license.")
            items = [a for a in arm.get("roleAssignmentScheduleInstances", [])
                     if t.applies_to(a["properties"]["scope"], sub)]
            return self._paged(items, "nextLink", path, query)
        if rest == "/providers/microsoft.authorization/roledefinitions":
            items = [dict(d, id=f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{d['name']}")
                     for d in arm["roleDefinitions"]]
            return self._paged(items, "nextLink", path, query)
        if rest == "/providers/microsoft.authorization/policyassignments":
            items = [a for a in arm["policyAssignments"] if t.applies_to(a["properties"]["scope"], sub)]
            return self._paged(items, "nextLink", path, query)
        if rest == "/providers/microsoft.insights/diagnosticsettings":
            return self._send(200, {"value": arm["diagnosticSettings"].get(sub, [])})
        if rest == "/providers/microsoft.security/pricings":
            return self._send(200, {"value": arm.get("pricings", {}).get(sub, [])})
        if rest == "/providers/microsoft.security/securitycontacts":
            return self._paged(arm.get("securityContacts", {}).get(sub, []), "nextLink", path, query)
        if rest == "/providers/microsoft.managedservices/registrationassignments":
            return self._paged(arm["registrationAssignments"].get(sub, []), "nextLink", path, query)
        if rest.endswith("/encryptionprotector/current") or rest.endswith("/transparentdataencryption/current"):
            key = "encryptionProtector" if "encryptionprotector" in rest else "transparentDataEncryption"
            owner = path.rsplit("/", 2)[0].lower()
            doc = next((v for k, v in arm.get(key, {}).items() if k.lower() == owner), None)
            if doc is None:
                return self._error(404, "ResourceNotFound", f"no {key} for {owner}")
            return self._send(200, doc)
        if rest.endswith("/providers/microsoft.insights/diagnosticsettings"):
            target = path[: -len("/providers/Microsoft.Insights/diagnosticSettings")].lower()
            items = next((v for k, v in arm.get("resourceDiagnosticSettings", {}).items() if k.lower() == target), [])
            return self._paged(items, "nextLink", path, query)
        if rest.endswith("/blobservices/default/containers") or re.search(r"/microsoft\.keyvault/vaults/[^/]+/keys$", rest):
            key = "blobContainers" if rest.endswith("/containers") else "vaultKeys"
            owner = (path[: -len("/blobServices/default/containers")] if key == "blobContainers"
                     else path[: -len("/keys")]).lower()
            items = next((v for k, v in arm.get(key, {}).items() if k.lower() == owner), [])
            return self._paged(items, "nextLink", path, query)
        if rest.endswith("/firewallrules"):
            server = path[: -len("/firewallRules")]
            rules = next((v for k, v in arm["firewallRules"].items() if k.lower() == server.lower()), [])
            return self._paged(rules, "nextLink", path, query)
        return self._error(404, "NotFound", f"no route for {path}")

    def _resource_graph(self, request: dict[str, Any]) -> None:
        query = request.get("query", "")
        subs = set(request.get("subscriptions") or []) - self.tenant.forbidden()
        if "resourcecontainers" in query.lower():
            rows = [{"subscriptionId": s["subscriptionId"], "name": s["displayName"]}
                    for s in self.tenant.data["tenant"]["subscriptions"] if s["subscriptionId"] in subs]
        else:
            m = _TYPES.search(query)
            if not m:
                return self._error(400, "BadRequest", "the fake understands only 'type in~ (...)' queries")
            types = {t.strip().strip("'\"").lower() for t in m.group(1).split(",")}
            rows = [r for r in self.tenant.data["resources"]["rows"]
                    if r["type"].lower() in types and r["subscriptionId"] in subs]
        rows.sort(key=lambda r: r.get("id", r.get("subscriptionId", "")))
        options = request.get("options") or {}
        start = int(options.get("$skipToken") or 0)
        page = rows[start:start + self.tenant.page_size]
        body: dict[str, Any] = {"totalRecords": len(rows), "count": len(page), "resultTruncated": "false",
                                "data": page, "facets": []}
        if start + len(page) < len(rows):
            if self.tenant.truncate_graph:
                body["resultTruncated"] = "true"
            else:
                body["$skipToken"] = str(start + len(page))
        self._send(200, body)

    # ------------------------------------------------------------------ Graph
    def _graph(self, path: str, query: dict[str, list[str]]) -> None:
        g, t = self.tenant.data["graph"], self.tenant
        route = path[len("/v1.0"):].rstrip("/")
        licence = "Tenant does not have a premium license (Entra ID {0}) required for this request."
        if route == "/users":
            select = query.get("$select", [""])[0]
            if "signInActivity" in select and "p1" not in t.licences:
                return self._error(403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                                   "Neither tenant is B2C or tenant doesn't have premium license")
            users = [u if "signInActivity" in select else {k: v for k, v in u.items() if k != "signInActivity"}
                     for u in g["users"]]
            return self._paged(users, "@odata.nextLink", path, query)
        if route == "/reports/authenticationMethods/userRegistrationDetails":
            with t._lock:
                first = t.throttle and route not in t.throttled
                if first:
                    t.throttled.append(route)
            if first:
                return self._send(429, {"error": {"code": "TooManyRequests", "message": "Too many requests."}},
                                  {"Retry-After": "1"})
            return self._paged(g["userRegistrationDetails"], "@odata.nextLink", path, query)
        if route == "/roleManagement/directory/roleAssignments":
            return self._paged(g["roleAssignments"], "@odata.nextLink", path, query)
        if route == "/roleManagement/directory/roleDefinitions":
            return self._paged(g["roleDefinitions"], "@odata.nextLink", path, query)
        if route == "/roleManagement/directory/roleEligibilitySchedules":
            if "p2" not in t.licences:
                return self._error(403, "AadPremiumLicenseRequired", licence.format("P2"))
            return self._paged(g["roleEligibilitySchedules"], "@odata.nextLink", path, query)
        if route == "/identity/conditionalAccess/policies":
            if "p1" not in t.licences:
                return self._error(403, "AccessDenied", licence.format("P1"))
            return self._paged(g["conditionalAccessPolicies"], "@odata.nextLink", path, query)
        if route == "/policies/identitySecurityDefaultsEnforcementPolicy":
            return self._send(200, g["identitySecurityDefaultsEnforcementPolicy"])
        m = re.match(r"^/groups/([^/]+)/transitiveMembers$", route)
        if m:
            if m.group(1) not in {x["id"] for x in g.get("groups", [])}:
                return self._error(404, "Request_ResourceNotFound", f"group {m.group(1)} not found")
            return self._paged(g.get("groupMembers", {}).get(m.group(1), []), "@odata.nextLink", path, query)
        if route == "/groups":
            return self._paged(g.get("groups", []), "@odata.nextLink", path, query)
        if route == "/servicePrincipals":
            return self._paged(g["servicePrincipals"], "@odata.nextLink", path, query)
        if route == "/applications":
            return self._paged(g["applications"], "@odata.nextLink", path, query)
        return self._error(404, "Request_ResourceNotFound", f"no route for {path}")


FakeAzure = AzureSampleTenant  # the name scripts/make_sample_bundles.py uses
