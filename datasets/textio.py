"""Reading user text safely: decoding bytes, spotting binary files."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from hrm.datasets.errors import PuzzleParseError

T = TypeVar("T")


def decode_text(data: bytes, source: str) -> str:
    """Decode UTF-8 text (a BOM is dropped); binary data raises a PuzzleParseError."""
    if b"\x00" in data[:8192]:
        raise PuzzleParseError("binary data, not a text puzzle file", source)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PuzzleParseError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})", source, line
        ) from None


_CONTROL = {chr(c) for c in range(32)} - set("\t\n\r\f\v")


def looks_binary(first_line: str) -> bool:
    """True if the first line of an input says "binary file": a NUL or another control
    character, or a byte that is not UTF-8 right at its start (the magic numbers of PNG,
    gzip and friends). A stray non-UTF-8 byte later in a line is a bad cell, not this."""
    stripped = first_line.lstrip()
    return (any(ch in _CONTROL for ch in first_line)
            or (bool(stripped) and 0xDC80 <= ord(stripped[0]) <= 0xDCFF))


def describe_char(ch: str) -> str:
    """A character of user text as a message names it: "character 'Q'", "character \\x07", or,
    for a byte that was not UTF-8 (decoded with surrogateescape, as `decode_lines` does),
    "byte 0xff (not UTF-8)": the byte in the file, not a stand-in."""
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:
        return f"byte 0x{code - 0xDC00:02x} (not UTF-8)"
    return "character " + (repr(ch) if ch.isprintable() else f"\\x{code:02x}")


def iter_csv_records(
    lines: Iterable[tuple[int, str]],
    source: str,
    make: Callable[[dict[str, str], str, int], T],
) -> Iterator[T | PuzzleParseError]:
    """Read a puzzle CSV line by line (so a pipe streams): the first line is the header
    (it must name a `question` column); each later line becomes `make(record, source, line)`, or
    the PuzzleParseError it raised."""
    header: list[str] | None = None
    for number, text in lines:
        if not text.strip():
            continue
        try:
            row = next(csv.reader([text]))
        except csv.Error as exc:
            yield PuzzleParseError(f"unreadable CSV line ({exc})", source, number)
            continue
        if header is None:
            header = [h.strip().lower() for h in row]
            if "question" not in header:
                yield PuzzleParseError("CSV header has no 'question' column", source, number)
                return
            continue
        try:
            yield make(dict(zip(header, row, strict=False)), source, number)
        except PuzzleParseError as exc:
            yield exc


def prepend(first: tuple[int, str], rest: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """Put back the line a parser peeked at to pick the format."""
    yield first
    yield from rest


def parse_all(
    text: str | bytes,
    source: str,
    iter_puzzles: Callable[[Iterable[str], str], Iterator[T | PuzzleParseError]],
) -> list[T]:
    """Parse a whole text with a streaming parser; raise at the first bad puzzle."""
    if isinstance(text, bytes):
        text = decode_text(text, source)
    puzzles = []
    for item in iter_puzzles(io.StringIO(text), source):
        if isinstance(item, PuzzleParseError):
            raise item
        puzzles.append(item)
    return puzzles
