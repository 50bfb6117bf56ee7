"""Renderers for findings: HTML (en/ja) and exports (installed as ``cloudaudit.reports``)."""

from .exports import write_json

__all__ = ["write_json"]
