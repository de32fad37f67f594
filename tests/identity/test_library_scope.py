"""The library paths (retrieve, radiomics' archive reader, catalog reads) obey the caller's tenant scope."""

from __future__ import annotations

import pytest

from radhub.identity import Principal, principal_context
from tests.identity.conftest import World


def _as(world: World, username: str) -> Principal:
    user = world.archive.directory.user(username)
    return world.archive.auth.principal_for_user(user)


def test_retriever_and_radiomics_reader_see_only_the_callers_series(world: World) -> None:
    from radhub.radiomics._images import image_from_archive
    from radhub.radiomics.errors import ImageNotFoundError
    from radhub.retrieve import Retriever

    a_series = world.studies["site-a"][1]
    with principal_context(_as(world, "reader_a")):
        assert len(Retriever(world.archive).find(series_uid=a_series)) == 1
        assert image_from_archive(world.archive, a_series).GetNumberOfPixels() > 0
    with principal_context(_as(world, "tech_b")):
        assert Retriever(world.archive).find(series_uid=a_series) == []
        with pytest.raises(ImageNotFoundError):
            image_from_archive(world.archive, a_series)
        assert world.archive.catalog.totals()["studies"] == 1  # B's own study only
    # the platform sees everything
    with principal_context(_as(world, "platform")):
        assert world.archive.catalog.totals()["studies"] == 2
