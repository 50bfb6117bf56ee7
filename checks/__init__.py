"""ISO/IEC 27017 checks, one module per theme (installed as ``cloudaudit.checks``).

Importing this package registers every check with :mod:`cloudaudit.engine`.
"""

from importlib import import_module

THEMES = ("residency", "isolation", "authentication", "lifecycle", "logging", "encryption",
          "classification", "provider_access")

for _theme in THEMES:
    import_module(f"{__name__}.{_theme}")
