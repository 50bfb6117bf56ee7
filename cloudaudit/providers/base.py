"""What every provider adapter hands to the rest of cloudaudit.

An adapter has two halves:

* ``collect(options, *, executor, progress) -> Collection``: the only part that talks to a
  cloud. It makes read-only SDK calls and keeps every raw payload (JSON-able data) as a
  :class:`Record`, plus one :class:`CoverageRow` for every (source, account, region) tried.
* ``normalize(collection) -> Inventory``: a pure function from those records to inventory
  tables. Because it reads nothing but the records, an evidence bundle replays offline into
  the same inventory.

Providers know SDKs and nothing of checks or reports.
"""

from __future__ import annotations

import importlib
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Protocol

from ..errors import ProviderError


@dataclass(frozen=True)
class Record:
    """One raw API payload, exactly as the SDK returned it (made JSON-able)."""

    provider: str
    account_id: str
    region: str          # "global" for non-regional sources
    source: str          # e.g. "iam:GetAccountAuthorizationDetails"
    data: Any


@dataclass(frozen=True)
class CoverageRow:
    """Whether one source could be read for one account and region."""

    provider: str
    account_id: str
    region: str | None
    table: str           # inventory table fed by the source, "*" for all of the account's tables
    source: str
    status: str          # ok, denied, error, unsupported
    message: str = ""
    resource_id: str | None = None  # the one subject a failed read is about (<NA>: the whole scope)


@dataclass
class Collection:
    """Raw records and coverage gathered by one provider's ``collect``.

    Thread-safe for ``add`` / ``cover`` so collectors may fan out over a pool.
    """

    provider: str
    records: list[Record] = field(default_factory=list)
    coverage: list[CoverageRow] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)   # caller identity, org id, endpoints ...
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    finished: datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, account_id: str, region: str, source: str, data: Any) -> None:
        with self._lock:
            self.records.append(Record(self.provider, account_id, region, source, data))

    def cover(self, account_id: str, region: str | None, table: str, source: str,
              status: str = "ok", message: str = "", resource_id: str | None = None) -> None:
        with self._lock:
            self.coverage.append(CoverageRow(self.provider, account_id, region, table, source, status, message,
                                             resource_id))

    def find(self, source: str, account_id: str | None = None, region: str | None = None) -> list[Record]:
        """Records of one source, optionally for one account / region."""
        return [r for r in self.records
                if r.source == source
                and (account_id is None or r.account_id == account_id)
                and (region is None or r.region == region)]


class Progress(Protocol):
    def __call__(self, done: int, total: int, label: str) -> None: ...


def no_progress(done: int, total: int, label: str) -> None:
    """Progress callback that ignores updates."""


def bar_progress() -> Progress:
    """Progress bars (one per label) with tqdm's auto mode: a widget in Jupyter, text in a terminal."""
    import sys

    from tqdm.auto import tqdm

    bars: dict[str, Any] = {}

    def update(done: int, total: int, label: str) -> None:
        bar = bars.get(label)
        if bar is None:
            bar = bars[label] = tqdm(total=total, desc=label, unit="task", leave=False, file=sys.stderr)
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update


def resolve_progress(progress: "Progress | bool | str") -> Progress:
    """``True`` -> bars, ``False`` -> none, ``"auto"`` -> bars in a notebook or a terminal only."""
    import sys

    if callable(progress):
        return progress
    if progress == "auto":
        interactive = "ipykernel" in sys.modules or (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())
        progress = interactive
    return bar_progress() if progress else no_progress


class ProviderModule(Protocol):
    NAME: str

    def collect(self, options: dict[str, Any], *, executor: Any = None,
                progress: Progress = no_progress) -> Collection: ...

    def normalize(self, collection: Collection) -> Any: ...


PROVIDERS: dict[str, str] = {
    "aws": "cloudaudit.providers.aws",
    "azure": "cloudaudit.providers.azure",
    "gcp": "cloudaudit.providers.gcp",
}
_EXTRAS = {"aws": "aws", "azure": "azure", "gcp": "gcp"}


def load_provider(name: str) -> ProviderModule:
    """Import a provider adapter on first use (SDKs are never imported with cloudaudit)."""
    if name not in PROVIDERS:
        raise ProviderError(f"unknown provider {name!r} (choose from: {', '.join(PROVIDERS)})")
    try:
        return importlib.import_module(PROVIDERS[name])  # type: ignore[return-value]
    except ImportError as exc:
        raise ProviderError(
            f"provider {name!r} needs its SDK: pip install 'cloudaudit[{_EXTRAS[name]}]' ({exc.name} is missing)"
        ) from None


_MARKUP = re.compile(r"<[^>]{0,200}>")
_SPACE = re.compile(r"\s+")


def _one_line(text: str, limit: int = 300) -> str:
    """Error text for a report cell: no HTML markup (some endpoints answer with an error page),
    no line breaks, bounded length."""
    text = _SPACE.sub(" ", _MARKUP.sub(" ", text.replace("\\n", " "))).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def classify_error(exc: BaseException) -> tuple[str, str]:
    """Map an SDK exception to a coverage status and message, by duck typing (no SDK import)."""
    text = _one_line(f"{type(exc).__name__}: {exc}")
    code = ""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # botocore ClientError
        code = str(response.get("Error", {}).get("Code", ""))
    status_code = getattr(exc, "status_code", None) or getattr(exc, "code", None)
    denied_codes = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError",
                    "Forbidden", "AuthorizationFailed", "PermissionDenied", "InvalidClientTokenId"}
    if code in denied_codes or status_code in (401, 403) or "AccessDenied" in text or "Forbidden" in text:
        return "denied", text
    unsupported = {"NotImplemented", "UnsupportedOperation", "OptInRequired", "SubscriptionRequiredException"}
    if code in unsupported or status_code == 501:
        return "unsupported", text
    return "error", text


Classifier = Callable[[BaseException], "tuple[str, str]"]


@dataclass(frozen=True)
class Attempt:
    """The outcome of one read: its payload, or the coverage status and message of its failure."""

    data: Any
    status: str = "ok"                  # ok, denied, error, unsupported
    message: str = ""
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def attempt(fn: Callable[[], Any], classify: Classifier = classify_error) -> Attempt:
    """Run one read; any exception becomes a failed :class:`Attempt` classified for coverage
    (never raised, never dropped: the caller writes its coverage row)."""
    try:
        return Attempt(fn())
    except Exception as exc:  # noqa: BLE001 - every failure becomes a coverage row
        status, message = classify(exc)
        return Attempt(None, status, message, exc)


def read(collection: Collection, account_id: str, tables: Iterable[str], source: str, fn: Callable[[], Any], *,
         region: str | None = None, record_region: str = "global", classify: Classifier = classify_error) -> Any:
    """One guarded read: keep its payload as a record and write an ok coverage row per table, or a
    row per table with the failure's status and message. Returns the payload, or None on failure."""
    result = attempt(fn, classify)
    if result.ok:
        collection.add(account_id, record_region, source, result.data)
    for table in tables:
        collection.cover(account_id, region, table, source, result.status, result.message)
    return result.data
