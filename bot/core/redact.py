"""Secret redaction: the one place that decides what a log line, a stored error or a comment
may not show. Pure: `redact(text, secrets)` returns the text with every secret replaced by `***`.

What is redacted, wherever it appears (plain text, a Python repr, JSON with escaped quotes):

- the values of URL query parameters that carry authority: `token`, `access_token`,
  `X-Amz-Signature`, `X-Amz-Credential`, `X-Amz-Security-Token`, `signature`, `sig`, `code`,
  `client_secret` (GitHub's archive links end in `?token=...`, presigned S3 URLs carry
  `X-Amz-*`, OAuth redirects carry `code`);
- the value of an `Authorization:` header (a dict repr too), and what follows `Bearer ` or
  `token ` when it looks like a credential;
- GitHub tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`), JSON Web Tokens
  (the App's JWT), AWS access key ids (`AKIA`/`ASIA` + 16) and, next to their names, AWS secret
  access keys and session tokens;
- PEM private key blocks (the App's private key), even cut short;
- any value given in `secrets` (the webhook secrets, the private key, installation tokens),
  and each line of a multi-line one.

`scrub(text)` is `redact` with the process's registered secrets (`register`); `bot.core.logs` uses it
for every log line, the worker for every stored handler error.
"""

from __future__ import annotations

import re
import threading
from typing import Iterable

MASK = "***"
MIN_SECRET_CHARS = 4

_QUERY_NAMES = ("token", "access_token", "x-amz-signature", "x-amz-credential", "x-amz-security-token",
                "signature", "sig", "code", "client_secret")
# `?name=value` or `&name=value` (also `&amp;` and JSON's `\u0026`); the value ends at the next
# separator, quote, backslash, whitespace or fragment.
_QUERY = re.compile(r"((?:[?&;]|&amp;|\\u0026)(?:" + "|".join(re.escape(n) for n in _QUERY_NAMES)
                    + r")=)[^&;#\s'\"\\<>]+", re.IGNORECASE)
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
                  re.DOTALL)
# `Authorization: value`, `'Authorization': 'value'`, `"authorization":"value"`, `authorization=value`.
_AUTH_HEADER = re.compile(r"((?:proxy-)?authorization\\?['\"]?\s*[:=]\s*\\?['\"]?)"
                          r"(?:(?:bearer|token|basic|bot)\s+)?[^\s'\"\\,}]+", re.IGNORECASE)
_BEARER = re.compile(r"\b(bearer\s+)[A-Za-z0-9\-._~+/]{8,}=*", re.IGNORECASE)
_TOKEN_WORD = re.compile(r"\b(token\s+)(?=[A-Za-z0-9_\-.]*\d)[A-Za-z0-9_\-.]{20,}", re.IGNORECASE)
_GITHUB = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")
_AWS_SECRET = re.compile(
    r"((?:aws_secret_access_key|secret_access_key|secretaccesskey|aws_session_token|session_token|sessiontoken"
    r"|x-amz-security-token)\\?['\"]?\s*[:=]\s*\\?['\"]?)[A-Za-z0-9/+=]{16,}", re.IGNORECASE)

_PATTERNS: tuple[tuple[re.Pattern, str], ...] = (
    (_PEM, MASK),
    (_QUERY, r"\1" + MASK),
    (_AUTH_HEADER, r"\1" + MASK),
    (_BEARER, r"\1" + MASK),
    (_GITHUB, MASK),
    (_JWT, MASK),
    (_AWS_SECRET, r"\1" + MASK),
    (_AWS_KEY_ID, MASK),
    (_TOKEN_WORD, r"\1" + MASK),
)

# What each pattern cannot match without: lower-case substrings, every one of which is implied by
# a match (of the pattern's case-insensitive form, on ASCII text). A line holding none of a
# pattern's triggers is not searched by it: most log lines hold none at all, and a substring test
# costs a fraction of a regex scan. Non-ASCII text is searched by every pattern, since under
# IGNORECASE some non-ASCII letters match ASCII ones ('\u017f' matches `s`, '\u212a' `k`).
_TRIGGERS: tuple[tuple[str, ...], ...] = (
    ("-----begin ",),                                                              # _PEM
    ("token=", "signature=", "sig=", "code=", "client_secret=", "x-amz-credential="),  # _QUERY
    ("authorization",),                                                            # _AUTH_HEADER
    ("bearer",),                                                                   # _BEARER
    ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),                       # _GITHUB
    ("eyj",),                                                                      # _JWT
    ("secret_access_key", "secretaccesskey", "session_token", "sessiontoken",
     "x-amz-security-token"),                                                      # _AWS_SECRET
    ("akia", "asia"),                                                              # _AWS_KEY_ID
    ("token",),                                                                    # _TOKEN_WORD
)
assert len(_TRIGGERS) == len(_PATTERNS)
# Any trigger at all: one scan rules out every pattern on most lines.
_ANY_TRIGGER = re.compile("|".join(re.escape(t) for t in sorted({t for ts in _TRIGGERS for t in ts},
                                                                 key=len, reverse=True)))


def secret_parts(value: str) -> list[str]:
    """What of `value` must never be shown: the value, and each line of a multi-line one (a PEM
    key printed with escaped newlines is still found line by line)."""
    if not value or len(value) < MIN_SECRET_CHARS:
        return []
    parts = [value]
    if "\n" in value:
        parts += [line.strip() for line in value.splitlines() if len(line.strip()) >= 16
                  and not line.strip().startswith("-----")]
    return parts


def _parts(secrets: tuple[str, ...]) -> tuple[str, ...]:
    """The texts to replace for `secrets`, longest first (so a secret that contains another is
    replaced whole)."""
    return tuple(sorted({p for s in secrets for p in secret_parts(s)}, key=len, reverse=True))


def _patterns_for(text: str) -> Iterable[tuple[re.Pattern, str]]:
    """The patterns that could match `text`: those whose triggers it holds (every one, for non-ASCII text).

    Replacing a match with `***` never makes a trigger appear (every new substring holds `*`),
    so what is decided on the original text holds for each later stage of `redact`."""
    if not text.isascii():
        return _PATTERNS
    low = text.lower()
    if _ANY_TRIGGER.search(low) is None:
        return ()
    return [pattern for pattern, triggers in zip(_PATTERNS, _TRIGGERS) if any(t in low for t in triggers)]


def _redact(text: str, parts: tuple[str, ...]) -> str:
    if not text:
        return text
    for value in parts:
        if value in text:
            text = text.replace(value, MASK)
    for pattern, replacement in _patterns_for(text):
        text = pattern.sub(replacement, text)
    return text


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every secret replaced by `***` (see the module docstring for what counts)."""
    return _redact(text, _parts(tuple(secrets)) if text else ())


_lock = threading.Lock()
_registered: list[str] = []
_registered_parts: tuple[str, ...] = ()  # _parts(_registered), recomputed on each registration


def register(values: Iterable[str]) -> None:
    """Remember secret values of this process (configured secrets, minted tokens)."""
    global _registered_parts
    with _lock:
        for v in values:
            if v and len(v) >= MIN_SECRET_CHARS and v not in _registered:
                _registered.append(v)
        _registered_parts = _parts(tuple(_registered))


def registered() -> tuple[str, ...]:
    with _lock:
        return tuple(_registered)


def scrub(text: str) -> str:
    """`redact` with the secrets registered in this process."""
    return _redact(text, _registered_parts)
