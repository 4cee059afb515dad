"""Response bodies for the fetch stage: undo Content-Encoding under a hard cap on the decoded size.

The fetcher asks for ``Accept-Encoding: gzip, deflate`` and streams the raw bytes itself, so that the cap
applies to what is decoded, not to what travels:

1. :func:`content_coding` names the coding to undo (identity, gzip/x-gzip, deflate); any other
   coding, or a stack of several, is refused (the fetcher never asked for it).
2. :class:`ContentDecoder` inflates with zlib's ``max_length``: each call yields at most what is left of
   the cap plus one byte, and compressed input beyond that waits in ``unconsumed_tail`` without being
   inflated. A decompression bomb therefore costs at most the cap, never its expanded size. Deflate
   arrives with the zlib wrapper (RFC 1950) or raw (RFC 1951, as some servers send it): the first two
   bytes decide. Several gzip members in a row are decoded one after the other (RFC 1952 2.2); anything
   else after the end of the compressed stream (a member that does not start with the gzip magic bytes, or
   bytes after a deflate stream) is trailing junk: the stream has ended (:attr:`ContentDecoder.ended`).
3. :func:`read_body` (2xx responses) raises ``TOO_LARGE`` past the cap and ``PROTOCOL`` for a body that
   does not decode; :func:`read_excerpt` (error responses) keeps the first bytes, best effort. Both stop
   reading at the end of the compressed stream: junk after it is never read, so a server that keeps
   sending junk (or empty gzip members, which decode to nothing) cannot hold a fetch until the total
   timeout. The raw bytes read are bounded too (:func:`raw_limit`): a body cannot travel much larger than
   it decodes.

Pure over async iterables of bytes: no network library object comes in or goes out.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterable, Mapping

from monitor.errors import ErrorKind, FetchError

ACCEPT_ENCODING = "gzip, deflate"  # exactly the codings ContentDecoder undoes
_CODINGS = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_GZIP_MAGIC = b"\x1f\x8b"


def raw_limit(limit: int) -> int:
    """The most raw bytes read for a body capped at ``limit`` decoded bytes.

    Deflate's stored blocks and the gzip/zlib framing add well under 1/64 to incompressible data; more
    raw bytes than this can only be empty members or padding.
    """
    return limit + limit // 64 + 65536


def content_coding(headers: Mapping[str, str]) -> str | None:
    """The coding to undo ("identity", "gzip" or "deflate"); None for one the fetcher did not ask for.

    ``headers`` has lower-cased names.
    """
    codings = [c.strip() for c in headers.get("content-encoding", "").lower().split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return "identity"
    return _CODINGS.get(codings[0]) if len(codings) == 1 else None


class ContentDecoder:
    """Undoes one content coding and never produces more than ``limit + 1`` bytes in all."""

    def __init__(self, coding: str, limit: int) -> None:
        if coding not in ("identity", "gzip", "deflate"):
            raise ValueError(f"no decoder for content coding {coding!r}")
        self.coding = coding
        self.produced = 0  # decoded bytes returned so far
        self.consumed = 0  # raw bytes fed so far
        self._limit = limit
        self._inflater = zlib.decompressobj(_GZIP_WBITS) if coding == "gzip" else None
        self._head = b""  # deflate: the first bytes, held until the zlib header (or its absence) shows
        self._fed = False
        self._ended = False  # the compressed stream is complete; trailing bytes are ignored
        self._pending = b""  # gzip: a lone first magic byte after a member, until the next byte shows

    @property
    def over_limit(self) -> bool:
        return self.produced > self._limit

    @property
    def ended(self) -> bool:
        """The compressed stream is complete and what followed it was not a gzip member: read no further."""
        return self._ended

    def feed(self, data: bytes) -> bytes:
        """Decode the next raw bytes; returns nothing more once over the limit or after the end."""
        if not data or self.over_limit or self._ended:
            return b""
        self._fed = True
        self.consumed += len(data)
        if self.coding == "identity":
            out = data[: self._limit + 1 - self.produced]
            self.produced += len(out)
            return out
        if self._inflater is None:
            self._head += data
            if len(self._head) < 2:
                return b""
            wrapped = self._head[0] & 0x0F == 8 and int.from_bytes(self._head[:2], "big") % 31 == 0
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
            data, self._head = self._head, b""
        data, self._pending = self._pending + data, b""
        return self._inflate(self._inflater, data)

    def _inflate(self, inflater: zlib._Decompress, data: bytes) -> bytes:
        out = bytearray()
        while data and not self._ended and not self.over_limit:
            if inflater.eof:  # a new gzip member, or trailing bytes to ignore
                if self.coding == "gzip" and data == _GZIP_MAGIC[:1]:
                    self._pending = data  # the next byte tells
                    break
                if self.coding != "gzip" or data[:2] != _GZIP_MAGIC:
                    self._ended = True
                    break
                inflater = self._inflater = zlib.decompressobj(_GZIP_WBITS)
            chunk = inflater.decompress(data, self._limit + 1 - self.produced)
            self.produced += len(chunk)
            out += chunk
            data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
        return bytes(out)

    def finish(self) -> None:
        """Raise ``zlib.error`` when the compressed stream stopped before its end."""
        if self.coding == "identity" or not self._fed or self.over_limit or self._ended:
            return
        if self._inflater is None or not self._inflater.eof:
            raise zlib.error("the compressed body ends early")


async def read_body(chunks: AsyncIterable[bytes], headers: Mapping[str, str], limit: int) -> bytes:
    """The decoded body of a successful response.

    Raises FetchError TOO_LARGE when the Content-Length or the decoded size is over ``limit``, and
    PROTOCOL for an unsupported coding or a body that does not decode.
    """
    coding = content_coding(headers)
    if coding is None:
        raise FetchError(ErrorKind.PROTOCOL, f"unsupported Content-Encoding {headers['content-encoding']!r}")
    length = headers.get("content-length", "").strip().lstrip("0")
    if length.isascii() and length.isdigit() and (len(length) > len(str(limit)) or int(length) > limit):
        shown = length if len(length) <= 40 else f"of {len(length)} digits"
        raise FetchError(ErrorKind.TOO_LARGE, f"Content-Length {shown} over the {limit}-byte cap")
    decoder = ContentDecoder(coding, limit)
    body = bytearray()
    try:
        async for raw in chunks:
            body += decoder.feed(raw)
            if decoder.over_limit:
                if coding == "identity":
                    raise FetchError(ErrorKind.TOO_LARGE, f"body over {limit} bytes")
                message = f"decompressed body over {limit} bytes (possible decompression bomb)"
                raise FetchError(ErrorKind.TOO_LARGE, message)
            if decoder.ended:
                break  # junk after the compressed stream: not read
            if decoder.consumed > raw_limit(limit):
                message = f"{coding} body of over {raw_limit(limit)} bytes decodes to only {decoder.produced}"
                raise FetchError(ErrorKind.TOO_LARGE, message)
        decoder.finish()
    except zlib.error as exc:
        raise FetchError(ErrorKind.PROTOCOL, f"could not decode the {coding} body: {exc}") from exc
    return bytes(body)


async def read_excerpt(chunks: AsyncIterable[bytes], headers: Mapping[str, str], limit: int) -> bytes:
    """The first ``limit`` decoded bytes of an error response, or fewer: what decodes before a zlib error,
    nothing for an unsupported coding. Stops reading once ``limit`` bytes are in hand."""
    coding = content_coding(headers)
    if coding is None or limit <= 0:
        return b""
    decoder = ContentDecoder(coding, limit)
    body = bytearray()
    try:
        async for raw in chunks:
            body += decoder.feed(raw)
            if decoder.produced >= limit or decoder.ended or decoder.consumed > raw_limit(limit):
                break
    except zlib.error:
        pass  # the status is the error; a broken excerpt only shortens the excerpt
    return bytes(body[:limit])
