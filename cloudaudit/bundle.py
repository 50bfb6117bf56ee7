"""Evidence bundles: every raw API payload plus a manifest with SHA-256 hashes.

A bundle is a directory or a single ``.zip`` with this layout::

    manifest.json                               tool version, times, providers, identity, accounts, hashes
    <provider>/records.jsonl                    one raw payload per line (account, region, source, data)
    <provider>/coverage.json                    what could and could not be collected
    <provider>/meta.json                        caller identity, organization, endpoints used

Loading verifies every hash and refuses a tampered, truncated or incomplete bundle.  Files are
created readable by the owner only (they hold a tenant's configuration).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from ._version import __version__
from .errors import BundleError
from .providers.base import Collection, CoverageRow, Record

FORMAT = "cloudaudit-bundle/1"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False, sort_keys=True)


def _files_for(collections: Iterable[Collection]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for c in collections:
        lines = (_dumps({"account_id": r.account_id, "region": r.region, "source": r.source, "data": r.data})
                 for r in c.records)
        files[f"{c.provider}/records.jsonl"] = ("\n".join(lines) + "\n").encode("utf-8")
        files[f"{c.provider}/coverage.json"] = _dumps([asdict(row) for row in c.coverage]).encode("utf-8")
        meta = {**c.meta, "started": c.started, "finished": c.finished}
        files[f"{c.provider}/meta.json"] = _dumps(meta).encode("utf-8")
    return files


def write_bundle(collections: Iterable[Collection], path: str | Path) -> Path:
    """Write collections as a bundle (a ``.zip`` when the path ends so, else a directory).

    The bundle is assembled in a temporary place next to the target and moved into place
    only when complete, so an interrupted write never leaves a half bundle or clobbers an
    existing one.
    """
    collections = list(collections)
    target = Path(path)
    files = _files_for(collections)
    accounts = sorted({(c.provider, r.account_id) for c in collections for r in c.records}
                      | {(c.provider, row.account_id) for c in collections for row in c.coverage})
    manifest = {
        "format": FORMAT,
        "tool": "cloudaudit", "tool_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(),
        "started": min((c.started for c in collections), default=None),
        "finished": max((c.finished or c.started for c in collections), default=None),
        "providers": [c.provider for c in collections],
        "identity": {c.provider: c.meta.get("identity") for c in collections},
        "accounts": [{"provider": p, "account_id": a} for p, a in accounts],
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    files["manifest.json"] = _dumps(manifest).encode("utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    old_umask = os.umask(0o077)
    try:
        if target.suffix == ".zip":
            fd, tmp = tempfile.mkstemp(prefix=".bundle-", suffix=".zip", dir=target.parent)
            with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
                for name, data in files.items():
                    zf.writestr(name, data)
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        else:
            tmpdir = Path(tempfile.mkdtemp(prefix=".bundle-", dir=target.parent))
            for name, data in files.items():
                dest = tmpdir / name
                dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                dest.write_bytes(data)
                os.chmod(dest, 0o600)
            if target.exists():
                backup = target.with_name(target.name + ".old")
                shutil.rmtree(backup, ignore_errors=True)
                os.replace(target, backup)
                os.replace(tmpdir, target)
                shutil.rmtree(backup, ignore_errors=True)
            else:
                os.replace(tmpdir, target)
            os.chmod(target, 0o700)
    finally:
        os.umask(old_umask)
    return target


class _Reader:
    def __init__(self, path: Path):
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        if path.is_file():
            try:
                self.zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise BundleError(f"{path}: not a readable bundle zip ({exc})") from None
        elif not path.is_dir():
            raise BundleError(f"{path}: bundle not found")

    def read(self, name: str) -> bytes:
        try:
            if self.zip is not None:
                return self.zip.read(name)
            return (self.path / name).read_bytes()
        except (KeyError, FileNotFoundError):
            raise BundleError(f"{self.path}: bundle is incomplete: {name} is missing") from None
        except (zipfile.BadZipFile, OSError, EOFError, zipfile.LargeZipFile) as exc:
            raise BundleError(f"{self.path}: cannot read {name} ({exc}); the bundle is truncated or damaged") from None


def read_bundle(path: str | Path) -> tuple[dict[str, Any], list[Collection]]:
    """Verify a bundle and return its manifest and the collections it holds."""
    path = Path(path)
    reader = _Reader(path)
    try:
        manifest = json.loads(reader.read("manifest.json"))
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}: manifest.json is not valid JSON ({exc.msg})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{path}: not a cloudaudit bundle (format {manifest.get('format') if isinstance(manifest, dict) else None!r})")
    contents: dict[str, bytes] = {}
    for name, digest in manifest.get("files", {}).items():
        data = reader.read(name)
        if hashlib.sha256(data).hexdigest() != digest:
            raise BundleError(f"{path}: {name} does not match its SHA-256 in the manifest (tampered or damaged)")
        contents[name] = data
    collections = []
    for provider in manifest.get("providers", []):
        try:
            records_raw = contents[f"{provider}/records.jsonl"].decode("utf-8")
            coverage = json.loads(contents[f"{provider}/coverage.json"])
            meta = json.loads(contents[f"{provider}/meta.json"])
        except KeyError as exc:
            raise BundleError(f"{path}: manifest lists provider {provider!r} but not its file {exc}") from None
        records = []
        for line in records_raw.splitlines():
            if line.strip():
                r = json.loads(line)
                records.append(Record(provider, r["account_id"], r["region"], r["source"], r["data"]))
        c = Collection(provider=provider, records=records, coverage=[CoverageRow(**row) for row in coverage],
                       meta=meta)
        if meta.get("started"):
            c.started = datetime.fromisoformat(meta["started"])
        if meta.get("finished"):
            c.finished = datetime.fromisoformat(meta["finished"])
        collections.append(c)
    return manifest, collections


def bundle_digest(path: str | Path) -> str:
    """SHA-256 of the bundle's manifest: one hash that pins every file in it."""
    return hashlib.sha256(_Reader(Path(path)).read("manifest.json")).hexdigest()


__all__ = ["write_bundle", "read_bundle", "bundle_digest", "FORMAT"]
