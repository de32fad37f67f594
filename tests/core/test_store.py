"""FileBlobStore: content addressing, atomic writes, limits, sweep."""

from __future__ import annotations

import hashlib

import pytest

from radhub.store import BlobNotFoundError, BlobTooLargeError, FileBlobStore


def test_put_is_content_addressed_and_idempotent(tmp_path):
    store = FileBlobStore(tmp_path)
    data = b"hello radhub" * 1000
    ref = store.put_bytes(data)
    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    assert ref.size == len(data)
    assert store.read_bytes(ref.sha256) == data
    path = store.path(ref.sha256)
    assert path.parent.name == ref.sha256[2:4] and path.parent.parent.name == ref.sha256[:2]
    again = store.put_bytes(data)
    assert again == ref
    assert list(store.iter_digests()) == [ref.sha256]
    assert list(store.tmp_dir.iterdir()) == []


def test_nothing_visible_before_commit(tmp_path):
    store = FileBlobStore(tmp_path)
    w = store.writer()
    w.write(b"partial")
    digest = w.current_sha256()
    assert not store.exists(digest)
    assert w.temp_path().exists()
    w.abort()
    assert not store.exists(digest)
    assert list(store.tmp_dir.iterdir()) == []


def test_size_limit_aborts_and_cleans_up(tmp_path):
    store = FileBlobStore(tmp_path)
    w = store.writer(max_size=10)
    w.write(b"12345")
    with pytest.raises(BlobTooLargeError, match="size limit of 10 bytes"):
        w.write(b"678901")
    assert list(store.tmp_dir.iterdir()) == []


def test_sweep_removes_stray_temp_files(tmp_path):
    store = FileBlobStore(tmp_path)
    w = store.writer()
    w.write(b"crash before commit")
    w.temp_path()
    # simulate a crash: the writer is never committed nor aborted
    assert store.sweep_temp() == 1
    assert list(store.tmp_dir.iterdir()) == []


def test_missing_and_malformed_digests(tmp_path):
    store = FileBlobStore(tmp_path)
    with pytest.raises(BlobNotFoundError):
        store.open("0" * 64)
    with pytest.raises(BlobNotFoundError, match="not a SHA-256"):
        store.open("../../etc/passwd")
    assert not store.exists("../x")
