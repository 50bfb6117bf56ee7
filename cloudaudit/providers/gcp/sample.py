"""A local fake of the Google Cloud REST APIs the GCP adapter reads, for tests and the demo.

A stdlib ``ThreadingHTTPServer`` on 127.0.0.1 serves, from the JSON files in ``sample_data/``
(documented REST shapes), a small organization seeded with typical findings:

* Resource Manager v3: ``GET /v3/organizations:search``, ``GET /v3/folders?parent=``,
  ``GET /v3/folders/{id}``, ``GET /v3/projects?parent=``, ``GET /v3/projects/{id}``,
  ``POST /v3/{node}:getIamPolicy``;
* Cloud Asset v1: ``GET /v1/{scope}:searchAllResources`` (results derived from the asset
  entries), ``GET /v1/{parent}/assets`` (listAssets), ``GET /v1/{scope}:searchAllIamPolicies``;
* Org Policy v2: ``GET /v2/{node}/policies/{constraint}:getEffectivePolicy``;
* Access Approval v1: ``GET /v1/{node}/accessApprovalSettings`` (404 NOT_FOUND for a node whose
  settings were never configured);
* Security Center Management v1: ``GET /v1/{node}/locations/{location}/securityCenterServices/{service}``
  (404 NOT_FOUND for a service name not in the sample);
* Admin SDK Directory v1: ``GET /admin/directory/v1/users``.

Every list is paged with ``nextPageToken`` (small pages, so paging is always exercised), one
project (``denied_projects``) answers 403 to its per-project calls, and every request is
recorded in ``server.requests``. Anything that is not one of these reads answers 405.

Use::

    with FakeGoogleCloud() as fake:
        inventory = cloudaudit.collect("gcp", options={"gcp": fake.options()})
"""

from __future__ import annotations

import copy
import json
import re
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .._fakeserver import AnyMethodHandler, LocalServer

ORGANIZATION = "organizations/1234567890"
DENIED_PROJECT = "sandbox-dev"
READ_POSTS = re.compile(r":(getIamPolicy|getEffectivePolicy)$")


def load_sample(name: str) -> dict[str, Any]:
    """One sample file (``hierarchy``, ``assets``, ``iam_policies``, ``org_policies``, ``access_approval``,
    ``scc_services``, ``directory_users``)."""
    text = resources.files("cloudaudit.providers.gcp").joinpath(f"sample_data/{name}.json").read_text("utf-8")
    now = datetime.now(timezone.utc)
    # Relative dates keep "recent" fixtures recent whatever day the tests run.
    text = (text.replace("@RECENT_PLUS_2Y@", (now + timedelta(days=730)).strftime("%Y-%m-%dT%H:%M:%SZ"))
            .replace("@RECENT@", (now - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")))
    return json.loads(text)


def _search_result(asset: dict[str, Any]) -> dict[str, Any]:
    """A ResourceSearchResult (searchAllResources) for one Asset entry."""
    res = asset.get("resource", {})
    data = res.get("data", {})
    ancestors = asset.get("ancestors", [])
    keys = [k for k in (
        (data.get("encryption") or {}).get("defaultKmsKeyName"),
        (data.get("diskEncryptionConfiguration") or {}).get("kmsKeyName"),
        (data.get("defaultEncryptionConfiguration") or {}).get("kmsKeyName"),
        (data.get("diskEncryptionKey") or {}).get("kmsKeyName"),
        data.get("kmsKeyName")) if k]
    labels = data.get("labels") or (data.get("settings") or {}).get("userLabels") or {}
    out = {
        "name": asset["name"], "assetType": asset["assetType"],
        "project": next((a for a in ancestors if a.startswith("projects/")), ""),
        "folders": [a for a in ancestors if a.startswith("folders/")],
        "organization": next((a for a in ancestors if a.startswith("organizations/")), ""),
        "displayName": data.get("name", asset["name"]).rsplit("/", 1)[-1],
        "location": res.get("location", ""), "labels": labels, "kmsKeys": keys,
        "createTime": data.get("timeCreated") or data.get("createTime"),
        "state": data.get("state") or data.get("status") or data.get("lifecycleState") or "",
        "parentFullResourceName": res.get("parent", ""),
    }
    return {k: v for k, v in out.items() if v not in (None, "", [], {})}


class FakeGoogleCloud(LocalServer):
    """The fake server; a context manager. ``endpoint`` is ``http://127.0.0.1:PORT``."""

    def __init__(self, denied_projects: tuple[str, ...] = (DENIED_PROJECT,), page_size: int = 2,
                 throttle_once: tuple[str, ...] = (":searchAllIamPolicies",), deny_paths: tuple[str, ...] = ()):
        self.hierarchy = load_sample("hierarchy")
        self.assets = load_sample("assets")["assets"]
        iam = load_sample("iam_policies")
        self.iam_policies = iam["getIamPolicy"]
        self.iam_search = iam["searchAllIamPolicies"]
        self.effective = load_sample("org_policies")["effective"]
        self.users = load_sample("directory_users")["users"]
        self.access_approval = load_sample("access_approval")["settings"]
        self.scc_services = load_sample("scc_services")["services"]
        self.denied_projects = set(denied_projects)
        self.page_size = page_size
        self.throttle_once = set(throttle_once)   # path suffixes answered 429 once (retries are exercised)
        self.deny_paths = tuple(deny_paths)       # path suffixes always answered 403 (a missing role)
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.project_numbers = {p["projectId"]: p["name"] for p in self.hierarchy["projects"]}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "FakeGoogleCloud":
        fake = self

        class Handler(AnyMethodHandler):
            def dispatch(self, method: str) -> None:
                fake._handle(self, method)

        self._serve(Handler, name="fake-gcp")
        return self

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def options(self, **extra: Any) -> dict[str, Any]:
        """Adapter options pointing every API at this fake, with anonymous credentials."""
        from google.auth.credentials import AnonymousCredentials

        return {"credentials": AnonymousCredentials(), "organization": ORGANIZATION,
                "endpoints": {api: self.endpoint for api in ("cloudresourcemanager", "cloudasset", "orgpolicy",
                                                              "accessapproval", "securitycentermanagement",
                                                              "admin")},
                **extra}

    # ------------------------------------------------------------------ HTTP
    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(h.path)
        path = unquote(url.path)
        query = {k: v for k, v in parse_qs(url.query).items()}
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length).decode("utf-8") if length else ""
        with self._lock:
            self.requests.append({"method": method, "path": path, "query": query, "body": body})
            throttle = next((s for s in self.throttle_once if path.endswith(s) and "pageToken" in query), None)
            if throttle:
                self.throttle_once.discard(throttle)
        if throttle:
            return self._send(h, 429, _error(429, "RESOURCE_EXHAUSTED", "Quota exceeded (fake: once)"))
        if self.deny_paths and path.endswith(self.deny_paths):
            return self._send(h, *_refused(f"Permission denied on {path} (fake)"))
        if method != "GET" and not (method == "POST" and READ_POSTS.search(path)):
            return self._send(h, 405, _error(405, "METHOD_NOT_ALLOWED", f"{method} {path} is not a read"))
        try:
            status, payload = self._route(method, path, query)
        except KeyError as exc:
            status, payload = 404, _error(404, "NOT_FOUND", f"{exc.args[0]} not found")
        self._send(h, status, payload)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode("utf-8")
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=UTF-8")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _page(self, items: list[Any], field: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        start = int(query.get("pageToken", ["0"])[0] or 0)
        chunk = items[start:start + self.page_size]
        out: dict[str, Any] = {field: copy.deepcopy(chunk)}
        if start + self.page_size < len(items):
            out["nextPageToken"] = str(start + self.page_size)
        return 200, out

    def _denied(self, node: str) -> bool:
        return node.startswith("projects/") and node.split("/")[1] in self.denied_projects

    def _route(self, method: str, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        h = self.hierarchy
        if path == "/v3/organizations:search":
            return self._page(h["organizations"], "organizations", query)
        if path == "/v3/folders":
            parent = query.get("parent", [""])[0]
            return self._page([f for f in h["folders"] if f["parent"] == parent], "folders", query)
        if path == "/v3/projects":
            parent = query.get("parent", [""])[0]
            return self._page([p for p in h["projects"] if p["parent"] == parent], "projects", query)
        m = re.fullmatch(r"/v3/(folders/[^/:]+)", path)
        if m:
            found = [f for f in h["folders"] if f["name"] == m.group(1)]
            if not found:
                raise KeyError(path)
            return 200, found[0]
        m = re.fullmatch(r"/v3/projects/([^/:]+)", path)
        if m:
            found = [p for p in h["projects"] if m.group(1) in (p["projectId"], p["name"].split("/")[1])]
            if not found:
                raise KeyError(path)
            return 200, found[0]
        m = re.fullmatch(r"/v3/((?:organizations|folders|projects)/[^/:]+):getIamPolicy", path)
        if m:
            node = m.group(1)
            if self._denied(node):
                return _refused(f"The caller does not have permission resourcemanager.projects.getIamPolicy on {node}")
            return 200, self.iam_policies.get(node, {"version": 1, "etag": "BwYxAA=="})
        m = re.fullmatch(r"/v1/((?:organizations|folders|projects)/[^/:]+):(searchAllResources|searchAllIamPolicies)", path)
        if m:
            scope, op = m.group(1), m.group(2)
            if op == "searchAllResources":
                types = set(query.get("assetTypes", []))
                items = [_search_result(a) for a in self._in_scope(self.assets, scope)
                         if not types or a["assetType"] in types]
                return self._page(items, "results", query)
            items = [r for r in self.iam_search if self._iam_in_scope(r, scope)]
            return self._page(items, "results", query)
        m = re.fullmatch(r"/v1/((?:organizations|folders|projects)/[^/:]+)/assets", path)
        if m:
            types = set(query.get("assetTypes", []))
            items = [a for a in self._in_scope(self.assets, m.group(1)) if not types or a["assetType"] in types]
            return self._page(items, "assets", query)
        m = re.fullmatch(r"/v2/((?:organizations|folders|projects)/[^/]+)/policies/([^/:]+):getEffectivePolicy", path)
        if m:
            node, constraint = m.group(1), m.group(2)
            if self._denied(node):
                return _refused(f"Permission 'orgpolicy.policies.get' denied on resource '{node}'")
            name = f"{node}/policies/{constraint}"
            return 200, {"name": name, **copy.deepcopy(self.effective.get(name, {"spec": {}}))}
        m = re.fullmatch(r"/v1/((?:organizations|folders|projects)/[^/:]+)/accessApprovalSettings", path)
        if m:
            node = m.group(1)
            if self._denied(node):
                return _refused(f"Permission 'accessapproval.settings.get' denied on resource '{node}'")
            if node.startswith("projects/"):
                # Projects are addressed by id or number.
                node = "projects/" + next((pid for pid, num in self.project_numbers.items()
                                           if node in (f"projects/{pid}", num)), node.split("/", 1)[1])
            name = f"{node}/accessApprovalSettings"
            if name not in self.access_approval:
                return 404, _error(404, "NOT_FOUND", f"Settings not found for {node}")
            return 200, copy.deepcopy(self.access_approval[name])
        m = re.fullmatch(r"/v1/((?:organizations|folders|projects)/[^/:]+)/locations/([^/:]+)/"
                         r"securityCenterServices/([^/:]+)", path)
        if m:
            node, location, service = m.groups()
            if self._denied(node):
                return _refused("Permission 'securitycentermanagement.securityCenterServices"
                                f".get' denied on resource '{node}'")
            name = f"{node}/locations/{location}/securityCenterServices/{service}"
            if name not in self.scc_services:
                return 404, _error(404, "NOT_FOUND", f"{name} not found")
            return 200, copy.deepcopy(self.scc_services[name])
        if path == "/admin/directory/v1/users":
            return self._page(self.users, "users", query)
        raise KeyError(path)

    def _scope_node(self, scope: str) -> str:
        if scope.startswith("projects/"):
            pid = scope.split("/", 1)[1]
            return self.project_numbers.get(pid, scope)
        return scope

    def _in_scope(self, assets: list[dict[str, Any]], scope: str) -> list[dict[str, Any]]:
        node = self._scope_node(scope)
        return [a for a in assets if node in a.get("ancestors", [])]

    def _iam_in_scope(self, result: dict[str, Any], scope: str) -> bool:
        node = self._scope_node(scope)
        return node in ([result.get("project"), result.get("organization")] + list(result.get("folders", [])))


def _error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "status": status, "message": message}}


def _refused(message: str) -> tuple[int, dict[str, Any]]:
    """A 403 as Google APIs send it, in the API's own wording of the missing permission."""
    return 403, _error(403, "PERMISSION_DENIED", message)
