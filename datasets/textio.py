"""Reading user text safely: decoding bytes, spotting binary files."""

from __future__ import annotations

from hrm.datasets.errors import PuzzleParseError


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
