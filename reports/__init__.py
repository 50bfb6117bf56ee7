"""Renderers for findings: HTML (en/ja) and exports (installed as ``cloudaudit.reports``).

Reports know findings and nothing of providers: every function takes a
:class:`cloudaudit.Findings` plus optional context.
"""

from .exports import write_json
from .html import render_compact, render_html

__all__ = ["render_html", "render_compact", "write_json"]
