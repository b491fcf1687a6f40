"""A systemd ``EnvironmentFile=`` read as systemd 252 (Debian 12) reads it, for doctor to tell what the service gets
from /etc/listener/secrets.env without printing any of it.

systemd's own parser (src/basic/env-file.c, parse_env_file_internal) is no shell: only a line that starts with '#'
or ';' is a comment. A value runs to the end of its line, a '#' after a space included
(``LISTENER_MQTT_PASSWORD=s3cret  # shop 12`` sets it to ``s3cret  # shop 12``); spaces around it are dropped, and
quotes and backslashes are read shell-like: '...' keeps everything, "..." takes \\" \\\\ \\` \\$ as escapes, a
backslash outside them escapes the next character, and one that ends a line joins the next. A quoted part and what
follows it are joined (``'s3cret' # shop`` sets ``s3cret# shop``). So a line can be part of the value above it
(a backslash at the end of the line before, or a quote still open), and set nothing itself. In 252 a comment line
that ends with a backslash swallows the line after it too (systemd 254 stopped that). In double quotes, a backslash
at the end of a line escapes what follows it: the line break (dropped, the value going on) or, written as \\" there,
the quote that looks like the value's end (a quote in the value, which stays open).
"""

from __future__ import annotations

from dataclasses import dataclass, field

_NEWLINE = "\n\r"
_WHITESPACE = " \t\n\r"
_DOUBLE_QUOTE_ESCAPES = '"\\`$'  # SHELL_NEED_ESCAPE: what a backslash escapes in double quotes


@dataclass(frozen=True, slots=True)
class Assignment:
    """One ``KEY=value`` systemd sets: ``value`` as the service gets it (never to be printed)."""

    line: int  # of the file, from 1: where the key starts
    key: str
    value: str
    commented: bool  # a '#' after a space outside quotes: a comment typed after the value, and kept in it


@dataclass(frozen=True, slots=True)
class SwallowedLine:
    """A line systemd 252 reads as part of the comment above it, one that ends in a backslash: it sets nothing."""

    line: int  # of the file, from 1
    comment_line: int  # where the comment that swallows it starts (its '#' or ';')
    key: str | None  # what the line would set, read on its own, as written (None: nothing)


@dataclass(frozen=True, slots=True)
class QuotedBackslash:
    """A backslash at the end of a line inside double quotes, which systemd reads as escaping what follows it: the
    line break (``"pw\\``: dropped with it, the next line joined to the value) or the '"' after it (``"pw\\"``: a
    quote in the value, not its end, the quote open still)."""

    line: int  # of the file, from 1: the line it ends
    value_line: int  # where the key whose value it is in starts
    quote_line: int  # where the quote it is in opens
    escapes: str  # '\n' (the line break) or '"' (the quote before the line's end, or the file's)


@dataclass(frozen=True, slots=True)
class JoinedLine:
    """A line systemd reads as part of the value of a key above it, in every version: the line before it ends in a
    backslash, or the value holds a quote opened above it and not closed yet. It sets nothing of its own."""

    line: int  # of the file, from 1
    value_line: int  # where the key whose value it joins starts
    value_key: str  # that key as written: print it only when it is a valid name (a value may be typed into it)
    quote_line: int | None  # where the quote still open starts; None: the line before ends in a backslash
    key: str | None  # what the line would set, read on its own, as written (None: nothing)
    # the quote's last backslash at a line end above this line: what keeps it open, or ate the line break
    escaped: QuotedBackslash | None = None


@dataclass(frozen=True, slots=True)
class KeyWithoutValue:
    """A line that starts a key but has no '=' after it (``NAME value``, or ``NAME`` alone): systemd sets nothing."""

    line: int  # of the file, from 1
    key: str  # as written, to the end of its line: a value typed after a space is in it, never print it whole


@dataclass(frozen=True, slots=True)
class EnvLines:
    """What systemd 252 reads from an environment file, and the lines it sets nothing from, each in file order."""

    assignments: tuple[Assignment, ...]  # a later one of a key overrides an earlier one
    without_value: tuple[KeyWithoutValue, ...]
    swallowed: tuple[SwallowedLine, ...]
    joined: tuple[JoinedLine, ...]
    # lines whose unquoted backslash ends a value and joins no line to it (at the file's end, before a CRLF line
    # end: it escapes the '\r'), which systemd drops all the same
    dropped_backslashes: tuple[int, ...]
    quoted_backslashes: tuple[QuotedBackslash, ...]


@dataclass
class _Reader:
    """parse_env_file_internal's state machine, one character at a time; the states are its own."""

    state: str = "pre_key"
    line: int = 1
    key_line: int = 1
    key: str = ""
    value: str = ""
    trailing: int = -1  # where the value's trailing unquoted whitespace starts (-1: none), chomped at its end
    spaced: bool = False  # the last character read of the value was unquoted, unescaped whitespace
    commented: bool = False
    comment_line: int = 1
    quote_line: int = 1
    found: list[Assignment] = field(default_factory=list)
    without_value: list[KeyWithoutValue] = field(default_factory=list)
    swallowed: list[tuple[int, int]] = field(default_factory=list)  # (comment_line, the line it swallows)
    joined: list[tuple[int, int, str, int | None]] = field(default_factory=list)  # JoinedLine's first four
    dropped_backslashes: list[int] = field(default_factory=list)
    quoted_backslashes: list[QuotedBackslash] = field(default_factory=list)
    escaped_quote: bool = False  # the double-quoted value read so far ends in \\" (a '\r' after it aside)

    def read(self, text: str) -> list[Assignment]:
        for char in text:
            getattr(self, f"_{self.state}")(char)
            self.line += char == "\n"
        if self.state == "key":
            self.without_value.append(KeyWithoutValue(self.key_line, self.key.rstrip(" \t")))
        elif self.state not in ("pre_key", "comment", "comment_escape"):
            if self.state == "value_escape":  # escaping nothing: systemd drops it, as it drops one before a line break
                self.dropped_backslashes.append(self.line)
            if self.state == "double_quote" and self.escaped_quote:  # the file ends in \\": its quote is open
                self._quoted_backslash('"')
            self._push()
        return self.found

    def _join(self, char: str, quote_line: int | None) -> None:
        """A line break inside a value: the next line is the value's."""
        if char == "\n":
            self.joined.append((self.line + 1, self.key_line, self.key.rstrip(" \t"), quote_line))

    def _quoted_backslash(self, escapes: str) -> None:
        self.quoted_backslashes.append(QuotedBackslash(self.line, self.key_line, self.quote_line, escapes))

    def _push(self) -> None:
        value = self.value[: self.trailing] if self.state == "value" and self.trailing >= 0 else self.value
        self.found.append(Assignment(self.key_line, self.key.rstrip(" \t"), value, self.commented))
        self.state = "pre_key"

    def _pre_key(self, char: str) -> None:
        if char in "#;":
            self.state, self.comment_line = "comment", self.line
        elif char not in _WHITESPACE:
            self.state, self.key, self.key_line = "key", char, self.line

    def _key(self, char: str) -> None:
        if char in _NEWLINE:
            self.state = "pre_key"  # a line without '=': no assignment
            self.without_value.append(KeyWithoutValue(self.key_line, self.key.rstrip(" \t")))
        elif char == "=":
            self.state, self.value, self.trailing, self.spaced, self.commented = "pre_value", "", -1, False, False
        else:
            self.key += char

    def _pre_value(self, char: str) -> None:
        """After the '=', or after a closing quote: whitespace is skipped, not kept."""
        if char in _NEWLINE:
            self._push()
        elif char in "'\"\\":
            self.state, self.spaced = {"'": "single_quote", '"': "double_quote", "\\": "value_escape"}[char], False
            self.quote_line, self.escaped_quote = self.line, False
        elif char in _WHITESPACE:
            self.spaced = True
        else:
            self.commented |= char == "#" and self.spaced
            self.state, self.value, self.trailing, self.spaced = "value", self.value + char, -1, False

    def _value(self, char: str) -> None:
        if char in _NEWLINE:
            self._push()
        elif char == "\\":
            self.state, self.trailing, self.spaced = "value_escape", -1, False
        else:
            self.commented |= char == "#" and self.spaced
            self.spaced = char in _WHITESPACE
            if not self.spaced:
                self.trailing = -1
            elif self.trailing < 0:
                self.trailing = len(self.value)
            self.value += char

    def _value_escape(self, char: str) -> None:
        self.state = "value"
        if char not in _NEWLINE:  # an escaped line break is eaten: the value goes on on the next line
            self.value += char
        elif char == "\r":  # eaten too, and the '\n' after it ends the value: the backslash is gone, nothing joined
            self.dropped_backslashes.append(self.line)
        self._join(char, None)

    def _single_quote(self, char: str) -> None:
        if char == "'":
            self.state = "pre_value"
        else:
            self.value += char
            self._join(char, self.quote_line)

    def _double_quote(self, char: str) -> None:
        if char == '"':
            self.state = "pre_value"
        elif char == "\\":
            self.state = "double_quote_escape"
        else:
            if char == "\n" and self.escaped_quote:
                self._quoted_backslash('"')
            self.escaped_quote &= char == "\r"  # a CRLF line end: the '\r' is the value's, the line's end is next
            self.value += char
            self._join(char, self.quote_line)

    def _double_quote_escape(self, char: str) -> None:
        self.state, self.escaped_quote = "double_quote", char == '"'
        if char == "\n":
            self._quoted_backslash("\n")
        if char in _DOUBLE_QUOTE_ESCAPES:
            self.value += char
        elif char != "\n":  # any other is kept with its backslash, as the shell does; a line break is eaten
            self.value += "\\" + char
        self._join(char, self.quote_line)  # the quote is open still: closing it, not the backslash, ends the value

    def _comment(self, char: str) -> None:
        if char == "\\":
            self.state = "comment_escape"
        elif char in _NEWLINE:
            self.state = "pre_key"

    def _comment_escape(self, char: str) -> None:
        self.state = "comment"  # 252: even a line break, so the next line is the comment's too
        if char == "\n":
            self.swallowed.append((self.comment_line, self.line + 1))


def read_env_file(text: str) -> list[Assignment]:
    """Every assignment systemd reads from ``text``, in order (a later one of a key overrides an earlier one).
    Keys are as written: systemd then ignores one that is no valid name (``export NAME``)."""
    return _Reader().read(text)


def read_env_lines(text: str) -> EnvLines:
    """What systemd 252 reads from ``text`` (its assignments, as read_env_file), and the lines that set nothing:
    a key with no '=', a line a comment ending in a backslash swallows, a line that is part of a value above it;
    and the lines of a value's backslash that joins no line, which systemd drops."""
    reader = _Reader()
    reader.read(text)
    lines = text.split("\n")  # numbered as the reader numbers them, by '\n' alone
    return EnvLines(
        tuple(reader.found),
        tuple(reader.without_value),
        tuple(SwallowedLine(number, comment, _key_alone(lines, number)) for comment, number in reader.swallowed),
        tuple(
            JoinedLine(
                number,
                value_line,
                value_key,
                quote_line,
                _key_alone(lines, number),
                _escaped(reader.quoted_backslashes, number, value_line, quote_line),
            )
            for number, value_line, value_key, quote_line in reader.joined
        ),
        tuple(reader.dropped_backslashes),
        tuple(reader.quoted_backslashes),
    )


def _escaped(
    found: list[QuotedBackslash], number: int, value_line: int, quote_line: int | None
) -> QuotedBackslash | None:
    """The last backslash at a line end in the quote line ``number`` is read into, above it (None: none)."""
    above = [one for one in found if (one.value_line, one.quote_line) == (value_line, quote_line) and one.line < number]
    return above[-1] if above else None


def swallowed_lines(text: str) -> list[SwallowedLine]:
    """Every line of ``text`` systemd 252 reads as part of a comment above it, in order: a comment line that ends
    in a backslash runs on into the next line, and on again where that one ends in a backslash too."""
    return list(read_env_lines(text).swallowed)


def _key_alone(lines: list[str], number: int) -> str | None:
    """The key line ``number`` would set, read on its own (None: nothing)."""
    alone = read_env_file(lines[number - 1])
    return alone[0].key if alone else None
