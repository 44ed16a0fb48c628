"""Secret detection and masking, shared by everything that lets text leave a run.

A value is secret when the spec names it (``RunSpec.secrets``), when an environment
variable of the spec is named in ``RunSpec.secret_env``, when that variable's *name* looks
secret, or when it is the password of a URL (``postgres://user:PASSWORD@host/db``).

The name rule (see docs/secrets.md) matches whole name components, never substrings: a
name is split on ``_``, ``-``, ``.`` and lower-to-upper case changes, and it is secret when
one component is a secret word (``PASSWORD``, ``TOKEN``, ``SECRET``, ...) or its last
component is ``KEY`` (``API_KEY``, ``PRIVATE_KEY``; not ``AWS_ACCESS_KEY_ID``, an identifier).
So ``GIT_AUTHOR_NAME`` is not secret (``AUTHOR`` is not ``AUTH``) and ``GITHUB_TOKEN`` is.
The words come from the denylist of Sentry's Python SDK (``sentry_sdk.scrubber``), which
compares whole keys; ``RUNWRIGHT_SECRET_WORDS`` (comma-separated) replaces them.

Masking is linear in the output: one Aho-Corasick automaton over all secrets (the Rust
``aho-corasick`` crate through ``ahocorasick_rs``) finds every occurrence in one pass, and
the check for a secret split across two chunks walks at most one secret's length per chunk.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from urllib.parse import urlsplit

import ahocorasick_rs

log = logging.getLogger("runwright.secrets")

MASK = "***"
_MASK_BYTES = MASK.encode()
#: Whole name components that make a variable secret (Sentry's denylist, split in words).
DEFAULT_SECRET_WORDS = (
    "PASSWORD", "PASSWD", "PASS", "PWD", "SECRET", "SECRETS", "TOKEN", "TOKENS", "APIKEY", "CREDENTIAL",
    "CREDENTIALS", "AUTH", "AUTHORIZATION", "PRIVATEKEY", "COOKIE", "SESSIONID", "CSRFTOKEN", "DSN",
    "PASSPHRASE", "SIGNATURE",
)
#: Words that count only in a longer name: the shell's ``PWD`` is the working directory,
#: ``MYSQL_PWD`` a password.
NOT_ALONE = frozenset({"PWD"})
#: A name whose last component is one of these is secret too (``API_KEY``, ``SSH_KEY``).
LAST_COMPONENT_WORDS = ("KEY",)
#: Values of variables found by their name only are masked from this length on: masking a
#: ``DEBUG_KEY=1`` would replace every "1" of the output. Such a value is not masked and a
#: warning names the variable (never the value). Values named secret explicitly
#: (``secrets``, ``secret_env``, ``--secret``) are always masked, whatever their length.
MIN_DETECTED_LENGTH = 4

_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
_warned_short: set[str] = set()


def secret_words() -> frozenset[str]:
    configured = os.environ.get("RUNWRIGHT_SECRET_WORDS") or os.environ.get("RUNWRIGHT_SECRET_PATTERNS")
    if configured:
        return frozenset(p.strip().upper() for p in configured.split(",") if p.strip())
    return frozenset(DEFAULT_SECRET_WORDS)


def name_components(name: str) -> list[str]:
    """``"githubToken"`` -> ``["GITHUB", "TOKEN"]``; ``"DB_PASS"`` -> ``["DB", "PASS"]``."""
    return [part.upper() for part in _SPLIT.split(name) if part]


def looks_secret(name: str, words: Iterable[str] | None = None) -> bool:
    """Whether a variable or key named ``name`` holds a secret (whole components only)."""
    return _looks_secret(name, frozenset(words) if words is not None else secret_words())


@lru_cache(maxsize=4096)
def _looks_secret(name: str, words: frozenset[str]) -> bool:
    parts = name_components(name)
    if not parts:
        return False
    if len(parts) == 1 and parts[0] in NOT_ALONE:
        return False
    return any(p in words for p in parts) or parts[-1] in LAST_COMPONENT_WORDS


def url_password(value: str) -> str | None:
    """The password of a URL value (``scheme://user:password@host``), if it has one."""
    if "://" not in value or "@" not in value:
        return None
    try:
        return urlsplit(value).password or None
    except ValueError:
        return None


def secret_values(
    explicit: Iterable[str], env: Mapping[str, str], secret_env: Iterable[str] = (), *, warn: bool = True
) -> list[str]:
    """Every value that must be masked, longest first so that overlapping values mask whole.
    ``warn``: log the secret-named variables too short to mask (a spec's own ``env``)."""
    named = set(secret_env)
    values = {v for v in explicit if v}
    for name, value in env.items():
        if not value:
            continue
        if name in named:
            values.add(value)
        elif looks_secret(name):
            if len(value) >= MIN_DETECTED_LENGTH:
                values.add(value)
            elif warn and name not in _warned_short:
                _warned_short.add(name)
                log.warning(
                    "%s looks secret by its name but its value is shorter than %d characters: it is not "
                    "masked (name it in secret_env or --secret to mask it anyway)", name, MIN_DETECTED_LENGTH)
        password = url_password(value)
        if password and len(password) >= MIN_DETECTED_LENGTH:
            values.add(password)
    return sorted(values, key=len, reverse=True)


class Redactor:
    """Masks known secret values in text and bytes, in one pass whatever their number."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values = sorted({form for v in values if v for form in _forms(v)}, key=len, reverse=True)
        self._bytes = sorted({v.encode("utf-8", "surrogateescape") for v in self.values}, key=len, reverse=True)
        self._ac = (
            ahocorasick_rs.BytesAhoCorasick(self._bytes, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)
            if self._bytes else None
        )
        self.longest = max((len(b) for b in self._bytes), default=0)
        self._prefixes: _PrefixFinder | None = None

    def __bool__(self) -> bool:
        return bool(self.values)

    def text(self, value: str) -> str:
        if self._ac is None or not value:
            return value
        raw = value.encode("utf-8", "surrogatepass")
        masked = self.data(raw)
        return value if masked is raw else masked.decode("utf-8", "surrogatepass")

    def data(self, value: bytes) -> bytes:
        """``value`` with every secret replaced by ``***``; ``value`` itself when none is in it."""
        if self._ac is None:
            return value
        matches = self._ac.find_matches_as_indexes(value)
        if not matches:
            return value
        out, pos = [], 0
        for _, start, end in matches:
            out.append(value[pos:start])
            out.append(_MASK_BYTES)
            pos = end
        out.append(value[pos:])
        return b"".join(out)

    def mask_until(self, value: bytes, cut: int) -> tuple[bytes, int]:
        """Mask the secrets that start before ``cut``; returns the masked text and where it
        stopped (``cut``, or the end of a secret that runs past it)."""
        matches = self._ac.find_matches_as_indexes(value) if self._ac is not None else []
        if not matches or matches[0][1] >= cut:
            return (value if cut == len(value) else value[:cut]), cut
        out, pos = [], 0
        for _, start, end in matches:
            if start >= cut:
                break
            out.append(value[pos:start])
            out.append(_MASK_BYTES)
            pos = end
        if pos < cut:
            out.append(value[pos:cut])
            pos = cut
        return b"".join(out), pos

    def deep(self, value: object) -> object:
        """Mask every string inside nested dicts (keys too: a secret used as a label key),
        lists and tuples (for specs, labels and metadata)."""
        if self._ac is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.deep(k): self.deep(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.deep(v) for v in value)
        return value

    def stream(self) -> StreamRedactor:
        return StreamRedactor(self)

    def partial_suffix(self, data: bytes) -> int:
        """Length of the longest end of ``data`` that is a proper prefix of some secret."""
        if self.longest < 2 or not data:
            return 0
        if self._prefixes is None:
            self._prefixes = _PrefixFinder(self._bytes)
        return self._prefixes.suffix_depth(data[-(self.longest - 1):])


class StreamRedactor:
    """Masks secrets in a byte stream that arrives in chunks, also across chunk boundaries.

    It holds back only the end of a chunk that could be the start of a secret, so output
    that contains no secret prefix passes through with no delay. The result is the same
    as masking the whole stream at once, however it is cut.
    """

    def __init__(self, redactor: Redactor) -> None:
        self._r = redactor
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        if not self._r:
            return chunk
        data = self._held + chunk if self._held else chunk
        # Hold back the raw end that could begin a secret (a whole shorter secret too, when a
        # longer one may follow), mask everything before it in the same pass.
        cut = len(data) - self._r.partial_suffix(data)
        out, pos = self._r.mask_until(data, cut)
        self._held = data[pos:]
        return out

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return self._r.data(held)


#: Prefix length the split check looks for with the automaton; shorter ends are looked up.
PROBE = 8
#: More candidate starts than this in one window (output built to look like a secret's
#: beginning, over and over) and the check walks the window once instead.
MAX_CANDIDATES = 32


class _PrefixFinder:
    """Finds how much of a chunk's end could begin a secret, in time linear in the window
    (the last ``longest - 1`` bytes). Ends shorter than PROBE bytes are looked up in a set of
    the secrets' short prefixes; a longer one starts with some secret's first PROBE bytes,
    found by an automaton over those (one pass when nothing is there), then confirmed. Output that keeps
    repeating secrets' beginnings falls back to a goto/failure automaton over the secrets'
    prefixes, whose state after reading a text is exactly the longest such end."""

    def __init__(self, secrets: list[bytes]) -> None:
        self.short = frozenset(s[:k] for s in secrets for k in range(1, min(PROBE, len(s))))
        self.short_ends = frozenset(p[-1] for p in self.short)
        #: Bytes that can end a proper prefix: a window ending in another byte holds none.
        self.inner = frozenset(b for s in secrets for b in s[:-1])
        self.by_probe: dict[bytes, list[bytes]] = {}
        for s in secrets:
            if len(s) > PROBE:
                self.by_probe.setdefault(s[:PROBE], []).append(s)
        self.probes = list(self.by_probe)
        self.finder = (
            # Leftmost-first lets the crate use its SIMD prefilter (ten times the standard
            # overlapping search here); overlapping candidates are found by searching again.
            ahocorasick_rs.BytesAhoCorasick(self.probes, matchkind=ahocorasick_rs.MatchKind.LeftmostFirst)
            if self.probes else None
        )
        self.secrets = secrets
        self._automaton: _PrefixAutomaton | None = None

    def suffix_depth(self, window: bytes) -> int:
        n = len(window)
        if window[-1] not in self.inner:  # output read up to a newline, typically
            return 0
        if self.finder is not None and n >= PROBE:
            view, pos = memoryview(window), 0
            for _ in range(MAX_CANDIDATES):  # leftmost first: the first confirmed start is the longest end
                found = self.finder.find_matches_as_indexes(view[pos:])
                if not found:
                    break
                start = pos + found[0][1]
                tail = window[start:]
                if any(len(s) > len(tail) and s.startswith(tail) for s in self.by_probe[window[start:start + PROBE]]):
                    return n - start
                pos = start + 1  # the next candidate may overlap this one
            else:
                if self._automaton is None:
                    self._automaton = _PrefixAutomaton(self.secrets)
                return self._automaton.suffix_depth(window)
        if window[-1] in self.short_ends:
            for k in range(min(PROBE - 1, n), 0, -1):
                if window[n - k:] in self.short:
                    return k
        return 0


class _PrefixAutomaton:
    """Aho-Corasick goto/failure automaton over the secrets' prefixes: after reading a text
    its state is the longest suffix of that text that is a prefix of some secret. Reading is
    linear (each failure link shortens the match)."""

    def __init__(self, secrets: list[bytes]) -> None:
        self.goto: list[dict[int, int]] = [{}]
        self.depth = [0]
        for secret in secrets:
            state = 0
            for byte in secret:
                nxt = self.goto[state].get(byte)
                if nxt is None:
                    nxt = len(self.goto)
                    self.goto[state][byte] = nxt
                    self.goto.append({})
                    self.depth.append(self.depth[state] + 1)
                state = nxt
        self.fail = [0] * len(self.goto)
        queue = list(self.goto[0].values())
        for state in queue:  # breadth first: a state's failure is shallower than it
            for byte, nxt in self.goto[state].items():
                f = self.fail[state]
                while f and byte not in self.goto[f]:
                    f = self.fail[f]
                self.fail[nxt] = self.goto[f].get(byte, 0)
                queue.append(nxt)

    def suffix_depth(self, window: bytes) -> int:
        goto, fail = self.goto, self.fail
        state = 0
        for byte in window:
            while state and byte not in goto[state]:
                state = fail[state]
            state = goto[state].get(byte, 0)
        while state and not goto[state]:  # a proper prefix only: a leaf is a whole secret
            state = fail[state]
        return self.depth[state]


#: A line of a multi-line secret (a private key) is masked on its own from this length on.
MIN_SECRET_LINE = 8


def _forms(value: str) -> set[str]:
    """The forms a secret is printed in: as given; a multi-line one (a PEM key) also without
    its surrounding whitespace (a file lookup strips the final newline), JSON-escaped (a
    debug message shows ``\\n``), and line by line, so no line of it is shown."""
    forms = {value}
    if "\n" in value or value != value.strip():
        stripped = value.strip()
        if stripped:
            forms.add(stripped)
        if "\n" in stripped:
            forms.add(stripped.replace("\n", "\\n"))
            forms.update(line.strip() for line in stripped.splitlines() if len(line.strip()) >= MIN_SECRET_LINE)
    return forms
