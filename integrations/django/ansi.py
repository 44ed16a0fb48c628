"""Terminal output as HTML: ANSI SGR colours and styles as spans, ``\\r`` progress shown as
the line it ends as, other escape sequences dropped. Used by the admin; the web UI renders
the same way in the browser."""

from __future__ import annotations

import re
from html import escape

_TOKEN = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])|\x1b[@-_]?|\r\n|\r|\n|[^\x1b\r\n]+")
_FG = {**{30 + i: i for i in range(8)}, **{90 + i: 8 + i for i in range(8)}}
_BG = {**{40 + i: i for i in range(8)}, **{100 + i: 8 + i for i in range(8)}}
PALETTE = ["#555", "#e55", "#5c5", "#dc5", "#68f", "#d6d", "#5dd", "#ddd",
           "#888", "#f77", "#7f7", "#ff7", "#89f", "#f8f", "#7ff", "#fff"]


def _apply(sgr: dict[str, object], params: str) -> None:
    codes = [int(p) if p.isdigit() else 0 for p in (params.split(";") if params else ["0"])]
    i = 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            sgr.clear()
        elif c == 1:
            sgr["bold"] = True
        elif c == 22:
            sgr.pop("bold", None)
        elif c == 4:
            sgr["underline"] = True
        elif c == 24:
            sgr.pop("underline", None)
        elif c in _FG:
            sgr["fg"] = PALETTE[_FG[c]]
        elif c == 39:
            sgr.pop("fg", None)
        elif c in _BG:
            sgr["bg"] = PALETTE[_BG[c]]
        elif c == 49:
            sgr.pop("bg", None)
        elif c in (38, 48) and i + 2 < len(codes) and codes[i + 1] == 5:
            n = codes[i + 2]
            sgr["fg" if c == 38 else "bg"] = PALETTE[n] if n < 16 else _xterm(n)
            i += 2
        elif c in (38, 48) and i + 4 < len(codes) and codes[i + 1] == 2:
            sgr["fg" if c == 38 else "bg"] = f"rgb({codes[i + 2]},{codes[i + 3]},{codes[i + 4]})"
            i += 4
        i += 1


def _xterm(n: int) -> str:
    if n >= 232:
        g = 8 + (n - 232) * 10
        return f"rgb({g},{g},{g})"
    n -= 16
    steps = (0, 95, 135, 175, 215, 255)
    return f"rgb({steps[n // 36]},{steps[(n // 6) % 6]},{steps[n % 6]})"


def _style(sgr: dict[str, object]) -> str:
    parts = []
    if sgr.get("fg"):
        parts.append(f"color:{sgr['fg']}")
    if sgr.get("bg"):
        parts.append(f"background:{sgr['bg']}")
    if sgr.get("bold"):
        parts.append("font-weight:bold")
    if sgr.get("underline"):
        parts.append("text-decoration:underline")
    return ";".join(parts)


class AnsiHtml:
    """Feed text (per stream, in order) and get HTML lines; state carries across feeds."""

    def __init__(self) -> None:
        self.sgr: dict[str, object] = {}
        self.line: list[tuple[str, str]] = []
        self.cr = False

    def feed(self, text: str) -> list[str]:
        """Complete lines (HTML, without the newline) ended by this text."""
        done = []
        for m in _TOKEN.finditer(text):
            tok = m.group(0)
            if self.cr and tok not in ("\n", "\r\n"):
                self.line = []  # a carriage return: the line is redrawn
            self.cr = False
            if m.group(2) is not None:
                if m.group(2) == "m":
                    _apply(self.sgr, m.group(1))
            elif tok in ("\n", "\r\n"):
                done.append(self.html())
                self.line = []
            elif tok == "\r":
                self.cr = True
            elif not tok.startswith("\x1b"):
                self.line.append((tok, _style(self.sgr)))
        return done

    def html(self) -> str:
        return "".join(f'<span style="{s}">{escape(t)}</span>' if s else escape(t) for t, s in self.line)
