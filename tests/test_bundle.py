"""Evidence bundles: round trip, hashes, tampering, truncation, permissions, atomic writes."""

import json
import os
import stat
import zipfile

import pytest

from cloudaudit.bundle import bundle_digest, read_bundle, write_bundle
from cloudaudit.errors import BundleError
from cloudaudit.providers.base import Collection


def collection() -> Collection:
    c = Collection("aws", meta={"identity": "arn:aws:iam::111:user/auditor"})
    c.add("111", "global", "iam:GetAccountSummary", {"SummaryMap": {"AccountMFAEnabled": 1}})
    c.add("111", "ap-northeast-1", "s3:ListBuckets", {"Buckets": [{"Name": "ログ</script>"}]})
    c.cover("111", None, "principals", "iam:GetAccountSummary", "ok")
    c.cover("222", None, "*", "sts:AssumeRole", "denied", "AccessDenied")
    return c


@pytest.mark.parametrize("name", ["bundle", "bundle.zip"])
def test_round_trip_keeps_every_payload_and_coverage(tmp_path, name):
    original = collection()
    path = write_bundle([original], tmp_path / name)
    manifest, [back] = read_bundle(path)
    assert back.records == original.records
    assert back.coverage == original.coverage
    assert manifest["identity"] == {"aws": "arn:aws:iam::111:user/auditor"}
    assert {"provider": "aws", "account_id": "222"} in manifest["accounts"]
    assert set(manifest["files"]) == {"aws/records.jsonl", "aws/coverage.json", "aws/meta.json"}
    assert len(bundle_digest(path)) == 64


def test_files_are_readable_by_owner_only(tmp_path):
    d = write_bundle([collection()], tmp_path / "b")
    for path in [d, *d.rglob("*")]:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode & 0o077 == 0, (path, oct(mode))
    z = write_bundle([collection()], tmp_path / "b.zip")
    assert stat.S_IMODE(os.stat(z).st_mode) & 0o077 == 0


def test_tampered_file_is_refused(tmp_path):
    d = write_bundle([collection()], tmp_path / "b")
    records = d / "aws" / "records.jsonl"
    records.write_text(records.read_text().replace("AccountMFAEnabled\": 1", "AccountMFAEnabled\": 0"))
    with pytest.raises(BundleError, match=r"aws/records.jsonl does not match its SHA-256"):
        read_bundle(d)


def test_missing_file_is_refused(tmp_path):
    d = write_bundle([collection()], tmp_path / "b")
    (d / "aws" / "coverage.json").unlink()
    with pytest.raises(BundleError, match="incomplete: aws/coverage.json is missing"):
        read_bundle(d)


def test_truncated_zip_is_refused_with_one_line(tmp_path):
    z = write_bundle([collection()], tmp_path / "b.zip")
    data = z.read_bytes()
    z.write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError) as err:
        read_bundle(z)
    assert str(z) in str(err.value) and "\n" not in str(err.value)


def test_not_a_bundle(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "manifest.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(BundleError, match="not a cloudaudit bundle"):
        read_bundle(tmp_path / "x")
    with pytest.raises(BundleError, match="bundle not found"):
        read_bundle(tmp_path / "missing.zip")


def test_rewriting_replaces_atomically_and_keeps_old_on_failure(tmp_path):
    target = tmp_path / "b.zip"
    write_bundle([collection()], target)
    before = target.read_bytes()

    class Boom:
        def __init__(self):
            self.provider = "aws"

        @property
        def records(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_bundle([Boom()], target)  # type: ignore[list-item]
    assert target.read_bytes() == before
    assert zipfile.ZipFile(target).testzip() is None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bundle-")]
