"""HTTP plumbing shared by the provider clients.

Timeouts on every call, one ``requests.Session`` per thread, the mapping of provider
responses onto the error tree, a retry helper that honours the server's delay, and body
readers with a wall-clock budget (``requests``' read timeout is per socket read, so a
server that drips one byte a second would otherwise hold a thread forever).

Error text never carries a key, a header or a URL query: it ends up in logs, job
metadata and Dramatiq's stored tracebacks.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import IO, Any, TypeVar
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from .errors import AmbiguousCreate, ConfigError, PermanentError, ProviderError, TransientError
from .logs import redact

log = logging.getLogger("seobatch.http")

T = TypeVar("T")

#: (connect, read) seconds for every call; the read timeout is per socket read.
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 60.0)
#: Wall-clock budget for reading one JSON response body.
DEFAULT_BODY_DEADLINE = 300.0
#: Wall-clock budget for one streamed results download.
DEFAULT_STREAM_DEADLINE = 3600.0
#: Statuses worth retrying (Anthropic's 529 is "overloaded").
TRANSIENT_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
#: Transient statuses that prove the server refused a create before processing it.
REJECTED_STATUSES = frozenset({408, 409, 429, 529})
#: A server delay above this is not slept in-process: the error goes up with
#: ``retry_after`` set so the caller can reschedule instead of holding a worker thread.
MAX_SERVER_DELAY = 60.0
#: Longest single line we accept from a results stream.
MAX_LINE_BYTES = 64 * 1024 * 1024
_ERROR_BODY_LIMIT = 64 * 1024
_READ_SIZE = 64 * 1024

_local = threading.local()


def new_session() -> requests.Session:
    """A fresh session with seobatch's User-Agent."""
    session = requests.Session()
    session.headers["User-Agent"] = "seobatch (+python-requests)"
    return session


def thread_session() -> requests.Session:
    """This thread's session: connection pools are reused, but never shared across threads."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = new_session()
    return session


# --------------------------------------------------------------------------- retry-after


def _seconds(text: str) -> float | None:
    try:
        value = float(text.strip().removesuffix("s"))
    except ValueError:
        return None
    return value if value == value and value >= 0 else None  # NaN check


def parse_retry_after(
    headers: Mapping[str, str], body: Any = None, *, now: Callable[[], datetime] | None = None
) -> float | None:
    """The server's requested delay in seconds, or None when it did not say.

    Reads ``retry-after-ms``, then ``retry-after`` (seconds or an HTTP date), then a Gemini
    ``google.rpc.RetryInfo`` detail (``"retryDelay": "19s"``) in the error body.
    """
    ms = headers.get("retry-after-ms")
    if ms:
        value = _seconds(ms)
        if value is not None:
            return value / 1000.0
    ra = headers.get("retry-after")
    if ra:
        value = _seconds(ra)
        if value is not None:
            return value
        try:
            when = email.utils.parsedate_to_datetime(ra)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            current = now() if now else datetime.now(timezone.utc)
            return max(0.0, (when - current).total_seconds())
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = detail.get("retryDelay")
            if isinstance(delay, str):
                return _seconds(delay)
            if isinstance(delay, dict):  # {"seconds": "19", "nanos": 0}
                try:
                    return float(delay.get("seconds", 0)) + float(delay.get("nanos", 0)) / 1e9
                except (TypeError, ValueError):
                    return None
    return None


# --------------------------------------------------------------------------- error mapping

_TAG = re.compile(r"<[^>]+>")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)


def _plain_text(raw: bytes) -> str:
    """A short readable message from a non-JSON body (e.g. Cloudflare's HTML 413 page)."""
    text = raw.decode("utf-8", "replace")
    title = _TITLE.search(text)
    if title:
        text = title.group(1)
    text = " ".join(_TAG.sub(" ", text).split())
    return text[:200]


def error_from_response(
    provider: str,
    status: int,
    headers: Mapping[str, str],
    raw: bytes,
    *,
    reason: str = "",
    secrets: Iterable[str] = (),
) -> ProviderError:
    """Map an HTTP error response onto the error tree, keeping the provider's words."""
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        body = None
    request_id = headers.get("request-id") or headers.get("x-request-id")
    error_type = None
    error_code = None
    message = ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or "")
        # Anthropic: {"type": "rate_limit_error", "details": {"error_code": ...}};
        # Gemini: {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [...]}.
        error_type = error.get("type") or error.get("status")
        details = error.get("details")
        if isinstance(details, dict):
            error_code = details.get("error_code")
        elif isinstance(details, list):
            for d in details:
                if isinstance(d, dict) and d.get("reason"):
                    error_code = d["reason"]  # google.rpc.ErrorInfo, e.g. API_KEY_INVALID
                    break
        if isinstance(body, dict) and not request_id and isinstance(body.get("request_id"), str):
            request_id = body["request_id"]
    elif isinstance(error, str):
        message = error
    else:
        message = _plain_text(raw) if raw.strip() else ""
    message = message or reason or http.client.responses.get(status, "error")
    if error_code:
        message = f"{message} [{error_code}]"
    message = redact(message, secrets)
    retry_after = parse_retry_after(headers, body)
    transient = status in TRANSIENT_STATUSES and error_code != "enforced_spend_limit_reached"
    if 300 <= status < 400:
        message = f"unexpected redirect ({message})"
    cls = TransientError if transient else PermanentError
    return cls(
        message,
        provider=provider,
        status=status,
        request_id=request_id,
        error_type=str(error_type) if error_type else None,
        retry_after=retry_after,
        # Anthropic's ``x-should-retry`` overrides the status-based decision.
        should_retry=headers.get("x-should-retry", "").lower() != "false",
    )


# --------------------------------------------------------------------------- retries


def backoff_delay(
    exc: TransientError,
    attempt: int,
    *,
    base: float = 0.5,
    cap: float = 8.0,
    max_server_delay: float = MAX_SERVER_DELAY,
    rng: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to wait before retry ``attempt`` (0-based), or None to stop retrying.

    The server's delay wins when it gave one (plus a little jitter so a fleet of workers
    does not return in lockstep); a delay above ``max_server_delay`` is not slept here.
    """
    server = exc.retry_after
    if server is not None and server > 0:
        if server > max_server_delay:
            return None
        return server + rng() * min(1.0, server * 0.1)
    delay = min(cap, base * (2**attempt))
    return delay / 2 + rng() * delay / 2


def call_with_retries(
    fn: Callable[[], T],
    *,
    max_retries: int,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
    what: str = "call",
) -> T:
    """Run ``fn``; retry TransientError with backoff. AmbiguousCreate is never retried."""
    attempt = 0
    while True:
        try:
            return fn()
        except AmbiguousCreate:
            raise
        except TransientError as exc:
            if attempt >= max_retries or not exc.should_retry:
                raise
            wait = backoff_delay(exc, attempt, rng=rng)
            if wait is None:
                raise
            log.warning("%s failed (%s); retry %d/%d in %.2fs", what, exc, attempt + 1, max_retries, wait)
            sleep(wait)
            attempt += 1


# --------------------------------------------------------------------------- bodies


def _body_error(provider: str, what: str, detail: str) -> TransientError:
    return TransientError(f"{what}: {detail}", provider=provider)


def iter_body(
    resp: requests.Response,
    *,
    deadline: float,
    provider: str = "",
    what: str = "response body",
    clock: Callable[[], float] = time.monotonic,
) -> Generator[bytes, None, None]:
    """Yield a streamed response's (decoded) bytes, aborting after ``deadline`` seconds.

    ``read1`` returns whatever one socket read delivered, so the budget is checked between
    reads: the worst case is ``deadline`` plus one read timeout. A dropped or truncated body
    raises TransientError.
    """
    raw = resp.raw
    end = clock() + deadline
    try:
        while True:
            if clock() > end:
                raise _body_error(provider, what, f"not complete within {deadline:g}s")
            data = raw.read1(_READ_SIZE, decode_content=True)
            if not data:
                return
            yield data
    except TransientError:
        raise
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
        kind = "timed out" if "timed out" in str(exc).lower() or isinstance(exc, TimeoutError) else "interrupted"
        if isinstance(exc, urllib3.exceptions.ProtocolError | http.client.IncompleteRead):
            kind = "truncated"
        raise _body_error(provider, what, f"{kind} ({type(exc).__name__})") from None
    finally:
        resp.close()


def read_body(resp: requests.Response, *, deadline: float, limit: int | None = None, **kw: Any) -> bytes:
    """The whole body within ``deadline`` seconds; stops quietly at ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    body = iter_body(resp, deadline=deadline, **kw)
    try:
        for data in body:
            parts.append(data)
            size += len(data)
            if limit is not None and size >= limit:
                break
    finally:
        body.close()
    data = b"".join(parts)
    return data[:limit] if limit is not None else data


def iter_lines(chunks: Iterable[bytes], *, max_line: int = MAX_LINE_BYTES, provider: str = "") -> Iterator[bytes]:
    """Split a byte stream into lines (without ``\\n`` / ``\\r\\n``), never holding more than a line."""
    pending: list[bytes] = []
    pending_len = 0
    for data in chunks:
        parts = data.split(b"\n")
        if len(parts) == 1:
            pending.append(data)
            pending_len += len(data)
            if pending_len > max_line:
                raise PermanentError(f"a result line is longer than {max_line} bytes", provider=provider)
            continue
        if pending:
            pending.append(parts[0])
            parts[0] = b"".join(pending)
            pending = []
        last = parts.pop()
        for line in parts:
            yield line[:-1] if line.endswith(b"\r") else line
        if last:
            pending = [last]
            pending_len = len(last)
        else:
            pending_len = 0
    if pending:
        line = b"".join(pending)
        yield line[:-1] if line.endswith(b"\r") else line


# --------------------------------------------------------------------------- transport


def _connect_failed(exc: BaseException) -> bool:
    """True when the request provably never reached the server (safe to resend a create)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.exceptions.SSLError):
        inner = exc.args[0] if exc.args else None
        reason = getattr(inner, "reason", inner)
        return isinstance(reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError)
    return False


class Transport:
    """One provider's HTTP calls: auth headers, timeouts, error mapping and retries.

    ``headers`` go on every call except ``auth=False`` ones (upload session URLs);
    ``secrets`` are redacted from any provider message we keep.

    ``session=None`` uses this thread's session, so one client may serve many threads.
    """

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        headers: Mapping[str, str],
        secrets: Iterable[str] = (),
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        max_retries: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        body_deadline: float = DEFAULT_BODY_DEADLINE,
        stream_deadline: float = DEFAULT_STREAM_DEADLINE,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        base = urlsplit(self.base_url)
        if base.scheme not in ("http", "https") or not base.hostname:
            raise ConfigError(f"the {provider} base URL must look like https://host[:port], got scheme {base.scheme!r}")
        self._origin = (base.scheme, base.hostname, base.port or (443 if base.scheme == "https" else 80))
        self._auth = dict(headers)
        self._secrets = tuple(s for s in secrets if s)
        self._session = session
        self.timeout = timeout
        self.max_retries = max_retries
        self.sleep = sleep
        self.body_deadline = body_deadline
        self.stream_deadline = stream_deadline
        self.rng = rng

    def __repr__(self) -> str:  # never show headers (the key)
        return f"<Transport {self.provider} {self.base_url}>"

    @property
    def session(self) -> requests.Session:
        return self._session if self._session is not None else thread_session()

    def url(self, path: str) -> str:
        """The absolute URL of an API path ("/v1/..."); paths may contain ':' (Gemini verbs)."""
        return f"{self.base_url}/{path.lstrip('/')}"

    def same_origin(self, url: str) -> bool:
        """True when ``url`` is on the configured base URL's scheme, host and port."""
        parts = urlsplit(url)
        if not parts.hostname:
            return False
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return (parts.scheme, parts.hostname, port) == self._origin

    def retrying(self, fn: Callable[[], T], what: str) -> T:
        return call_with_retries(fn, max_retries=self.max_retries, sleep=self.sleep, rng=self.rng, what=what)

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: bytes | IO[bytes] | None = None,
        auth: bool = True,
        create: bool = False,
    ) -> requests.Response:
        """One attempt. Returns a 2xx response with its body unread; raises a mapped error.

        With ``create=True`` an outcome that leaves the server's decision unknown (timeout,
        dropped connection, 5xx) raises AmbiguousCreate.
        """
        what = f"{method} {urlsplit(url).path}"
        hdrs: dict[str, str] = dict(self._auth) if auth else {}
        hdrs.update(headers or {})
        if json_body is not None:
            data = json.dumps(json_body, separators=(",", ":")).encode()
            hdrs.setdefault("content-type", "application/json")
        if data is not None and hasattr(data, "seek"):
            data.seek(0)  # a retried attempt re-sends the whole file
        try:
            resp = self.session.request(
                method,
                url,
                headers=hdrs,
                params=params,
                data=data,
                timeout=self.timeout,
                stream=True,
                allow_redirects=False,  # a redirect would carry our key header to another host
            )
        except requests.exceptions.InvalidHeader:
            raise self._bad_header(what) from None
        except UnicodeError:
            # http.client encodes header values as latin-1: a key with other characters
            # (a pasted curly quote) fails before anything is sent.
            raise self._bad_header(what) from None
        except requests.RequestException as exc:
            raise self._network_error(exc, what, create) from None
        if 200 <= resp.status_code < 300:
            return resp
        try:
            raw = read_body(
                resp, deadline=min(self.body_deadline, 30.0), limit=_ERROR_BODY_LIMIT, provider=self.provider
            )
        except TransientError:
            raw = b""
        err = error_from_response(
            self.provider, resp.status_code, resp.headers, raw, reason=resp.reason or "", secrets=self._secrets
        )
        if create and isinstance(err, TransientError) and resp.status_code not in REJECTED_STATUSES:
            raise err.as_(AmbiguousCreate, f"{what} answered {resp.status_code}: the batch may exist ({err.message})")
        raise err

    def _bad_header(self, what: str) -> ConfigError:
        """A header (the API key) HTTP cannot carry: a set-up error, never retried, and the
        request never left. The text names no header value: it would be the key."""
        return ConfigError(
            f"{self.provider} {what}: a request header is not valid HTTP (a space, line break or "
            f"non-Latin-1 character in the {self.provider} API key?); nothing was sent"
        )

    def _network_error(self, exc: requests.RequestException, what: str, create: bool) -> Exception:
        name = type(exc).__name__
        bad_url = requests.exceptions.InvalidURL | requests.exceptions.MissingSchema | requests.exceptions.InvalidSchema
        if isinstance(exc, bad_url):
            return PermanentError(f"{what}: invalid URL ({name})", provider=self.provider)
        if _connect_failed(exc):
            return TransientError(f"{what}: could not connect ({name})", provider=self.provider)
        kind = "timed out" if isinstance(exc, requests.Timeout) else "connection failed"
        if create:
            return AmbiguousCreate(f"{what}: {kind} ({name}); the batch may exist", provider=self.provider)
        return TransientError(f"{what}: {kind} ({name})", provider=self.provider)

    def call_json(self, method: str, url: str, *, create: bool = False, retry: bool = True, **kw: Any) -> Any:
        """Send, read the JSON body within the body deadline, retry transient failures."""
        what = f"{self.provider} {method} {urlsplit(url).path}"

        def attempt() -> Any:
            resp = self.send(method, url, create=create, **kw)
            try:
                raw = read_body(resp, deadline=self.body_deadline, provider=self.provider, what=what)
            except TransientError as exc:
                if create:
                    raise AmbiguousCreate(f"{exc.message}; the batch may exist", provider=self.provider) from None
                raise
            try:
                return json.loads(raw) if raw.strip() else {}
            except ValueError:
                cls = AmbiguousCreate if create else TransientError
                raise cls(f"{what}: response is not JSON", provider=self.provider, status=resp.status_code) from None

        return self.retrying(attempt, what) if retry else attempt()

    def open_stream(
        self, url: str, *, headers: Mapping[str, str] | None = None, params: Mapping[str, Any] | None = None
    ) -> requests.Response:
        """GET a streamed body (results); connecting and the status are retried."""
        what = f"{self.provider} GET {urlsplit(url).path}"
        return self.retrying(lambda: self.send("GET", url, headers=headers, params=params), what)

    def stream_lines(self, resp: requests.Response) -> Iterator[bytes]:
        """A response's lines within the stream deadline (then TransientError)."""
        what = f"{self.provider} results stream"
        chunks = iter_body(resp, deadline=self.stream_deadline, provider=self.provider, what=what)
        return iter_lines(chunks, provider=self.provider)
