"""cloudaudit: audit AWS, Azure and GCP tenancies against ISO/IEC 27017 from the customer's side.

>>> import cloudaudit
>>> inv = cloudaudit.load_bundle("evidence.zip")          # or cloudaudit.collect(["aws"])
>>> findings = cloudaudit.audit(inv, cloudaudit.Policy.load("policy.toml"))
>>> findings.by_control()                                  # Statement of Applicability

Importing this package loads no cloud SDK and does no I/O.
"""

from ._version import __version__
from .api import audit, collect, load_bundle
from .engine import check
from .errors import CloudAuditError
from .findings import Findings
from .history import History
from .inventory import Inventory
from .policy import Policy

__all__ = [
    "CloudAuditError",
    "Findings",
    "History",
    "Inventory",
    "Policy",
    "__version__",
    "audit",
    "check",
    "collect",
    "load_bundle",
]
