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
