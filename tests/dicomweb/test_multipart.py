"""The incremental multipart/related reader: framing, chunking, errors, bounded buffering."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radhub.api.dicomweb._multipart import (
    MultipartReader,
    closing_delimiter,
    new_boundary,
    part_header,
)
from radhub.api.dicomweb.errors import MultipartError
from tests.dicomweb.conftest import chunks_of, multipart_body


def read_all(chunks, boundary):
    return [(p.headers, b"".join(p.iter_body())) for p in MultipartReader(iter(chunks), boundary)]


@pytest.mark.parametrize("size", [1, 2, 5, 17, 64, 1000, 1 << 20])
def test_parts_survive_any_chunking(size):
    parts = [b"A" * 1000, b"", b"\r\n--notb\r\n", bytes(range(256)) * 1300]
    body = multipart_body(parts, "b0undary")
    got = read_all(chunks_of(body, size), "b0undary")
    assert [c for _, c in got] == parts
    assert all(h == {"content-type": "application/dicom"} for h, _ in got)


def test_rfc2046_framing_preamble_epilogue_no_headers_and_padding():
    body = (
        b"this is a preamble\r\n--xyz  \r\n\r\nfirst"
        b"\r\n--xyz\r\nContent-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1\r\n"
        b"Content-Location: a\r\n\r\nsecond\r\n--xyz--\r\nepilogue ignored"
    )
    got = read_all([body], "xyz")
    assert got[0] == ({}, b"first")
    assert got[1][1] == b"second"
    assert got[1][0]["content-location"] == "a"


def test_body_starting_with_delimiter_and_missing_final_dashes_is_tolerated():
    got = read_all([b"--q\r\nContent-Type: application/dicom\r\n\r\nDATA\r\n--q"], "q")
    assert got == [({"content-type": "application/dicom"}, b"DATA")]


def test_writer_output_is_readable():
    b = new_boundary()
    body = (
        part_header(b, "application/dicom", "u1", first=True)
        + b"one"
        + part_header(b, "application/dicom", None, first=False)
        + b"two"
        + closing_delimiter(b)
    )
    got = read_all([body], b)
    assert [c for _, c in got] == [b"one", b"two"]
    assert got[0][0]["content-location"] == "u1"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"no boundary anywhere", "no multipart boundary found"),
        (
            b"--b\r\nContent-Type: x\r\n\r\nDATA without end",
            "closing multipart boundary is missing",
        ),
        (b"--b\r\nContent-Type x\r\n\r\nDATA\r\n--b--", "malformed header line"),
        (b"--bGARBAGE\r\n\r\nDATA\r\n--b--", "unexpected characters after a multipart boundary"),
        (b"--b\r\nContent-Type: x", "ends inside the headers of part 1"),
    ],
)
def test_broken_framing_raises_with_a_message(body, message):
    with pytest.raises(MultipartError, match=message):
        read_all([body], "b")


def test_oversized_headers_are_refused():
    body = b"--b\r\nX: " + b"a" * 20000 + b"\r\n\r\nDATA\r\n--b--"
    with pytest.raises(MultipartError, match="exceed"):
        read_all(chunks_of(body, 1000), "b")


def test_boundary_length_is_checked():
    with pytest.raises(MultipartError, match="1-70 characters"):
        MultipartReader(iter([b""]), "x" * 71)


def test_unread_part_is_skipped_and_next_part_read():
    body = multipart_body([b"X" * 100_000, b"second"], "bb")
    reader = MultipartReader(chunks_of(body, 999), "bb")
    seen = []
    for part in reader:
        it = part.iter_body()
        seen.append(next(it)[:1])  # read a little of each part only
    assert seen == [b"X", b"s"]


def test_buffer_stays_bounded_while_streaming_a_large_part():
    size = 20 * 1024 * 1024
    boundary = "big"

    def body():
        yield b"--big\r\nContent-Type: application/dicom\r\n\r\n"
        block = b"\x00" * 65536
        for _ in range(size // len(block)):
            yield block
        yield b"\r\n--big--"

    reader = MultipartReader(body(), boundary)
    peak = 0
    total = 0
    for part in reader:
        for chunk in part.iter_body():
            total += len(chunk)
            peak = max(peak, len(reader._buf))
    assert total == size
    assert peak < 1024 * 1024


@settings(max_examples=60, deadline=None)
@given(
    parts=st.lists(st.binary(max_size=300), min_size=1, max_size=5),
    size=st.integers(min_value=1, max_value=64),
)
def test_property_roundtrip(parts, size):
    boundary = "prop-" + "7" * 20
    body = multipart_body(parts, boundary)
    assert [c for _, c in read_all(chunks_of(body, size), boundary)] == parts
