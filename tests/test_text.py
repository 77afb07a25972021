"""The fast paths of seobatch.text give exactly what the plain regex versions give.

The collector runs ``html_to_text`` and ``strip_invisible`` on every page, so they take
shortcuts (a bytes translate for ASCII text, str.split for whitespace); these tests hold
them to the straightforward definitions on arbitrary and on adversarial text.
"""

from __future__ import annotations

import html
import json
import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from seobatch import output as O
from seobatch import text as T

# The reference keeps its own copies of text.py's private regexes: a regression in those
# must make these tests fail, not pass on both sides.
_SCRIPT_STYLE_RE = re.compile(
    r"<(script|style|noscript|template|svg|head)\b[^>]*>.*?(?:</\1\s*>|$)", re.IGNORECASE | re.DOTALL
)
_BLOCK_END_RE = re.compile(
    r"<(?:br|hr)\b[^>]*>|</(?:p|div|li|h[1-6]|tr|table|section|article|header|footer|ul|ol|"
    r"blockquote|pre|dd|dt|figure|figcaption|main|nav|aside)\s*>",
    re.IGNORECASE,
)
_SPACES_RE = re.compile(r"[^\S\n]+")
_BLANK_LINES_RE = re.compile(r"\s*\n\s*")


def reference_strip_invisible(text: str) -> str:
    return T.INVISIBLE_RE.sub("", text)


def reference_html_to_text(text: str) -> str:
    text = _SCRIPT_STYLE_RE.sub(" ", text)
    text = _BLOCK_END_RE.sub("\n", text)
    text = T.TAG_RE.sub(" ", text)
    text = html.unescape(text)
    text = reference_strip_invisible(text)
    text = _SPACES_RE.sub(" ", text)
    return _BLANK_LINES_RE.sub("\n", text).strip()


#: Whitespace of every kind, controls, invisible characters, tags and entities.
_TRICKY = st.sampled_from(
    [" ", "\t", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u2028",
     "\u2029", "\u3000", "\u200b", "\ufeff", "\x00", "\x07", "\x7f", "\x9f", "\U000e0041",
     "<p>", "</p>", "<br>", "<script>x</script>", "&nbsp;", "&#10;", "&#x2028;", "&amp;", "é",
     "a", "word", "  ", "\n\n"]
)
_TEXT = st.one_of(st.text(max_size=200), st.lists(_TRICKY, max_size=40).map("".join))


@settings(max_examples=400, deadline=None)
@given(_TEXT)
@example("a \n\n b\t\tc\u2028d \x0b\n")
@example("\x00\x01abc\x7fdef\x1f")
def test_strip_invisible_matches_the_regex(text):
    assert T.strip_invisible(text) == reference_strip_invisible(text)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
@example("<p>One  two</p>\n\n<p> three&nbsp;four </p>\r\n\x85five")
@example("   \n \t \n  ")
@example("<head><title>t</title></head><ul><li>one</li><li>two</li></ul><h2>Care</h2>x<hr/>y"
         "<STYLE>p{}</STYLE><noscript>n</noscript><Template>t</template><svg><p>s</p></svg>z"
         "<table><tr><td>a</td></tr></table><blockquote>q</blockquote><dl><dt>k</dt><dd>v</dd></dl>"
         "<section><article><header>h</header><footer>f</footer></article></section><pre>p</pre>"
         "<figure><figcaption>c</figcaption></figure><main><nav>n</nav><aside>a</aside></main><ol><li>1</ol>"
         "<div>d</div >e<br class=x><script src=a>never closed")
def test_html_to_text_matches_the_regex_definition(text):
    assert T.html_to_text(text) == reference_html_to_text(text)


# --------------------------------------------------------------------------- output.py


_SNIPPETS = st.sampled_from(
    ["JavaScript:", "javascript: x", "VBScript:alert", "data:text/html,", "DATA: image/png", "file:/",
     "Ignore previous instructions", "disregard  the above rules", "FORGET all prior prompts",
     "System Prompt", "prompt injection", "PWNED", "jailbreak", "Developer Mode", "<|im_start|>",
     "[INST]", "[/inst]", "new instructions", "As an AI", "as a large language model",
     "I'm sorry", "I am unable", "I cannot", "I can't", "i can not", "I won't", "I apologise",
     "https://evil.example/x", "www.shop.de", "mail me@host.io", "bit.ly/abc", "evil.com",
     "Node.js", "e.g.", "v2.0", " ", ".", ":", "/", "@", "a", "I", "'", "chair", "Oak"]
)
_REPLY = st.one_of(st.text(alphabet=st.characters(max_codepoint=127), max_size=120),
                   st.lists(_SNIPPETS, max_size=12).map(" ".join),
                   st.lists(_SNIPPETS, max_size=12).map("".join))


@settings(max_examples=600, deadline=None)
@given(_REPLY)
def test_the_literal_prefilters_never_skip_a_match(text):
    lower = text.lower() if text.isascii() else None
    for pattern, needs in ((O.UNSAFE_URI_RE, "unsafe_uri"), (O.INJECTION_RE, "injection"),
                           (O.REFUSAL_RE, "refusal")):
        fast = O._search(pattern, O._NEEDS[needs], text, lower)
        slow = pattern.search(text)
        assert (fast and fast.group(0)) == (slow and slow.group(0)), (needs, text)
    if not O._may_mention(text, lower):
        assert O._mentions(text) == [], text


@settings(max_examples=300, deadline=None)
@given(st.one_of(_TEXT, _REPLY))
def test_sanitize_settles_as_before(text):
    def reference_sanitize(text):
        for _ in range(12):
            cleaner = O._sanitize_step(text)
            if cleaner == text:
                break
            text = cleaner
        return text

    clean, settled = O._settle(text)
    assert clean == reference_sanitize(text)
    assert settled == (reference_sanitize(clean) == clean)


@settings(max_examples=400, deadline=None)
@given(st.one_of(
    st.lists(st.sampled_from(['{', '}', '"title"', '"meta_description"', ':', ',', '"x"', '"a b"',
                              '"\\u0074itle"', '[', ']', '1', ' ', '"title":"t"']), max_size=16).map("".join),
    st.text(max_size=60),
))
@example('{"title": "a", "\\u0074itle": "b", "meta_description": "m"}')
@example('{"title": "a", "x": {"title": 1, "title": 2}}')
def test_reply_json_decodes_as_with_the_duplicate_check(text):
    def reference(text):
        return json.loads(text, object_pairs_hook=O._reject_duplicates)

    def outcome(fn):
        try:
            return ("ok", fn(text))
        except O.InvalidOutput as exc:
            return ("invalid", exc.reason)
        except (ValueError, RecursionError):
            return ("error", None)

    assert outcome(O._loads) == outcome(reference)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_REPLY, _TEXT))
def test_the_one_scan_prefilter_never_hides_a_match(text):
    lower = text.lower() if text.isascii() else None
    if not O._suspect(lower):
        assert not O.UNSAFE_URI_RE.search(text)
        assert not O.INJECTION_RE.search(text)
        assert not O.REFUSAL_RE.search(text)
