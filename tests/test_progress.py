"""Progress bars: on in notebooks and terminals, off for cron, and real bars when asked."""

import io
import sys

from cloudaudit.providers.base import no_progress, resolve_progress


def test_auto_is_off_when_not_interactive(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert resolve_progress("auto") is no_progress
    assert resolve_progress(False) is no_progress


def test_auto_is_on_inside_a_notebook_kernel(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setitem(sys.modules, "ipykernel", object())
    assert resolve_progress("auto") is not no_progress


def test_bars_draw_per_label_and_close(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    update = resolve_progress(True)
    for done in range(4):
        update(done, 3, "aws accounts")
    assert "aws accounts" in err.getvalue() and "3/3" in err.getvalue()


def test_a_callback_is_used_as_is():
    seen = []
    callback = lambda done, total, label: seen.append((done, total, label))  # noqa: E731
    assert resolve_progress(callback) is callback
