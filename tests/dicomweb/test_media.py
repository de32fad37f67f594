"""Media type and Accept parsing (PS3.18 8.7) and the package's public surface."""

from __future__ import annotations

import pytest

from radhub.api import dicomweb
from radhub.api.dicomweb._media import (
    canonical,
    parse_accept,
    parse_media_type,
    related_type_matches,
)
from radhub.api.dicomweb.errors import BadRequestError


def test_public_api_is_the_router():
    assert dicomweb.__all__ == ["router"]
    from fastapi import APIRouter

    assert isinstance(dicomweb.router, APIRouter)


def test_parse_multipart_related_with_quoted_and_unquoted_parameters():
    m = parse_media_type(
        'Multipart/Related; type="application/dicom"; boundary=abc; transfer-syntax=*'
    )
    assert m.type == "multipart/related"
    assert m.related_type == "application/dicom"
    assert m.params["boundary"] == "abc"
    assert m.transfer_syntax == "*"


def test_accept_is_ordered_by_quality_and_keeps_client_order():
    ranges = parse_accept(
        'image/png;q=0.5, multipart/related; type="image/jpeg", application/dicom+json, text/html;q=0'
    )
    assert [r.type for r in ranges] == ["multipart/related", "application/dicom+json", "image/png"]


def test_absent_accept_means_anything():
    assert [r.type for r in parse_accept(None)] == ["*/*"]
    assert [r.type for r in parse_accept("  ")] == ["*/*"]


def test_comma_inside_quotes_does_not_split():
    ranges = parse_accept('multipart/related; type="a/b,c"; x=1, image/png')
    assert len(ranges) == 2
    assert ranges[0].params["type"] == "a/b,c"


@pytest.mark.parametrize("bad", ["nonsense", "a b/c", "image/png; q=high", "image/png; flag"])
def test_malformed_media_types_are_bad_requests(bad):
    with pytest.raises(BadRequestError):
        parse_accept(bad)


def test_aliases_and_wildcards():
    assert canonical("image/x-dicom-rle") == "image/dicom-rle"
    assert canonical("IMAGE/X-JLS") == "image/jls"
    r = parse_media_type('multipart/related; type="image/*"')
    assert related_type_matches(r, "image/jp2")
    assert not related_type_matches(r, "application/octet-stream")
    assert related_type_matches(parse_media_type("multipart/related"), "application/octet-stream")
