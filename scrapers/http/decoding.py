"""Content decoding with a limit on what it produces (decompression bombs are refused, not inflated).

Why not httpx's own decoding: it decodes each network chunk in one call with no output limit and
applies every coding the server lists, so a 1.8 kB body sent as ``Content-Encoding: gzip, gzip``
inflates to gigabytes in memory before any size check can run (and on the event loop). Here:

* at most ONE content coding is accepted (``gzip``, ``deflate``, and ``br`` when a ``brotli`` with
  bounded output is installed); stacked codings have no legitimate use and are the classic bomb;
* decoding is incremental: each step yields at most :data:`PIECE` bytes, so the caller can stop
  as soon as the DECODED size passes its limit, holding no more than the limit plus one piece;
* we only advertise (``Accept-Encoding``) what we can decode this way.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any, Protocol

__all__ = ["PIECE", "BodyDecoder", "UnsupportedCoding", "accept_encoding", "content_codings", "decoder_for"]

#: The most one decoding step produces.
PIECE = 64 * 1024

try:  # optional, and only usable when it can bound its output (brotli >= 1.2: max_output_length)
    import brotli as _brotli  # type: ignore[import-not-found]

    _BROTLI_BOUNDED = hasattr(_brotli.Decompressor(), "can_accept_more_data")
except ImportError:  # pragma: no cover - depends on the environment
    _brotli = None
    _BROTLI_BOUNDED = False


class UnsupportedCoding(ValueError):
    """A ``Content-Encoding`` we refuse (several stacked, or one we cannot decode with a limit)."""


class BodyDecoder(Protocol):
    def pieces(self, data: bytes) -> Iterator[bytes]:
        """Decoded output for ``data`` (more compressed input), in pieces of at most PIECE bytes.

        Lazy on purpose: a caller that stops iterating stops decoding."""
        ...


def supported_codings() -> tuple[str, ...]:
    return ("gzip", "deflate", "br") if _BROTLI_BOUNDED else ("gzip", "deflate")


def accept_encoding() -> str:
    """The ``Accept-Encoding`` we send: only what :func:`decoder_for` can decode with a limit."""
    return ", ".join(supported_codings())


def content_codings(header: str | None) -> list[str]:
    """The codings of a ``Content-Encoding`` value, in order, lower-cased, ``identity`` dropped."""
    return [c for c in (part.strip().lower() for part in (header or "").split(",")) if c and c != "identity"]


def decoder_for(header: str | None) -> BodyDecoder | None:
    """The decoder for a response's ``Content-Encoding`` (None: the body is not encoded), or
    :class:`UnsupportedCoding` saying, for a person, why the body is refused."""
    codings = content_codings(header)
    if not codings:
        return None
    if len(codings) > 1:
        raise UnsupportedCoding(
            f"the body is encoded {len(codings)} times (Content-Encoding: {', '.join(codings)}); "
            "only one content coding is accepted"
        )
    coding = codings[0]
    if coding in ("gzip", "x-gzip"):
        return _GzipDecoder()
    if coding == "deflate":
        return _DeflateDecoder()
    if coding == "br" and _BROTLI_BOUNDED:
        return _BrotliDecoder()
    raise UnsupportedCoding(
        f"the body uses the content coding {coding!r}, which is not accepted (only {', '.join(supported_codings())})"
    )


class _GzipDecoder:
    """gzip, including several members one after the other (RFC 1952 allows it); trailing bytes
    that do not start a member are ignored, as httpx does."""

    def __init__(self) -> None:
        self._z: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def pieces(self, data: bytes) -> Iterator[bytes]:
        while True:
            if self._z.eof:
                rest = self._z.unused_data + data
                if not rest.startswith(b"\x1f\x8b"):
                    return  # trailing garbage (or nothing): the body is complete
                self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
                data = rest
            out = self._z.decompress(data, PIECE)
            data = self._z.unconsumed_tail
            if out:
                yield out
            elif not data and not self._z.eof:
                return  # needs more input


class _DeflateDecoder:
    """``deflate`` as servers really send it: zlib-wrapped (RFC 9110) or, often, raw deflate."""

    def __init__(self) -> None:
        self._z: Any = None
        self._head = b""

    def pieces(self, data: bytes) -> Iterator[bytes]:
        if self._z is None:
            self._head += data
            if len(self._head) < 2:
                return
            b0, b1 = self._head[0], self._head[1]
            wrapped = b0 & 0x0F == 8 and (b0 * 256 + b1) % 31 == 0
            self._z = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
            data, self._head = self._head, b""
        while not self._z.eof:
            out = self._z.decompress(data, PIECE)
            data = self._z.unconsumed_tail
            if out:
                yield out
            elif not data:
                return


class _BrotliDecoder:
    """``br`` with brotli's bounded output (``max_output_length`` + ``can_accept_more_data``)."""

    def __init__(self) -> None:
        assert _brotli is not None
        self._d: Any = _brotli.Decompressor()

    def pieces(self, data: bytes) -> Iterator[bytes]:
        try:
            out = self._d.process(data, max_output_length=PIECE)
            if out:
                yield out
            while not self._d.can_accept_more_data():
                out = self._d.process(b"", max_output_length=PIECE)
                if not out:
                    return
                yield out
        except _brotli.error as exc:  # not a ValueError: said as one, like zlib's errors
            raise ValueError(f"invalid brotli data ({exc})") from None
