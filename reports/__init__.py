"""Renderers for findings: HTML (en/ja) and exports (installed as ``cloudaudit.reports``).

Reports know findings and nothing of providers: every function takes a
:class:`cloudaudit.Findings` plus optional context.
"""

from .exports import (FORMATS, OCSF_VERSION, atomic_write, ocsf_events, write_csv, write_html, write_json,
                      write_ocsf, write_report, write_xlsx)
from .html import render_compact, render_html

__all__ = ["FORMATS", "OCSF_VERSION", "atomic_write", "ocsf_events", "render_compact", "render_html", "write_csv",
           "write_html", "write_json", "write_ocsf", "write_report", "write_xlsx"]
