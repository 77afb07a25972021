"""Settings: the only place that reads the environment.

Entry points (CLI, actors/broker.py, scripts) call ``Settings.from_env()`` and pass the
result down; library functions take what they need as arguments.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from .errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///seobatch.db"
DEFAULT_MODEL = "claude-sonnet-4-5"
ANTHROPIC_BASE_URL = "https://api.anthropic.com"
GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
#: Default wall-clock seconds one submit actor run may take (SEOBATCH_SUBMIT_TIME_LIMIT).
SUBMIT_TIME_LIMIT_SECONDS = 600


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float | None) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {raw!r}")
    return value


def _non_negative(env: Mapping[str, str], name: str, default: float | None) -> float | None:
    value = _float(env, name, default)
    if value is not None and value < 0:
        raise ConfigError(f"{name} must be 0 or more, got {env.get(name, '').strip()!r}")
    return value


def _key(env: Mapping[str, str], name: str) -> str | None:
    # A key pasted with a trailing newline or space is not a different key.
    return (env.get(name) or "").strip() or None


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    value = _float(env, name, default)
    if value is None or not value > 0:
        raise ConfigError(f"{name} must be a number above 0, got {env.get(name)!r}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


@dataclass(frozen=True)
class Settings:
    """Everything seobatch can be told from outside. Keys never appear in ``repr``."""

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    anthropic_api_key: str | None = field(default=None, repr=False)
    gemini_api_key: str | None = field(default=None, repr=False)
    anthropic_base_url: str = ANTHROPIC_BASE_URL
    gemini_base_url: str = GEMINI_BASE_URL
    model: str = DEFAULT_MODEL
    subscribers: tuple[str, ...] = ()
    poll_interval: int = 60
    poll_max_interval: int = 900
    #: A file whose text replaces the default prompt template (brand voice, language rules).
    prompt_file: str | None = None
    #: Characters of page text put in each prompt; longer pages are cut at a word.
    prompt_max_chars: int = 12_000
    #: How many failed nights a page gets before it is left alone.
    max_attempts: int = 3
    #: Rows per bulk write / keyset page.
    chunk_size: int = 1000
    max_output_tokens: int = 400
    title_min: int = 10
    title_max: int = 70
    description_min: int = 50
    description_max: int = 170
    #: A JSON file of price overrides: {"model": {"input": USD/Mtok, "output": USD/Mtok}}.
    prices_file: str | None = None
    #: Guard against a surprise bill: a job estimated above this fails before sending.
    max_cost: float | None = None
    #: ``text`` (people) or ``json`` (one object per line, for log pipelines).
    log_format: str = "text"
    #: Dramatiq's Redis key prefix (tests and side-by-side deployments isolate on it).
    redis_namespace: str = "dramatiq"
    #: Lower the providers' per-batch limits (requests / bytes of request JSON); None = theirs.
    batch_max_requests: int | None = None
    batch_max_bytes: int | None = None
    #: How long a submit attempt owns the job (longer than the create call can take).
    submit_lease_seconds: int = 900
    #: Wall-clock seconds the submit actor may run (``actors/submit.py``); raise it with
    #: the lease for very large uploads. The lease may not be shorter: a lease running out
    #: while its create is still in flight would let a second attempt resend beside it.
    submit_time_limit: int = SUBMIT_TIME_LIMIT_SECONDS
    #: After an ambiguous create, how long the provider gets to show the batch in its
    #: list before we conclude it was never created and send again.
    submit_settle_seconds: int = 120
    #: An active job with no progress for this long is re-enqueued by the recovery sweep
    #: (processing jobs get SEOBATCH_POLL_MAX_INTERVAL on top).
    stale_after: int = 600
    #: The clock's nightly kickoff, in cron form (minute hour day month weekday, UTC).
    schedule: str = "0 2 * * *"
    #: Seconds between two recovery sweeps of the clock.
    recover_interval: int = 300
    #: Where the example subscriber ``seobatch.subscribers.audit_log`` appends its lines.
    audit_log: str = "seobatch-audit.jsonl"
    #: Seconds a provider call waits to connect, and for each read of the reply.
    http_timeout: float = 60.0
    #: In-process retries of a provider call that failed transiently (429, 5xx, timeouts).
    http_retries: int = 4
    #: Wall-clock seconds one results download may take (a dripping stream is cut off).
    results_deadline: float = 3600.0
    #: Redis broker: a worker silent for this long is presumed dead and its unacked
    #: messages are delivered again; the sweep that does so runs on this many commands in
    #: a million (Dramatiq's defaults: 60 s, 1000).
    redis_heartbeat_ms: int = 60_000
    redis_maintenance_chance: int = 1000
    #: Hours a batch may run before the poll watchdog cancels it and fails the job;
    #: 0 = the provider's own expiry plus 2 h (Anthropic 26 h, Gemini 50 h).
    batch_deadline_hours: float = 0.0
    #: The web page's session signing key (``seobatch web`` refuses to start without it).
    web_secret: str | None = field(default=None, repr=False)
    #: The web page is reached over https (behind a proxy): Secure cookies and HSTS.
    web_https: bool = False
    #: Reverse proxies in front of the web page whose X-Forwarded-For/-Proto to trust.
    web_proxies: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (DESIGN.md's names)."""
        env = os.environ if env is None else env
        subs = tuple(s.strip() for s in env.get("SEOBATCH_SUBSCRIBERS", "").split(",") if s.strip())
        time_limit = _int(env, "SEOBATCH_SUBMIT_TIME_LIMIT", SUBMIT_TIME_LIMIT_SECONDS, minimum=1)
        lease = _int(env, "SEOBATCH_SUBMIT_LEASE", 900, minimum=1)
        if lease < time_limit:
            raise ConfigError(
                f"SEOBATCH_SUBMIT_LEASE ({lease}) must be at least SEOBATCH_SUBMIT_TIME_LIMIT ({time_limit}): "
                "a lease that ends while its create is in flight lets a second attempt send again"
            )
        return cls(
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            redis_url=env.get("REDIS_URL") or None,
            anthropic_api_key=_key(env, "ANTHROPIC_API_KEY"),
            gemini_api_key=_key(env, "GEMINI_API_KEY"),
            anthropic_base_url=(env.get("ANTHROPIC_BASE_URL") or ANTHROPIC_BASE_URL).rstrip("/"),
            gemini_base_url=(env.get("GOOGLE_GEMINI_BASE_URL") or GEMINI_BASE_URL).rstrip("/"),
            model=env.get("SEOBATCH_MODEL") or DEFAULT_MODEL,
            subscribers=subs,
            poll_interval=_int(env, "SEOBATCH_POLL_INTERVAL", 60),
            poll_max_interval=_int(env, "SEOBATCH_POLL_MAX_INTERVAL", 900),
            prompt_file=env.get("SEOBATCH_PROMPT_FILE") or None,
            prompt_max_chars=_int(env, "SEOBATCH_PROMPT_MAX_CHARS", 12_000, minimum=100),
            max_attempts=_int(env, "SEOBATCH_MAX_ATTEMPTS", 3, minimum=1),
            chunk_size=_int(env, "SEOBATCH_CHUNK_SIZE", 1000, minimum=1),
            max_output_tokens=_int(env, "SEOBATCH_MAX_OUTPUT_TOKENS", 400, minimum=1),
            title_min=_int(env, "SEOBATCH_TITLE_MIN", 10),
            title_max=_int(env, "SEOBATCH_TITLE_MAX", 70, minimum=1),
            description_min=_int(env, "SEOBATCH_DESCRIPTION_MIN", 50),
            description_max=_int(env, "SEOBATCH_DESCRIPTION_MAX", 170, minimum=1),
            prices_file=env.get("SEOBATCH_PRICES_FILE") or None,
            max_cost=_non_negative(env, "SEOBATCH_MAX_COST", None),
            log_format=_choice(env, "SEOBATCH_LOG_FORMAT", "text", ("text", "json")),
            redis_namespace=env.get("SEOBATCH_REDIS_NAMESPACE") or "dramatiq",
            batch_max_requests=_int(env, "SEOBATCH_BATCH_MAX_REQUESTS", 0, minimum=0) or None,
            batch_max_bytes=_int(env, "SEOBATCH_BATCH_MAX_BYTES", 0, minimum=0) or None,
            submit_lease_seconds=lease,
            submit_time_limit=time_limit,
            submit_settle_seconds=_int(env, "SEOBATCH_SUBMIT_SETTLE", 120),
            stale_after=_int(env, "SEOBATCH_STALE_AFTER", 600, minimum=1),
            schedule=env.get("SEOBATCH_SCHEDULE") or "0 2 * * *",
            recover_interval=_int(env, "SEOBATCH_RECOVER_INTERVAL", 300, minimum=1),
            audit_log=env.get("SEOBATCH_AUDIT_LOG") or "seobatch-audit.jsonl",
            http_timeout=_positive(env, "SEOBATCH_HTTP_TIMEOUT", 60.0),
            http_retries=_int(env, "SEOBATCH_HTTP_RETRIES", 4),
            results_deadline=_positive(env, "SEOBATCH_RESULTS_DEADLINE", 3600.0),
            redis_heartbeat_ms=_int(env, "SEOBATCH_REDIS_HEARTBEAT_MS", 60_000),
            redis_maintenance_chance=_int(env, "SEOBATCH_REDIS_MAINTENANCE_CHANCE", 1000),
            batch_deadline_hours=_non_negative(env, "SEOBATCH_BATCH_DEADLINE_HOURS", 0.0) or 0.0,
            web_secret=_key(env, "SEOBATCH_WEB_SECRET"),
            web_https=_choice(env, "SEOBATCH_WEB_HTTPS", "false", ("true", "false")) == "true",
            web_proxies=_int(env, "SEOBATCH_WEB_PROXIES", 0),
        )

    def with_(self, **changes: object) -> Settings:
        """Return a copy with some fields changed (tests, CLI flags)."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        return replace(self, **changes)  # type: ignore[arg-type]

    def api_key_for(self, provider: str) -> str:
        """Return the key for ``provider`` or raise a ConfigError naming the variable."""
        key, var = {
            "anthropic": (self.anthropic_api_key, "ANTHROPIC_API_KEY"),
            "gemini": (self.gemini_api_key, "GEMINI_API_KEY"),
        }[provider]
        if not key:
            raise ConfigError(f"{var} is not set: the {provider} batch API needs a key")
        return key

    def secrets(self) -> tuple[str, ...]:
        """The values that must never be written anywhere (for the log redaction filter)."""
        return tuple(k for k in (self.anthropic_api_key, self.gemini_api_key, self.web_secret) if k)
