"""seobatch: nightly SEO titles and meta descriptions for every page, through the LLM
providers' batch APIs.

The public surface is ``__all__`` below, grouped as Dramatiq groups its own; everything
else is internal and may change. Names load on first use (PEP 562 ``__getattr__``), so
``import seobatch`` and ``seobatch --help`` stay cheap and no submodule imports this one
back. ``tests/test_exports.py`` keeps the list and the modules in step.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name → the module that defines it.
_EXPORTS = {
    # Configuration
    "Settings": "config",
    # Errors
    "SeobatchError": "errors",
    "ConfigError": "errors",
    "InputError": "errors",
    "ValidationError": "errors",
    "ProviderError": "errors",
    "TransientError": "errors",
    "PermanentError": "errors",
    "AmbiguousCreate": "errors",
    "ResultsUnavailable": "errors",
    "AlreadyRunning": "errors",
    # Database and models
    "open_database": "schema",
    "Page": "models",
    "SeoBatchJob": "models",
    "SeoBatchItem": "models",
    "SeoBatchEvent": "models",
    # Job state
    "JobStatus": "jobmeta",
    "ItemStatus": "jobmeta",
    # Pages in and out
    "import_pages": "pages",
    "export_pages": "pages",
    # Runs and stages
    "start_run": "runs",
    "RunResult": "runs",
    "run_chain": "runs",
    "STAGES": "stages",
    "Step": "stages",
    "drive": "stages",
    # Events
    "job_submitted": "events",
    "job_completed": "events",
    "job_failed": "events",
    "job_failed_over": "events",
    # The schedule
    "Schedule": "schedule",
    # Model replies
    "parse_reply": "output",
    "InvalidOutput": "output",
    # The provider emulator
    "Emulator": "emulator",
}

__all__ = [
    "__version__",
    # Configuration
    "Settings",
    # Errors
    "SeobatchError", "ConfigError", "InputError", "ValidationError", "ProviderError",
    "TransientError", "PermanentError", "AmbiguousCreate", "ResultsUnavailable", "AlreadyRunning",
    # Database and models
    "open_database", "Page", "SeoBatchJob", "SeoBatchItem", "SeoBatchEvent",
    # Job state
    "JobStatus", "ItemStatus",
    # Pages in and out
    "import_pages", "export_pages",
    # Runs and stages
    "start_run", "RunResult", "run_chain", "STAGES", "Step", "drive",
    # Events
    "job_submitted", "job_completed", "job_failed", "job_failed_over",
    # The schedule
    "Schedule",
    # Model replies
    "parse_reply", "InvalidOutput",
    # The provider emulator
    "Emulator",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'seobatch' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
