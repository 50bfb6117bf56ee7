"""Helpers for the Azure adapter tests: the HTTPS sample tenant (ARM, Resource Graph, Microsoft
Graph, token endpoint) lives in cloudaudit.providers.azure.sample so the demo can use it too;
this module adds what only tests need."""

from __future__ import annotations

from typing import Any

from cloudaudit.providers.azure.sample import AzureSampleTenant, StaticToken, sample_data

TENANT = "11111111-2222-4333-8444-555555555555"
PROD = "aaaaaaaa-0000-4000-8000-000000000001"
DEV = "bbbbbbbb-0000-4000-8000-000000000002"
LAB = "cccccccc-0000-4000-8000-000000000003"   # answers 403 everywhere
ARG_PATH = "/providers/Microsoft.ResourceGraph/resources"


def non_read_requests(fake: AzureSampleTenant) -> list[tuple[str, str, str]]:
    """Requests that are not GET, other than Resource Graph's query POST and the token POST."""
    return [r for r in fake.requests
            if r[0] != "GET" and not (r[0] == "POST" and (r[1] == ARG_PATH or r[1].endswith("/oauth2/v2.0/token")))]


class CountingToken(StaticToken):
    """A static-token credential that counts the scopes it was asked for."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        self.scopes.extend(scopes)
        return super().get_token(*scopes, **kwargs)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        self.scopes.extend(scopes)
        return super().get_token_info(*scopes, options=options)


__all__ = ["AzureSampleTenant", "CountingToken", "StaticToken", "sample_data", "non_read_requests",
           "TENANT", "PROD", "DEV", "LAB", "ARG_PATH"]
