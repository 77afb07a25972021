"""Settings: the only place that reads the environment.

Entry points (CLI, actors/broker.py, scripts) call ``Settings.from_env()`` and pass the
result down; library functions take what they need as arguments.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError
from .publishing import ChangeBudget
from .quality.profile import ENV as QUALITY_ENV
from .quality.profile import QualityProfile

DEFAULT_DATABASE_URL = "sqlite:///seobatch.db"
DEFAULT_MODEL = "claude-sonnet-4-5"
ANTHROPIC_BASE_URL = "https://api.anthropic.com"
GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
OPENAI_BASE_URL = "https://api.openai.com/v1"
#: Default wall-clock seconds one submit actor run may take (SEOBATCH_SUBMIT_TIME_LIMIT).
SUBMIT_TIME_LIMIT_SECONDS = 600


#: Reads one variable: ``(env, name, default, **bounds) -> value``; ``default`` when unset.
Parse = Callable[..., Any]


def _text(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    return env.get(name) or default


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    return (env.get(name) or default).rstrip("/")


def _names(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list (empty items dropped)."""
    return tuple(s.strip() for s in env.get(name, "").split(",") if s.strip()) or default


def _int(env: Mapping[str, str], name: str, default: int | None, minimum: int = 0) -> int | None:
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


def _limit(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    """A whole number where 0 (or unset) means "no limit of ours": None."""
    return _int(env, name, 0) or default


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


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    value = _float(env, name, default)
    if value is None or not value > 0:
        raise ConfigError(f"{name} must be a number above 0, got {env.get(name)!r}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _key(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    # A key pasted with a trailing newline or space is not a different key.
    return (env.get(name) or "").strip() or default


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...] = ()) -> str:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _budget(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    raw = (env.get(name) or "").strip()
    return str(ChangeBudget.parse(raw, name)) if raw else default


def parse_deadline(text: str, name: str = "SEOBATCH_DEADLINE") -> tuple[time, ZoneInfo]:
    """``"07:00 Europe/Berlin"`` → (07:00, Europe/Berlin): a time of day and the zone it is in."""
    clock, _, zone = text.strip().partition(" ")
    try:
        at = time.fromisoformat(clock)
    except ValueError:
        raise ConfigError(f"{name} must be a time of day and a time zone (07:00 Europe/Berlin), got {text!r}") from None
    try:
        tz = ZoneInfo(zone.strip() or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name}: unknown time zone {zone.strip()!r} (an IANA name, e.g. Europe/Berlin)") from None
    return at, tz


def _deadline(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    """A deadline, checked here and kept as written (``parse_deadline`` reads it)."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    parse_deadline(raw, name)
    return raw


#: The providers a fallback can be named for.
PROVIDERS = ("anthropic", "gemini", "openai")


def _fallbacks(env: Mapping[str, str], name: str, default: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """``gemini=claude-sonnet-4-5,anthropic=gemini-2.5-flash`` → ((provider, model), …)."""
    pairs = []
    for part in _names(env, name, ()):
        provider, sep, model = (s.strip() for s in part.partition("="))
        if not sep or not model or provider not in PROVIDERS:
            raise ConfigError(
                f"{name} must list provider=model pairs ({', '.join(PROVIDERS)}), e.g. "
                f"gemini=claude-sonnet-4-5; got {part!r}"
            )
        pairs.append((provider, model))
    return tuple(pairs) or default


#: Model name starts the built-in providers own: a compatible endpoint may not take them.
BUILT_IN_PREFIXES = ("claude-", "gemini-", "gpt-", "o1", "o3", "o4")


@dataclass(frozen=True)
class CompatEndpoint:
    """An OpenAI-compatible Files + Batches service, chosen by a model-name prefix."""

    prefix: str
    base_url: str
    key_variable: str
    key: str | None = field(default=None, repr=False)
    #: The service stores batch ``metadata`` (else reconciliation matches on the request count).
    metadata: bool = True
    #: The service takes ``response_format`` JSON schema (else the prompt asks for JSON).
    response_format: bool = True
    max_requests: int = 50_000


def _compat(env: Mapping[str, str], name: str, default: tuple[CompatEndpoint, ...]) -> tuple[CompatEndpoint, ...]:
    """``prefix=base_url key=VAR [metadata=no] [response_format=no] [max_requests=N]``, comma-separated."""
    out: list[CompatEndpoint] = []
    for entry in _names(env, name, ()):
        head, *options = entry.split()
        prefix, sep, url = head.partition("=")
        where = f"{name} entry {prefix or entry!r}"
        if not sep or not prefix or not url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}: must start with prefix=base_url (http or https), e.g. "
                              f"llama-=https://llm.example.com/v1")
        if prefix.startswith(BUILT_IN_PREFIXES) or any(p.startswith(prefix) for p in BUILT_IN_PREFIXES) \
                or any(prefix.startswith(c.prefix) or c.prefix.startswith(prefix) for c in out):
            raise ConfigError(f"{where}: the prefix overlaps another provider's ({', '.join(BUILT_IN_PREFIXES)} "
                              "or another endpoint)")
        values: dict[str, Any] = {}
        for option in options:
            key, _, value = option.partition("=")
            if key == "key" and value:
                values["key_variable"] = value
            elif key in ("metadata", "response_format") and value in ("yes", "no"):
                values[key] = value == "yes"
            elif key == "max_requests" and value.isdigit() and int(value) > 0:
                values[key] = int(value)
            else:
                raise ConfigError(f"{where}: unknown option {option!r} (key=VAR, metadata=yes|no, "
                                  "response_format=yes|no, max_requests=N)")
        if "key_variable" not in values:
            raise ConfigError(f"{where}: name the variable that holds its key (key=VAR)")
        key_value = _key(env, values["key_variable"], None)
        out.append(CompatEndpoint(prefix=prefix, base_url=url.rstrip("/"), key=key_value, **values))
    return tuple(out) or default


def setting(default: Any, env: str, parse: Parse = _text, *, secret: bool = False, **bounds: Any) -> Any:
    """A field of ``Settings`` read from the variable ``env`` by ``parse`` (given
    ``bounds``, e.g. ``minimum=1``); ``default`` when the variable is unset or empty.
    A ``secret`` never appears in ``repr``."""
    return field(default=default, repr=not secret, metadata={"env": env, "parse": parse, "bounds": bounds})


@dataclass(frozen=True)
class Settings:
    """Everything seobatch can be told from outside. Keys never appear in ``repr``.

    A new setting is one line here: ``name: type = setting(default, "SEOBATCH_NAME",
    parser, minimum=…)``, plus its row in the README's configuration table.
    """

    database_url: str = setting(DEFAULT_DATABASE_URL, "DATABASE_URL")
    redis_url: str | None = setting(None, "REDIS_URL")
    anthropic_api_key: str | None = setting(None, "ANTHROPIC_API_KEY", _key, secret=True)
    gemini_api_key: str | None = setting(None, "GEMINI_API_KEY", _key, secret=True)
    anthropic_base_url: str = setting(ANTHROPIC_BASE_URL, "ANTHROPIC_BASE_URL", _url)
    gemini_base_url: str = setting(GEMINI_BASE_URL, "GOOGLE_GEMINI_BASE_URL", _url)
    openai_api_key: str | None = setting(None, "OPENAI_API_KEY", _key, secret=True)
    #: The OpenAI SDK's name and default: the root includes ``/v1``.
    openai_base_url: str = setting(OPENAI_BASE_URL, "OPENAI_BASE_URL", _url)
    model: str = setting(DEFAULT_MODEL, "SEOBATCH_MODEL")
    #: Models run although the price table has no price for them (a new model, a private alias).
    allow_models: tuple[str, ...] = setting((), "SEOBATCH_ALLOW_MODELS", _names)
    subscribers: tuple[str, ...] = setting((), "SEOBATCH_SUBSCRIBERS", _names)
    poll_interval: int = setting(60, "SEOBATCH_POLL_INTERVAL", _int)
    poll_max_interval: int = setting(900, "SEOBATCH_POLL_MAX_INTERVAL", _int)
    #: A file whose text replaces the default prompt template (brand voice, language rules).
    prompt_file: str | None = setting(None, "SEOBATCH_PROMPT_FILE")
    #: Characters of page text put in each prompt; longer pages are cut at a word.
    prompt_max_chars: int = setting(12_000, "SEOBATCH_PROMPT_MAX_CHARS", _int, minimum=100)
    #: How many failed nights a page gets before it is left alone.
    max_attempts: int = setting(3, "SEOBATCH_MAX_ATTEMPTS", _int, minimum=1)
    #: Rows per bulk write / keyset page.
    chunk_size: int = setting(1000, "SEOBATCH_CHUNK_SIZE", _int, minimum=1)
    max_output_tokens: int = setting(400, "SEOBATCH_MAX_OUTPUT_TOKENS", _int, minimum=1)
    title_min: int = setting(10, "SEOBATCH_TITLE_MIN", _int)
    title_max: int = setting(70, "SEOBATCH_TITLE_MAX", _int, minimum=1)
    description_min: int = setting(50, "SEOBATCH_DESCRIPTION_MIN", _int)
    description_max: int = setting(170, "SEOBATCH_DESCRIPTION_MAX", _int, minimum=1)
    #: A JSON file of price overrides: {"model": {"input": USD/Mtok, "output": USD/Mtok}}.
    prices_file: str | None = setting(None, "SEOBATCH_PRICES_FILE")
    #: Guard against a surprise bill: a job estimated above this fails before sending.
    max_cost: float | None = setting(None, "SEOBATCH_MAX_COST", _non_negative)
    #: ``text`` (people) or ``json`` (one object per line, for log pipelines).
    log_format: str = setting("text", "SEOBATCH_LOG_FORMAT", _choice, choices=("text", "json"))
    #: Dramatiq's Redis key prefix (tests and side-by-side deployments isolate on it).
    redis_namespace: str = setting("dramatiq", "SEOBATCH_REDIS_NAMESPACE")
    #: Lower the providers' per-batch limits (requests / bytes of request JSON); None = theirs.
    batch_max_requests: int | None = setting(None, "SEOBATCH_BATCH_MAX_REQUESTS", _limit)
    batch_max_bytes: int | None = setting(None, "SEOBATCH_BATCH_MAX_BYTES", _limit)
    #: How long a submit attempt owns the job (longer than the create call can take).
    submit_lease_seconds: int = setting(900, "SEOBATCH_SUBMIT_LEASE", _int, minimum=1)
    #: Wall-clock seconds the submit actor may run (``actors/submit.py``); raise it with
    #: the lease for very large uploads. The lease may not be shorter: a lease running out
    #: while its create is still in flight would let a second attempt resend beside it.
    submit_time_limit: int = setting(SUBMIT_TIME_LIMIT_SECONDS, "SEOBATCH_SUBMIT_TIME_LIMIT", _int, minimum=1)
    #: After an ambiguous create, how long the provider gets to show the batch in its
    #: list before we conclude it was never created and send again.
    submit_settle_seconds: int = setting(120, "SEOBATCH_SUBMIT_SETTLE", _int)
    #: A job no worker has claimed (its message waits in the queue, or was lost) is
    #: re-enqueued by the recovery sweep after this long without change; also the longest
    #: the sweep's doubling wait for a job it already re-enqueued grows to.
    stale_after: int = setting(600, "SEOBATCH_STALE_AFTER", _int, minimum=1)
    #: A worker's claim on a job runs out this long after its last renewal (each chunk
    #: committed; submit's heartbeat every third of it); the recovery sweep then takes over.
    claim_ttl: int = setting(45, "SEOBATCH_CLAIM_TTL", _int, minimum=3)
    #: The clock's nightly kickoff, in cron form (minute hour day month weekday) in ``schedule_tz``.
    schedule: str = setting("0 2 * * *", "SEOBATCH_SCHEDULE")
    #: The IANA time zone SEOBATCH_SCHEDULE is read in (e.g. Europe/Berlin); DST-safe.
    schedule_tz: str = setting("UTC", "SEOBATCH_SCHEDULE_TZ")
    #: Days a finished job keeps its items' request bodies and replies (``seobatch prune``).
    retention_days: int = setting(30, "SEOBATCH_RETENTION_DAYS", _int)
    #: Seconds between two recovery sweeps of the clock.
    recover_interval: int = setting(60, "SEOBATCH_RECOVER_INTERVAL", _int, minimum=1)
    #: Where the example subscriber ``seobatch.subscribers.audit_log`` appends its lines.
    audit_log: str = setting("seobatch-audit.jsonl", "SEOBATCH_AUDIT_LOG")
    #: Seconds a provider call waits to connect, and for each read of the reply.
    http_timeout: float = setting(60.0, "SEOBATCH_HTTP_TIMEOUT", _positive)
    #: In-process retries of a provider call that failed transiently (429, 5xx, timeouts).
    http_retries: int = setting(4, "SEOBATCH_HTTP_RETRIES", _int)
    #: Wall-clock seconds one results download may take (a dripping stream is cut off).
    results_deadline: float = setting(3600.0, "SEOBATCH_RESULTS_DEADLINE", _positive)
    #: Redis broker: a worker silent for this long is presumed dead and its unacked
    #: messages are delivered again; the sweep that does so runs on this many commands in
    #: a million (Dramatiq's defaults: 60 s, 1000).
    redis_heartbeat_ms: int = setting(60_000, "SEOBATCH_REDIS_HEARTBEAT_MS", _int)
    redis_maintenance_chance: int = setting(1000, "SEOBATCH_REDIS_MAINTENANCE_CHANCE", _int)
    #: Hours a batch may run before the poll watchdog cancels it and fails the job;
    #: 0 = the provider's own expiry plus 2 h (Anthropic 26 h, Gemini 50 h).
    batch_deadline_hours: float = setting(0.0, "SEOBATCH_BATCH_DEADLINE_HOURS", _non_negative)
    #: Deliveries of an event a subscriber raised on before it is marked failed.
    event_max_attempts: int = setting(8, "SEOBATCH_EVENT_MAX_ATTEMPTS", _int, minimum=1)
    #: Seconds a delivery holds an event: receivers should be quick; when the delivering
    #: process dies, the sweep sends the event again once this has passed.
    event_lease_seconds: int = setting(300, "SEOBATCH_EVENT_LEASE", _int, minimum=1)
    #: OpenAI-compatible batch services, by model-name prefix (README "Compatible endpoints").
    compat_endpoints: tuple[CompatEndpoint, ...] = setting((), "SEOBATCH_COMPAT_ENDPOINTS", _compat)
    #: By when, each night, the pages must be done ("07:00 Europe/Berlin"); unset: no failover.
    deadline: str | None = setting(None, "SEOBATCH_DEADLINE", _deadline)
    #: The model a late batch's remaining pages move to, per provider.
    failover_models: tuple[tuple[str, str], ...] = setting((), "SEOBATCH_FAILOVER_MODEL", _fallbacks)
    #: Minutes kept free before the deadline (checks, publishing).
    deadline_margin_minutes: int = setting(30, "SEOBATCH_DEADLINE_MARGIN", _int)
    #: Minutes a failover waits for the canceled batch to end; past that its pages are not
    #: moved (they could be paid twice) and the job fails with the reason.
    failover_settle_minutes: int = setting(30, "SEOBATCH_FAILOVER_SETTLE", _int, minimum=1)
    #: The web page's session signing key (``seobatch web`` refuses to start without it).
    web_secret: str | None = setting(None, "SEOBATCH_WEB_SECRET", _key, secret=True)
    #: The web page is reached over https (behind a proxy): Secure cookies and HSTS.
    web_https: bool = setting(False, "SEOBATCH_WEB_HTTPS", _flag)
    #: Reverse proxies in front of the web page whose X-Forwarded-For/-Proto/-Host to trust.
    web_proxies: int = setting(0, "SEOBATCH_WEB_PROXIES", _int)
    #: What the results stage publishes at once: ``auto`` (every reply that passes, flagged
    #: ones too), ``flagged`` (flagged ones wait for review), ``review`` (everything waits).
    publish: str = setting("auto", "SEOBATCH_PUBLISH", _choice, choices=("auto", "flagged", "review"))
    #: Live pages one run (a night) may change: a count (``500``) or a share (``5%``); the rest wait.
    max_changes: str | None = setting(None, "SEOBATCH_MAX_CHANGES", _budget)
    #: The example subscriber ``seobatch.subscribers.webhook`` POSTs changed pages here,
    #: signed with HMAC-SHA256 under the secret.
    webhook_url: str | None = setting(None, "SEOBATCH_WEBHOOK_URL")
    webhook_secret: str | None = setting(None, "SEOBATCH_WEBHOOK_SECRET", _key, secret=True)
    #: The quality gate's pixel limits, brand format and thresholds: one field built from
    #: the variables of ``QualityProfile.ENV`` (validated at start: a brand or limit that
    #: leaves no possible title is a ConfigError naming the variable).
    quality: QualityProfile = field(default_factory=QualityProfile, metadata={"profile": QUALITY_ENV})
    #: Run the quality gate on every reply (off: only the reply's format is checked; for
    #: measuring what the gate costs, not for production).
    quality_gate: bool = setting(True, "SEOBATCH_QUALITY_GATE", _flag)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (DESIGN.md's names)."""
        env = os.environ if env is None else env
        values = {
            f.name: f.metadata["parse"](env, f.metadata["env"], f.default, **f.metadata["bounds"])
            for f in fields(cls)
            if "env" in f.metadata  # a field without a variable keeps its default
        }
        values["quality"] = QualityProfile.from_env(env)
        lease, time_limit = values["submit_lease_seconds"], values["submit_time_limit"]
        if lease < time_limit:
            raise ConfigError(
                f"SEOBATCH_SUBMIT_LEASE ({lease}) must be at least SEOBATCH_SUBMIT_TIME_LIMIT ({time_limit}): "
                "a lease that ends while its create is in flight lets a second attempt send again"
            )
        return cls(**values)

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Each setting's environment variable, by field name (``quality.title_max_px`` for
        the quality profile's)."""
        out = {f.name: f.metadata["env"] for f in fields(cls) if "env" in f.metadata}
        for f in fields(cls):
            for name, env in f.metadata.get("profile", {}).items():
                out[f"{f.name}.{name}"] = env
        return out

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
            "openai": (self.openai_api_key, "OPENAI_API_KEY"),
        }[provider]
        if not key:
            raise ConfigError(f"{var} is not set: the {provider} batch API needs a key")
        return key

    def secrets(self) -> tuple[str, ...]:
        """The values that must never be written anywhere (for the log redaction filter)."""
        return tuple(
            k for k in (self.anthropic_api_key, self.gemini_api_key, self.openai_api_key, self.web_secret,
                        self.webhook_secret, *(c.key for c in self.compat_endpoints)) if k
        )

    def compat_for(self, model: str) -> CompatEndpoint | None:
        """The compatible endpoint whose prefix ``model`` starts with, if any."""
        return next((c for c in self.compat_endpoints if model.startswith(c.prefix)), None)
