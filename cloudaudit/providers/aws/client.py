"""The one place that makes boto3 clients for the AWS adapter.

Every client gets the same region handling, credentials (the caller's, or an assumed role's),
endpoint override, adaptive retry configuration and event hooks, so notebooks and tests can
inject a session, an endpoint or a recording hook without touching the collectors.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import boto3
from botocore.config import Config

# Local endpoints put the account id in front of the host for s3control
# (http://123456789012.127.0.0.1:port/...), which does not resolve. Real AWS hosts are untouched.
_ACCOUNT_HOST = re.compile(r"^(https?://)\d{12}\.((?:\d{1,3}\.){3}\d{1,3}|localhost)([:/])")

READ_ONLY_SESSION_NAME = "cloudaudit-readonly"


def strip_account_host(request: Any, **_: Any) -> None:
    """``before-sign.s3-control.*`` hook: drop the ``<account>.`` host prefix for local endpoints."""
    request.url = _ACCOUNT_HOST.sub(r"\1\2\3", request.url)


def partition_of(region: str) -> str:
    """AWS partition of a region code (by the prefixes botocore's endpoint data uses)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    if region.startswith("us-iso-"):
        return "aws-iso"
    if region.startswith("eusc-"):
        return "aws-eusc"
    return "aws"


HOME_REGION = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1",
               "aws-iso": "us-iso-east-1", "aws-iso-b": "us-isob-east-1", "aws-eusc": "eusc-de-east-1"}


# Operations whose IAM action is not "<service>:<operation>" (docs/permissions/aws.json lists actions).
IAM_ACTION_ALIASES: dict[tuple[str, str], str] = {
    ("s3control", "GetPublicAccessBlock"): "s3:GetAccountPublicAccessBlock",
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
    ("s3", "GetBucketReplication"): "s3:GetReplicationConfiguration",
    ("s3", "GetBucketLifecycleConfiguration"): "s3:GetLifecycleConfiguration",
}


def iam_action(service: str, operation: str) -> str:
    """The IAM action that authorizes one SDK operation (``service`` as boto3 names it)."""
    return IAM_ACTION_ALIASES.get((service, operation), f"{service}:{operation}")


@dataclass(frozen=True)
class Credentials:
    """Temporary credentials for one account (never written to a record or a bundle)."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


class ClientFactory:
    """Creates every boto3 client the adapter uses from one shared botocore session.

    ``hooks`` maps botocore event names (``before-call.*.*``) to handlers registered on the
    shared session before any client is made; the s3control host fix is always registered.
    """

    def __init__(self, session: boto3.Session | None = None, *, profile: str | None = None,
                 region: str | None = None, endpoint_url: str | None = None, max_attempts: int = 8,
                 hooks: Mapping[str, Callable[..., Any] | Iterable[Callable[..., Any]]] | None = None,
                 max_pool_connections: int = 16):
        self.session = session or boto3.Session(profile_name=profile)
        self.region = region or self.session.region_name or "us-east-1"
        self.endpoint_url = endpoint_url
        self.config = Config(retries={"mode": "adaptive", "max_attempts": max_attempts},
                             max_pool_connections=max_pool_connections,
                             user_agent_extra="cloudaudit")
        self._lock = threading.Lock()
        # Recently used clients are reused (botocore clients are thread-safe): making one costs
        # milliseconds of CPU under the session lock. Bounded, so memory does not grow with the
        # number of accounts x regions.
        self._clients: OrderedDict[tuple, Any] = OrderedDict()
        self._keep = max(16, max_pool_connections)
        events = self.session._session.get_component("event_emitter")  # shared by all clients made later
        events.register("before-sign.s3-control.*", strip_account_host, unique_id="cloudaudit-s3control-host")
        for event, handlers in (hooks or {}).items():
            for handler in ([handlers] if callable(handlers) else list(handlers)):
                # unique ids: a session reused across collections gets each hook once
                events.register(event, handler, unique_id=f"cloudaudit-{event}-{id(handler)}")

    def client(self, service: str, region: str | None = None, credentials: Credentials | None = None) -> Any:
        """A client for ``service`` in ``region`` with the given (or the caller's) credentials."""
        kwargs: dict[str, Any] = {"region_name": region or self.region, "config": self.config}
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        if credentials is not None:
            kwargs.update(aws_access_key_id=credentials.access_key_id,
                          aws_secret_access_key=credentials.secret_access_key,
                          aws_session_token=credentials.session_token)
        key = (service, kwargs["region_name"], credentials)
        with self._lock:  # boto3 sessions are not thread-safe
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = self.session.client(service, **kwargs)
                while len(self._clients) > self._keep:
                    self._clients.popitem(last=False)
            else:
                self._clients.move_to_end(key)
            return client

    def assume(self, role_arn: str, region: str | None = None, external_id: str | None = None) -> tuple[Credentials, dict]:
        """``sts:AssumeRole`` into ``role_arn``; returns credentials and the (secret-free) response."""
        sts = self.client("sts", region)
        params: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": READ_ONLY_SESSION_NAME}
        if external_id:
            params["ExternalId"] = external_id
        response = sts.assume_role(**params)
        c = response["Credentials"]
        creds = Credentials(c["AccessKeyId"], c["SecretAccessKey"], c.get("SessionToken"))
        return creds, {"RoleArn": role_arn, "AssumedRoleUser": response.get("AssumedRoleUser", {})}
