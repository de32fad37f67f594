"""Incremental ``multipart/related`` (RFC 2387 / RFC 2046) reading and writing.

:class:`MultipartReader` pulls a body from an iterator of byte chunks and
hands out one :class:`Part` at a time whose body is itself an iterator of
chunks, so that a STOW-RS request of any size is parsed with bounded
memory: at most one chunk plus a delimiter's length is buffered.

>>> body = [b"--b\\r\\nContent-Type: application/dicom\\r\\n\\r\\nDATA\\r\\n--b--\\r\\n"]
>>> for part in MultipartReader(iter(body), "b"):
...     print(part.content_type, b"".join(part.iter_body()))
application/dicom b'DATA'
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from radhub.api.dicomweb.errors import MultipartError

__all__ = ["MultipartReader", "Part", "new_boundary", "part_header"]

_MAX_HEADER_BYTES = 16 * 1024
_MAX_PREAMBLE_BYTES = 1024 * 1024
_BODY_YIELD = 256 * 1024


def new_boundary() -> str:
    """A boundary that will not occur in DICOM payloads by chance."""
    return "radhub-" + uuid.uuid4().hex


def part_header(
    boundary: str, content_type: str, content_location: str | None = None, *, first: bool
) -> bytes:
    """The delimiter and header block that open one part of a multipart body."""
    lines = [("" if first else "\r\n") + f"--{boundary}", f"Content-Type: {content_type}"]
    if content_location:
        lines.append(f"Content-Location: {content_location}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def closing_delimiter(boundary: str) -> bytes:
    """The close delimiter that ends a multipart body."""
    return f"\r\n--{boundary}--\r\n".encode("latin-1")


class Part:
    """One body part: its headers and a one-shot iterator over its content."""

    def __init__(self, reader: MultipartReader, index: int, headers: dict[str, str]) -> None:
        self._reader = reader
        self.index = index
        self.headers = headers
        self._consumed = False

    @property
    def content_type(self) -> str | None:
        """The part's ``Content-Type`` header, if it has one."""
        return self.headers.get("content-type")

    def iter_body(self) -> Iterator[bytes]:
        """Yield the part's content in chunks.

        Raises
        ------
        MultipartError
            If the body ends before this part's closing delimiter (the part is
            incomplete and must not be used).
        """
        if self._consumed:
            raise RuntimeError("the body of a multipart part can be read only once")
        self._consumed = True
        yield from self._reader._body_chunks()

    def drain(self) -> None:
        """Skip whatever the consumer of :meth:`iter_body` did not read."""
        if not self._consumed:
            self._consumed = True
            for _ in self._reader._body_chunks():
                pass
        else:
            self._reader._skip_rest_of_part()


class MultipartReader:
    """Pull parser for a multipart body delivered as chunks.

    Parameters
    ----------
    chunks
        The raw request body; exceptions raised by this iterator (a size
        limit, a client disconnect) propagate to whoever is reading a part.
    boundary
        The ``boundary`` parameter of the body's ``Content-Type``.

    Iterating yields :class:`Part` objects in order; a part must be read or
    drained before the next is produced (iteration drains it otherwise).
    """

    def __init__(self, chunks: Iterator[bytes], boundary: str) -> None:
        if not boundary or len(boundary) > 70:
            raise MultipartError(
                f"the multipart boundary must be 1-70 characters, got {len(boundary)}"
            )
        self._chunks = chunks
        self._buf = bytearray(b"\r\n")  # lets the first delimiter match without a leading CRLF
        self._eof = False
        self._delimiter = b"\r\n--" + boundary.encode("latin-1")
        self._finished = False
        self._in_body = False
        self._body_done = False

    # -- buffer -------------------------------------------------------------
    def _fill(self) -> bool:
        """Append the next chunk to the buffer; False at the end of the body."""
        if self._eof:
            return False
        for chunk in self._chunks:
            if chunk:
                self._buf += chunk
                return True
        self._eof = True
        return False

    def _find(self, needle: bytes, start: int = 0, limit: int | None = None) -> int:
        while True:
            idx = self._buf.find(needle, start)
            if idx >= 0:
                return idx
            if limit is not None and len(self._buf) > limit:
                return -1
            start = max(0, len(self._buf) - len(needle) + 1)
            if not self._fill():
                return -1

    # -- structure ----------------------------------------------------------
    def __iter__(self) -> Iterator[Part]:
        index = 0
        idx = self._find(self._delimiter, limit=_MAX_PREAMBLE_BYTES)
        if idx < 0:
            raise MultipartError(
                "no multipart boundary found in the body: check the boundary parameter of Content-Type"
            )
        del self._buf[: idx + len(self._delimiter)]
        while True:
            if not self._after_delimiter():
                self._finished = True
                return
            headers = self._read_headers(index)
            part = Part(self, index, headers)
            self._in_body, self._body_done = True, False
            yield part
            part.drain()
            index += 1

    def _after_delimiter(self) -> bool:
        """Consume the rest of a delimiter line; False if it was the close delimiter."""
        while len(self._buf) < 2 and self._fill():
            pass
        if self._buf[:2] == b"--":
            return False
        if self._eof and not self._buf.strip():
            return False  # tolerate a body that stops after a part's delimiter without "--"
        eol = self._find(b"\r\n", limit=1024)
        if eol < 0:
            raise MultipartError("a multipart delimiter line is not terminated by CRLF")
        if self._buf[:eol].strip(b" \t"):
            raise MultipartError("unexpected characters after a multipart boundary")
        del self._buf[: eol + 2]
        return True

    def _read_headers(self, index: int) -> dict[str, str]:
        while len(self._buf) < 2 and self._fill():
            pass
        if self._buf[:2] == b"\r\n":  # a part without headers
            del self._buf[:2]
            return {}
        end = self._find(b"\r\n\r\n", limit=_MAX_HEADER_BYTES)
        if end < 0:
            if self._eof:
                raise MultipartError(f"the body ends inside the headers of part {index + 1}")
            raise MultipartError(
                f"the headers of part {index + 1} exceed {_MAX_HEADER_BYTES} bytes"
            )
        raw = bytes(self._buf[:end])
        del self._buf[: end + 4]
        headers: dict[str, str] = {}
        for line in raw.split(b"\r\n"):
            name, sep, value = line.partition(b":")
            if not sep or not name.strip():
                raise MultipartError(f"part {index + 1} has a malformed header line")
            headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
        return headers

    def _body_chunks(self) -> Iterator[bytes]:
        keep = len(self._delimiter) - 1
        scanned = 0  # bytes of the buffer already searched for the delimiter
        while True:
            idx = self._buf.find(self._delimiter, max(0, scanned - keep))
            if idx >= 0:
                piece = bytes(self._buf[:idx])
                del self._buf[: idx + len(self._delimiter)]
                self._body_done = True
                if piece:
                    yield piece
                return
            scanned = len(self._buf)
            if len(self._buf) > keep + _BODY_YIELD or (self._eof and len(self._buf) > keep):
                n = len(self._buf) - keep
                piece = bytes(self._buf[:n])
                del self._buf[:n]
                scanned -= n
                yield piece
            if not self._fill():
                raise MultipartError(
                    "the body ends inside a part: the closing multipart boundary is missing"
                )

    def _skip_rest_of_part(self) -> None:
        if self._in_body and not self._body_done:
            for _ in self._body_chunks():
                pass
