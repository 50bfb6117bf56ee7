"""Errors that cloudaudit reports to the user as one line, without a traceback."""

from __future__ import annotations


class CloudAuditError(Exception):
    """Base class: the message is complete and names the thing at fault."""


class SchemaError(CloudAuditError):
    """An inventory table does not match its declared schema."""


class PolicyError(CloudAuditError):
    """The audit policy file is missing, malformed or inconsistent."""


class BundleError(CloudAuditError):
    """An evidence bundle is missing, truncated, tampered with or of an unknown format."""


class ProviderError(CloudAuditError):
    """A provider could not be used at all (SDK missing, no credentials, bad endpoint)."""


class RegistryError(CloudAuditError):
    """A check's metadata is inconsistent (duplicate id, unknown control, unknown table)."""
