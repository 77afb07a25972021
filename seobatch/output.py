"""What the model returns: parse, sanitise and validate one reply (DESIGN.md).

A reply is one JSON object ``{"title": "...", "meta_description": "..."}``; extra keys are
ignored and a ```json fence or a sentence around the object is tolerated when exactly one
object can be found. Values are sanitised (tags, entities, invisible and control
characters, whitespace) and then must fit the length limits and look like SEO text:
no script/data URIs, no URL, domain or e-mail that the page itself does not mention, no
refusal or injected boilerplate ("As an AI…", "ignore previous instructions").

Anything else raises ``InvalidOutput`` whose ``reason`` starts with ``invalid_output`` and
quotes at most a few dozen characters of the reply (reasons are stored and logged).
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from .config import Settings
from .errors import ConfigError, InvalidOutput  # InvalidOutput: importable from here too
from .text import INVISIBLE_RE, TAG_OPEN_RE, TAG_RE, json_kind, strip_invisible

#: Replies longer than this are not looked at (a real one is a few hundred characters).
MAX_REPLY_CHARS = 20_000
#: How many ``{`` to try when a reply has prose around its object.
_MAX_OBJECT_STARTS = 64
_QUOTE_CHARS = 40

_FENCE_RE = re.compile(r"^```[ \t]*(?:json|JSON)?[ \t]*\r?\n?(.*?)\r?\n?```$", re.DOTALL)
#: A scheme a browser would run or inline: javascript:alert(1), data:text/html,…
#: ("JavaScript: The Good Parts" is a title, not a URI: a space follows the colon.)
UNSAFE_URI_RE = re.compile(
    r"(?:java|vb|live|j)script:(?!\s)|\bdata:\s*[a-z-]+/[a-z0-9.+-]+|\bfile:/", re.IGNORECASE
)
_URL_RE = re.compile(r"\b(?:https?|ftp)://[^\s\"'<>]+|\bwww\.[^\s\"'<>]+", re.IGNORECASE)
_EMAIL_RE = re.compile(r"[\w.+-]+@((?:[a-z0-9-]+\.)+[a-z]{2,24})\b", re.IGNORECASE)
#: Bare domains ("evil.com", "bit.ly/x") with a TLD common in spam; "Node.js" is not one.
_DOMAIN_RE = re.compile(
    r"(?<![\w@.-])((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
    r"(?:com|net|org|info|biz|io|co|ai|app|dev|xyz|ly|me|ru|cn|tk|ml|ga|cf|gq|top|site|"
    r"online|shop|store|club|link|click|gl|to|us|uk|de|fr|es|it|nl|eu|ca|au|in|jp|br|pl|"
    r"ch|se|vip|win|bid|cc|tv|ws|su|live|pro|icu|buzz|fun|space|website|page|sh|gg|so))"
    r"(?![\w-])",
    re.IGNORECASE,
)
#: Refusals and self-talk: allowed only when the page itself says it ("I Can't Stop…").
REFUSAL_RE = re.compile(
    r"\bas an ai\b|\bas a (?:large )?language model\b|\bi(?:'m| am) (?:sorry|unable|an ai)\b|"
    r"\bi (?:cannot|can't|can not|won't)\b|\bi apologi[sz]e\b",
    re.IGNORECASE,
)
#: Echoed injections: never SEO text, whatever the page says.
INJECTION_RE = re.compile(
    r"\b(?:ignore|disregard|forget) (?:all |any )?(?:of )?(?:the |your |my )?(?:previous|prior|above|"
    r"earlier|preceding) (?:instructions|prompts?|rules|directions)\b|\bsystem prompt\b|"
    r"\bprompt injection\b|\bpwned\b|\bjailbr[eo]ak|\bdeveloper mode\b|<\|im_(?:start|end)\|>|"
    r"\[/?inst\]|\bnew instructions\b",
    re.IGNORECASE,
)


#: Where a page gives the model orders; what follows on the line is the injected payload.
#: Each pattern runs (on lower-cased text) only when its keyword is present, and starts
#: with that literal (a word boundary is checked behind it): Python's re then skips ahead
#: fast, where a leading ``\b`` would make it try every position of a long page.
_ORDER_TAIL = (
    r"\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+|my\s+)?(?:previous|prior|above|earlier|"
    r"preceding|system)\s+(?:instructions?|prompts?|rules|directions)"
)
PAGE_ORDERS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (keyword, re.compile(pattern, re.MULTILINE))
    for keyword, pattern in (
        *((verb, f"{verb}(?<!\\w{verb}){_ORDER_TAIL}") for verb in ("ignore", "disregard", "forget", "override")),
        ("<", r"<\s*/?\s*(?:system|instructions?|im_start|im_end|assistant)\s*>"),
        ("[", r"\[/?(?:inst|system)\]"),
        # "System: …" as a fake chat turn at the start of a line ("Operating system: …" is not).
        ("system", r"^[ \t#>*-]*system[ \t]*:"),
        ("assistant", r"^[ \t#>*-]*assistant[ \t]*:"),
        ("new instructions", r"new instructions(?<!\wnew instructions)\s*:"),
        ("you are now", r"you are now(?<!\wyou are now)\b"),
        ("instead", r"instead(?<!\winstead)\s*,?\s+(?:write|say|output|respond|reply)\b"),
        ("set ", r"set (?<!\wset )(?:the |your )?(?:seo )?(?:title|meta description|description) to\b"),
        # A markdown heading that opens a fake instruction block ("# New instructions"
        # then the order on the next line); no colon needed.
        ("#", r"^[ \t>*-]*#{1,6}[ \t]*(?:system|new instructions|instructions)[ \t]*:?[ \t]*$"),
        *((verb, f"{verb}(?<!\\w{verb})(?:the |your )?(?:seo )?(?:title|meta description|description)"
                 r"(?: to| as| is| should be)?\s*[:=]?")
          for verb in ("make ", "change ", "use ", "write ", "put ")),
    )
)
#: Page text looked at for orders and hosts (the prompt carries far less than this).
_PAGE_SCAN_CHARS = 200_000
#: Words of an injected payload that, found in a row in a reply, show the model obeyed.
_ECHO_WORDS = 4


@dataclass(frozen=True)
class OutputLimits:
    """Allowed lengths, in characters after sanitising."""

    title_min: int = 10
    title_max: int = 70
    description_min: int = 50
    description_max: int = 170

    def __post_init__(self) -> None:
        for name, low, high in (
            ("title", self.title_min, self.title_max),
            ("description", self.description_min, self.description_max),
        ):
            if low < 0 or high < 1 or low > high:
                raise ConfigError(f"{name} length limits {low}-{high} are not a valid range")

    @classmethod
    def from_settings(cls, settings: Settings | None) -> OutputLimits:
        if settings is None:
            return cls()
        return cls(
            title_min=settings.title_min,
            title_max=settings.title_max,
            description_min=settings.description_min,
            description_max=settings.description_max,
        )


@dataclass(frozen=True)
class SeoFields:
    """A validated, sanitised reply."""

    title: str
    meta_description: str

    def as_dict(self) -> dict[str, str]:
        return {"title": self.title, "meta_description": self.meta_description}


def _drop_invisible(text: str) -> str:
    text = strip_invisible(text)
    # Anything else Unicode calls a control, format, surrogate, private-use or unassigned
    # character (what ``str.isprintable`` refuses, whitespace aside).
    if not text.isprintable():
        text = "".join(ch for ch in text if ch.isprintable() or ch.isspace())
    return text


def _sanitize_step(text: str) -> str:
    # Every tag pattern starts with "<" and every entity with "&" (html.unescape checks
    # that itself): most replies have neither, and skip those scans.
    text = _drop_invisible(text)
    if "<" in text:
        text = TAG_RE.sub(" ", text)
    text = html.unescape(text)
    text = _drop_invisible(text)
    if "<" in text:
        text = TAG_RE.sub(" ", text)
        text = TAG_OPEN_RE.sub("", text)
    text = unicodedata.normalize("NFC", text)
    return " ".join(text.split())


def _settle(text: str) -> tuple[str, bool]:
    """``sanitize(text)``, and whether that is clean (a fixed point of the steps)."""
    for _ in range(12):  # each round only shortens; nesting deeper than this is rejected
        cleaner = _sanitize_step(text)
        if cleaner == text:
            return text, True
        text = cleaner
    return text, _sanitize_step(text) == text


def sanitize(text: str) -> str:
    """Plain, visible, single-line text: tags removed (also those hidden in entities),
    entities decoded, control/zero-width/bidi/tag-block characters removed, whitespace
    collapsed, trimmed. ``sanitize(sanitize(x)) == sanitize(x)``."""
    return _settle(text)[0]


def is_clean(text: str) -> bool:
    """True when ``text`` is what ``sanitize`` produces: nothing left to remove."""
    return sanitize(text) == text


#: Literals (lower case) at least one of which is in any match of the pattern, on ASCII
#: text. A reply without any of them cannot match, and most replies have none: this
#: skips five regex scans per field (a third of the results stage at 100k pages when
#: profiled with ``scripts/bench.py --pages 100000 --profile results`` on 2026-11-28).
_NEEDS = {
    "unsafe_uri": ("script:", "data:", "file:/"),
    "injection": ("ignore", "disregard", "forget", "system prompt", "prompt injection", "pwned",
                  "jailbr", "developer mode", "<|im_", "inst]", "new instructions"),
    "refusal": ("as a", "i'm ", "i am ", "i can", "i won't", "i apologi"),
}
#: A bare domain needs a dot before its top-level domain's first letter.
_DOT_LETTER_RE = re.compile(r"\.[A-Za-z]")


#: Any literal of any pattern above: one scan tells that none of the three can match.
_ANY_NEED_RE = re.compile("|".join(re.escape(n) for needs in _NEEDS.values() for n in needs))


def _suspect(lower: str | None) -> bool:
    """False only when ASCII text (``lower``: its lower case; None for other text) has no
    literal that any of the three patterns needs."""
    return lower is None or _ANY_NEED_RE.search(lower) is not None


def _search(pattern: re.Pattern[str], needs: tuple[str, ...], text: str, lower: str | None) -> re.Match[str] | None:
    """``pattern.search(text)``, skipped when ASCII ``text`` (``lower`` is its lower case,
    None for other text) lacks every literal a match needs."""
    if lower is not None and not any(n in lower for n in needs):
        return None
    return pattern.search(text)


def _may_mention(text: str, lower: str | None) -> bool:
    """False only when ``_mentions(text)`` is surely empty (no scheme, www., @ or dot-letter)."""
    if lower is None:
        return True
    return "://" in text or "www." in lower or "@" in text or _DOT_LETTER_RE.search(text) is not None


def _quote(text: str, limit: int = _QUOTE_CHARS) -> str:
    text = " ".join(INVISIBLE_RE.sub("", text).split())
    return json.dumps(text if len(text) <= limit else text[:limit] + "…", ensure_ascii=False)


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        if dup in ("title", "meta_description"):
            raise InvalidOutput(f"{dup} appears twice")
    return dict(pairs)


def _loads(text: str) -> Any:
    if "\\u" not in text and text.count('"title"') <= 1 and text.count('"meta_description"') <= 1:
        # Neither key can appear twice (only a \u escape could spell it otherwise), so
        # the C decoder alone gives the same value; the pairs hook costs a Python call
        # per object.
        return json.loads(text)
    return json.loads(text, object_pairs_hook=_reject_duplicates)


def extract_object(text: str) -> dict[str, Any]:
    """The one JSON object in ``text`` (bare, fenced, or with prose around it)."""
    if not isinstance(text, str):
        raise InvalidOutput(f"reply is {type(text).__name__}, not text")
    if len(text) > MAX_REPLY_CHARS:
        raise InvalidOutput(f"reply is {len(text)} characters, over {MAX_REPLY_CHARS}")
    body = text.strip().lstrip("\ufeff")
    if not body:
        raise InvalidOutput("reply is empty")
    fence = _FENCE_RE.match(body)
    if fence:
        body = fence.group(1).strip()
    try:
        value = _loads(body)
    except InvalidOutput:
        raise
    except (ValueError, RecursionError):
        value = _find_single_object(body)
    if not isinstance(value, dict):
        raise InvalidOutput(f"JSON is {json_kind(value)}, not an object")
    return value


def _find_single_object(text: str) -> dict[str, Any]:
    decoder = json.JSONDecoder(object_pairs_hook=_reject_duplicates)
    found: list[dict[str, Any]] = []
    pos, tries = 0, 0
    while tries < _MAX_OBJECT_STARTS:
        start = text.find("{", pos)
        if start < 0:
            break
        tries += 1
        try:
            value, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            pos = start + 1
            continue
        if isinstance(value, dict):
            found.append(value)
        pos = end
    if not found:
        raise InvalidOutput(f"not JSON: {_quote(text)}")
    if len(found) > 1:
        raise InvalidOutput(f"{len(found)} JSON objects in the reply, expected one")
    return found[0]


class _Page:
    """What the reply may echo: hosts and phrases of the page, worked out only if needed."""

    def __init__(self, url: str | None, text: str | None) -> None:
        self.url = url
        # Read the page as the model did (the prompt drops invisible characters): an order
        # split by zero-width characters or joiners is still an order.
        self.text = strip_invisible((text or "")[:_PAGE_SCAN_CHARS])
        self._hosts: set[str] | None = None
        self._lower: str | None = None
        self._orders: list[list[str]] | None = None

    @property
    def hosts(self) -> set[str]:
        if self._hosts is None:
            self._hosts = {h for h in (_host(m) for m in _mentions(self.text)) if h}
            if self.url and _host(self.url):
                self._hosts.add(_host(self.url))
        return self._hosts

    @property
    def lower(self) -> str:
        if self._lower is None:
            self._lower = self.text.lower()
        return self._lower

    def says(self, phrase: str) -> bool:
        return " ".join(phrase.lower().split()) in " ".join(self.lower.split())

    @property
    def orders(self) -> list[list[str]]:
        """The payloads of instructions the page gives, as lists of words."""
        if self._orders is None:
            self._orders = []
            lower = self.lower
            for keyword, pattern in PAGE_ORDERS:
                if keyword not in lower:
                    continue
                for m in list(pattern.finditer(lower))[:20]:
                    line = lower[m.end() : m.end() + 300].split("\n", 1)[0]
                    words = _words(line)[:40]
                    if not words:  # the order is on the next line
                        words = _words(lower[m.end() : m.end() + 400])[:40]
                    if words:
                        self._orders.append(words)
        return self._orders

    def echoed_order(self, text: str) -> str | None:
        """The part of an injected payload that ``text`` repeats, if any."""
        if not self.orders:
            return None
        words = _words(text)
        joined = f" {' '.join(words)} "
        for order in self.orders:
            if len(order) < _ECHO_WORDS:
                phrase = " ".join(order)
                if len(phrase) >= 12 and f" {phrase} " in joined:
                    return phrase
                continue
            for i in range(len(order) - _ECHO_WORDS + 1):
                phrase = " ".join(order[i : i + _ECHO_WORDS])
                if f" {phrase} " in joined:
                    return phrase
        return None

    def allows_host(self, host: str) -> bool:
        # Same host, a subdomain of it, or its parent domain ("example.com" on shop.example.com).
        return any(
            host == h or host.endswith("." + h) or (h.endswith("." + host) and "." in host)
            for h in self.hosts
        )


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", sanitize(text).lower())


def _mentions(text: str) -> list[str]:
    """URLs, e-mail domains and bare domains mentioned in ``text``."""
    found = [m.group(0) for m in _URL_RE.finditer(text)]
    found += [m.group(1) for m in _EMAIL_RE.finditer(text)]
    stripped = _URL_RE.sub(" ", _EMAIL_RE.sub(" ", text))
    found += [m.group(1) for m in _DOMAIN_RE.finditer(stripped)]
    return found


def _host(mention: str) -> str:
    text = mention.lower().rstrip(".,;:!?)]}'\"")
    if "://" not in text:
        text = "http://" + text
    try:
        host = urlparse(text).hostname or ""
    except ValueError:
        host = ""
    return host[4:] if host.startswith("www.") else host


def _check_field(name: str, value: Any, low: int, high: int, page: _Page) -> str:
    if value is None:
        raise InvalidOutput(f"missing {name}")
    if not isinstance(value, str):
        raise InvalidOutput(f"{name} is {json_kind(value)}, not a string")
    if len(value) > 4 * high + 1000:
        raise InvalidOutput(f"{name} is {len(value)} characters, needs {low}-{high}")
    clean, settled = _settle(value)
    if not settled:
        raise InvalidOutput(f"{name} could not be sanitised")
    if not low <= len(clean) <= high:
        raise InvalidOutput(f"{name} is {len(clean)} characters, needs {low}-{high}")
    lower = clean.lower() if clean.isascii() else None
    if _suspect(lower):
        if _search(UNSAFE_URI_RE, _NEEDS["unsafe_uri"], clean, lower):
            raise InvalidOutput(f"{name} contains a script or data URI")
        bad = _search(INJECTION_RE, _NEEDS["injection"], clean, lower)
        if bad:
            raise InvalidOutput(f"{name} echoes an injection ({_quote(bad.group(0))})")
        bad = _search(REFUSAL_RE, _NEEDS["refusal"], clean, lower)
        if bad and not page.says(bad.group(0)):
            raise InvalidOutput(f"{name} reads like a refusal ({_quote(bad.group(0))})")
    echo = page.echoed_order(clean)
    if echo:
        raise InvalidOutput(f"{name} repeats an instruction found in the page ({_quote(echo)})")
    for mention in _mentions(clean) if _may_mention(clean, lower) else ():
        host = _host(mention)
        if not host or not page.allows_host(host):
            raise InvalidOutput(f"{name} mentions {_quote(host or mention)}, which is not on the page")
    return clean


def parse_reply(
    text: str,
    limits: OutputLimits | None = None,
    page_url: str | None = None,
    page_text: str | None = None,
) -> SeoFields:
    """Parse, sanitise and validate one reply.

    ``page_url`` and ``page_text`` (the page's title and content, joined) say which hosts
    and phrases the reply may repeat; without them any URL, domain or e-mail address, and
    any refusal phrase, is refused.

    Raises:
        InvalidOutput: with ``.reason`` starting ``invalid_output``.
    """
    limits = limits or OutputLimits()
    obj = extract_object(text)
    page = _Page(page_url, page_text)
    title = _check_field("title", obj.get("title"), limits.title_min, limits.title_max, page)
    description = _check_field(
        "meta_description", obj.get("meta_description"),
        limits.description_min, limits.description_max, page,
    )
    return SeoFields(title=title, meta_description=description)
