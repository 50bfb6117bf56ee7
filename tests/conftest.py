"""Shared fixtures: the demo estate is built once per test session and reused."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_result(tmp_path_factory):
    """Run the real `cloudaudit demo` pipeline once (moto organization + sample bundles)."""
    from cloudaudit.demo import run_demo

    return run_demo(tmp_path_factory.mktemp("demo"), lang="ja")


@pytest.fixture(scope="session")
def demo_dir(demo_result) -> Path:
    return demo_result.directory
