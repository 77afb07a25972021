"""The page file readers' pure rules: a url's normal form, content cut at a word."""

from __future__ import annotations

import pytest

from seobatch.page_files import cut_at_word, normal_url


def test_cut_at_word_keeps_whole_characters_and_words():
    assert cut_at_word("alpha beta gamma", 12) == "alpha beta"
    assert cut_at_word("日本語のテキスト", 7) == "日本"  # 3 bytes a character, never half of one
    assert cut_at_word("x" * 5000, 100) == "x" * 100  # one very long "word" is cut inside


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("HTTPS://E.Example.COM/Path", "https://e.example.com/Path"),
        ("https://e.example.com", "https://e.example.com/"),
        ("https://e.example.com:443/x", "https://e.example.com/x"),
        ("http://e.example.com:80/x", "http://e.example.com/x"),
        ("https://e.example.com:8443/x", "https://e.example.com:8443/x"),
        ("http://e.example.com:443/x", "http://e.example.com:443/x"),
        ("https://e.example.com/x#section-2", "https://e.example.com/x"),
        ("https://e.example.com/x?utm_source=a&UTM_Medium=b&id=5&gclid=1&fbclid=2", "https://e.example.com/x?id=5"),
        ("https://e.example.com/x?b=2&a=1&srsltid=xyz", "https://e.example.com/x?b=2&a=1"),
        ("https://e.example.com/x/", "https://e.example.com/x/"),
        ("https://user@E.example.com/x", "https://user@e.example.com/x"),
        ("https://[2001:DB8::1]:443/x", "https://[2001:db8::1]/x"),
    ],
)
def test_normal_url(url, normal):
    assert normal_url(url) == normal
    assert normal_url(normal) == normal
