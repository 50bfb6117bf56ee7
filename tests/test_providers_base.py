"""Shared adapter plumbing: error classification and coverage bookkeeping."""

from cloudaudit.providers.base import classify_error


class FakeClientError(Exception):
    """Shaped like botocore's ClientError (duck typing: no SDK import)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.response = {"Error": {"Code": code, "Message": message}}


class HttpError(Exception):
    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code = status_code


def test_access_denied_and_forbidden_are_denied():
    assert classify_error(FakeClientError("AccessDenied", "no"))[0] == "denied"
    assert classify_error(HttpError(403, "AuthorizationFailed"))[0] == "denied"


def test_not_implemented_is_unsupported_and_the_rest_error():
    assert classify_error(HttpError(501, "nope"))[0] == "unsupported"
    assert classify_error(FakeClientError("OptInRequired", "region not enabled"))[0] == "unsupported"
    assert classify_error(TimeoutError("read timed out"))[0] == "error"


def test_messages_are_one_line_without_markup_and_bounded():
    page = "<!doctype html>\n<html><title>500 Internal Server Error</title><h1>Oops</h1>" + "x" * 1000
    status, message = classify_error(RuntimeError(page))
    assert status == "error"
    assert "<" not in message and "\n" not in message and "500 Internal Server Error" in message
    assert len(message) <= 300
