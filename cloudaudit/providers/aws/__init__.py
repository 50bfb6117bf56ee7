"""AWS adapter: organization-wide, read-only collection with boto3.

``collect(options)`` reads an AWS Organization (or one account) through the standard boto3
credential chain; ``normalize(collection)`` turns the raw payloads into inventory tables.

Options (``cloudaudit.collect(["aws"], options={"aws": {...}})``):

``session``
    a ``boto3.Session`` to use (default: a new one from the standard chain / ``profile``).
``profile``
    named profile for the default session.
``region``
    home region for global calls (default: the session's region, else the partition's first).
``role_name``
    role assumed in every member account (default ``OrganizationAccountAccessRole``; a dedicated
    read-only audit role with the policy in ``docs/permissions/aws.json`` is better).
``external_id``
    ExternalId passed to ``sts:AssumeRole`` when the audit role requires one.
``accounts``
    explicit list of account ids (default: every ACTIVE account of the organization).
``single_account``
    True: audit only the caller's account and make no Organizations calls.
``regions``
    explicit list of regions; default every enabled region (opt-in status
    ``opt-in-not-required`` / ``opted-in``) of the caller's partition. ``allowed_regions`` from
    the policy is for judging only and never narrows collection.
``max_workers``
    size of the thread pool over accounts x regions (default 8; ignored when an executor is given).
``max_attempts``
    botocore adaptive-retry attempts per call (default: ``AWS_MAX_ATTEMPTS`` from the environment,
    else 6). Against moto, which answers 500 for calls it does not implement, use 1 or 2.
``endpoint_url``
    endpoint for every service; the standard ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>``
    environment variables work as well.
``client_hooks``
    ``{event name: handler or [handlers]}`` registered on the botocore session before clients are
    made (e.g. ``{"before-call.*.*": recorder}``).
``report_timeout``
    seconds to wait for the IAM credential report (default 60).

A dedicated audit role is better than ``OrganizationAccountAccessRole`` (an administrator): create
a role with the same name in every member account (e.g. a CloudFormation StackSet), trusting only
the auditing account, with the policy in ``docs/permissions/aws.json`` (every action there is a
Describe/List/Get call, plus ``iam:GenerateCredentialReport``), and pass its name as ``role_name``.
The same policy on the caller in the management (or a delegated administrator) account covers
the Organizations calls. ``tests/test_aws_readonly.py`` proves the adapter calls nothing else.
"""

from __future__ import annotations

from .collect import collect
from .normalize import normalize

NAME = "aws"

__all__ = ["NAME", "collect", "normalize"]
