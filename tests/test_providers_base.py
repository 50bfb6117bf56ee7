"""The one guarded-read helper every adapter uses (providers.base.attempt / read)."""

from __future__ import annotations

from cloudaudit.providers.base import Collection, attempt, read


class Forbidden(Exception):
    status_code = 403


def _boom():
    raise Forbidden("no access to this scope")


def test_attempt_keeps_the_payload_or_the_classified_failure():
    ok = attempt(lambda: {"a": 1})
    assert ok.ok and ok.data == {"a": 1} and (ok.status, ok.message, ok.error) == ("ok", "", None)
    failed = attempt(_boom)
    assert not failed.ok and failed.data is None and failed.status == "denied"
    assert "no access to this scope" in failed.message and isinstance(failed.error, Forbidden)
    custom = attempt(_boom, lambda exc: ("unsupported", "licence"))
    assert (custom.status, custom.message) == ("unsupported", "licence")


def test_read_records_the_payload_and_one_coverage_row_per_table():
    c = Collection("azure")
    assert read(c, "sub", ["grants", "trusts"], "arm:x", lambda: [1, 2]) == [1, 2]
    assert [(r.account_id, r.region, r.source, r.data) for r in c.records] == [("sub", "global", "arm:x", [1, 2])]
    assert [(r.table, r.status) for r in c.coverage] == [("grants", "ok"), ("trusts", "ok")]


def test_read_of_a_failure_records_nothing_but_a_not_ok_row_per_table():
    c = Collection("gcp")
    assert read(c, "p", ["resources", "tags"], "asset:y", _boom, region="asia-northeast1") is None
    assert c.records == []
    assert {(r.table, r.region, r.status) for r in c.coverage} == {("resources", "asia-northeast1", "denied"),
                                                                   ("tags", "asia-northeast1", "denied")}
    assert all("no access" in r.message for r in c.coverage)
