"""What the pipeline needs from a provider's batch API, in provider-neutral terms.

Each provider module (``anthropic.py``, ``gemini.py``) implements ``BatchProvider`` over
``requests`` (on ``BatchClient``, what the clients share) and translates the wire format
into these types at its boundary.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, TypedDict

from ..errors import ConfigError, ProviderError
from ..http import Transport
from ..jobmeta import ItemStatus

if TYPE_CHECKING:
    from typing import Unpack

    import requests

#: Normalised batch state: still working, or ended (however it ended).
BatchState = Literal["in_progress", "ended"]
#: Normalised per-item outcome: an item status other than ``pending``.
Outcome = ItemStatus


class Ending(StrEnum):
    """How an ended batch ended (``BatchInfo.ending``), whatever the provider calls it."""

    SUCCEEDED = "succeeded"  #: ran to the end: every item has a result line
    CANCELED = "canceled"  #: canceled: what finished before has results
    EXPIRED = "expired"  #: hit the provider's time limit: likewise
    FAILED = "failed"  #: the provider failed the batch as a whole


@dataclass(frozen=True)
class Prompt:
    """What to ask the model for one page: instructions and the page as data."""

    system: str
    user: str


class RawJSON(str):
    """A request body that is already JSON text (as the database stored it).

    Clients copy it into the batch as is: decoding 250 MB of stored requests only to
    encode them again was a third of submit's time.
    """

    __slots__ = ()


@dataclass(frozen=True)
class BatchRequest:
    """One line of a batch: our custom_id and the provider-specific request body."""

    custom_id: str
    #: A dict, or ``RawJSON`` text of one JSON object.
    body: dict[str, Any] | RawJSON

    def body_json(self) -> str:
        """The body as compact JSON text (stored text passes through untouched)."""
        if isinstance(self.body, str):
            return self.body
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False)

    def body_dict(self) -> dict[str, Any]:
        """The body as a dict (stored text is decoded)."""
        return json.loads(self.body) if isinstance(self.body, str) else self.body


@dataclass(frozen=True)
class BatchInfo:
    """A provider batch as the pipeline sees it."""

    id: str
    state: BatchState
    #: The provider's own state string (``in_progress``, ``BATCH_STATE_RUNNING``, …).
    provider_state: str
    #: How the batch ended; None while in progress.
    ending: Ending | None = None
    request_count: int | None = None
    #: Counts the provider reports, under Anthropic's ``request_counts`` names (the
    #: outcomes, plus ``processing`` for requests still in flight).
    counts: dict[str, int] = field(default_factory=dict)
    created_at: datetime | None = None
    display_name: str | None = None
    #: Provider detail needed to read results (Anthropic results_url, Gemini responses file).
    results_ref: str | None = None
    error: str | None = None
    #: Files the batch keeps at the provider (Gemini's input and responses files), for
    #: ``delete_files`` once the results are saved.
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class ItemResult:
    """One item's outcome, normalised. ``text`` is the model's raw reply on success."""

    custom_id: str
    outcome: Outcome
    text: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    error: str | None = None


#: Largest count we keep (token columns are 32-bit integers in the database).
MAX_COUNT = 2**31 - 1


def to_count(value: object) -> int:
    """A provider's count (int, float or int64-as-string) as a non-negative int that fits
    a 32-bit column; anything unreadable (text, NaN, infinity) counts as 0."""
    try:
        number = int(value or 0)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return 0
    return min(max(0, number), MAX_COUNT)


def parse_timestamp(value: object) -> datetime | None:
    """An RFC 3339 provider timestamp as a naive UTC datetime (like ``db.utcnow()``)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def as_naive_utc(value: datetime) -> datetime:
    """Compare-ready: aware datetimes are converted, naive ones are taken as UTC."""
    if value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def obj_at(value: Any, key: str) -> dict[str, Any]:
    """``value[key]`` when ``value`` is a JSON object and that member is one too, else ``{}``.

    Provider JSON is read defensively: a member that is missing, null or of another type
    reads as an empty object instead of raising deep inside a parser.
    """
    member = value.get(key) if isinstance(value, dict) else None
    return member if isinstance(member, dict) else {}


def outcome_for_missing(batch: BatchInfo) -> Outcome:
    """The outcome of an item that has no result line once ``batch`` has ended.

    A provider cannot name items it never returned (a Gemini batch that expired or failed
    returns nothing), so the pipeline settles them from how the batch ended.
    """
    if batch.ending == Ending.EXPIRED:
        return ItemStatus.EXPIRED
    if batch.ending == Ending.CANCELED:
        return ItemStatus.CANCELED
    return ItemStatus.ERRORED


class BatchProvider(Protocol):
    """The small interface the pipeline uses; one implementation per provider API."""

    @property
    def name(self) -> str:
        """The provider: "anthropic", "gemini" (a class attribute will do)."""
        ...

    @property
    def matches_by_name(self) -> bool:
        """True when batches carry our ``display_name`` and ``find_batches`` matches on it."""
        ...

    def build_request(self, custom_id: str, prompt: Prompt, *, model: str, max_tokens: int) -> BatchRequest:
        """Build one request asking for the JSON object ``{"title", "meta_description"}``."""
        ...

    def create_batch(
        self, requests: Iterable[BatchRequest], *, model: str, display_name: str
    ) -> BatchInfo:
        """Send one batch (streamed; file mode where the provider needs it).

        Raises AmbiguousCreate when the outcome is unknown (timeout, dropped connection):
        the caller must reconcile with ``find_batches`` instead of sending again.
        """
        ...

    def get_batch(self, batch_id: str) -> BatchInfo: ...

    def find_batches(
        self, *, display_name: str, created_after: datetime, request_count: int
    ) -> list[BatchInfo]:
        """Every batch we may have created (reconciliation after an ambiguous create), newest first.

        Providers with ``matches_by_name`` match on ``display_name``; the others (Anthropic)
        can only match on ``request_count``, so another job's batch may be among them.
        """
        ...

    def cancel_batch(self, batch_id: str) -> BatchInfo:
        """Cancel; a batch that has already ended is returned as it is (cancel is idempotent)."""
        ...

    def iter_results(self, batch: BatchInfo) -> Iterator[ItemResult]:
        """Stream the results of an ended batch line by line, in whatever order they come.

        Items without a line (expired/failed Gemini batches return none) are the caller's
        to settle with ``outcome_for_missing(batch)``.
        """
        ...

    def delete_files(self, batch: BatchInfo) -> None:
        """Delete what the batch left stored at the provider (input and result files) once
        its results are saved; a file already gone is not an error."""
        ...


class TransportOptions(TypedDict, total=False):
    """How a client's calls behave (``http.Transport``'s defaults when left out)."""

    timeout: tuple[float, float]
    max_retries: int
    sleep: Callable[[float], None]
    body_deadline: float
    stream_deadline: float
    rng: Callable[[], float]


class BatchClient(ABC):
    """What the provider clients share: the key check, the transport and the cancel rule.

    A subclass names its provider (``name``, ``key_variable``), passes its auth headers
    and implements the rest of ``BatchProvider``; ``_request_cancel`` is its half of
    ``cancel_batch``.
    """

    name: ClassVar[str]
    #: True when batches carry our ``display_name`` and ``find_batches`` matches on it.
    matches_by_name: bool  # a class default; a compatible endpoint may say otherwise per client
    #: The environment variable the key comes from (a missing key names it).
    key_variable: str

    def __init__(
        self,
        api_key: str,
        base_url: str,
        session: requests.Session | None,
        *,
        headers: Mapping[str, str],
        **options: Unpack[TransportOptions],
    ) -> None:
        if not api_key:
            raise ConfigError(f"{self.key_variable} is not set: the {self.name} batch API needs a key")
        self._t = Transport(
            provider=self.name, base_url=base_url, headers=headers, secrets=(api_key,), session=session, **options
        )

    def __repr__(self) -> str:  # never the key
        return f"<{type(self).__name__} {self._t.base_url}>"

    @abstractmethod
    def get_batch(self, batch_id: str) -> BatchInfo: ...

    @abstractmethod
    def _request_cancel(self, batch_id: str) -> BatchInfo:
        """Ask the provider to cancel; the batch as it is afterwards."""

    def cancel_batch(self, batch_id: str) -> BatchInfo:
        """Cancel; a batch that has already ended is returned as it is (cancel is idempotent).

        Both APIs refuse to cancel an ended batch (400 or 409), which is the outcome asked
        for; a refusal for a batch still running is raised.
        """
        try:
            return self._request_cancel(batch_id)
        except ProviderError as exc:  # 409 is a "transient" status: it arrives after the retries
            if exc.status not in (400, 409):
                raise
            info = self.get_batch(batch_id)
            if info.state != "ended":
                raise
            return info
