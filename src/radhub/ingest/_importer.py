"""Import folders, files and zip archives through the ingest pipeline."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from radhub.ingest._pipeline import IngestResult, IngestStatus

__all__ = ["ImportItem", "ImportSummary", "iter_import_items"]


@dataclass(frozen=True)
class ImportItem:
    """One object to import: a display path and a way to open its bytes."""

    path: str
    size: int
    open: Callable[[], BinaryIO]


@dataclass
class ImportSummary:
    """Counts and reasons of an import (``--json`` prints :meth:`to_dict`)."""

    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: list[dict[str, str]] = field(default_factory=list)
    bytes: int = 0

    def add(self, path: str, result: IngestResult) -> None:
        """Count one result."""
        if result.status is IngestStatus.STORED:
            self.stored += 1
            self.bytes += result.size
        elif result.status is IngestStatus.DUPLICATE:
            self.duplicates += 1
        elif result.status is IngestStatus.CONFLICT:
            self.conflicts += 1
            self.rejected.append({"path": path, "reason": f"conflict: {result.reason}"})
        else:
            self.rejected.append({"path": path, "reason": f"{result.code}: {result.reason}"})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: stored, duplicates, conflicts, rejected [{path, reason}], bytes."""
        return {
            "stored": self.stored,
            "duplicates": self.duplicates,
            "conflicts": self.conflicts,
            "rejected": list(self.rejected),
            "bytes": self.bytes,
        }


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _zip_items(path: Path) -> Iterator[ImportItem]:
    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
    for info in infos:
        def opener(info: zipfile.ZipInfo = info) -> BinaryIO:
            zf = zipfile.ZipFile(path)
            return zf.open(info)  # type: ignore[return-value]

        yield ImportItem(f"{path}!{info.filename}", info.file_size, opener)


def iter_import_items(paths: Iterable[str | Path]) -> Iterator[ImportItem]:
    """Files under ``paths`` (recursively) and members of zip archives among them.

    Raises ``FileNotFoundError`` for a path that does not exist.
    """
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
        files = _walk(path) if path.is_dir() else iter([path])
        for f in files:
            if f.suffix.lower() == ".zip" and zipfile.is_zipfile(f):
                yield from _zip_items(f)
            else:
                yield ImportItem(str(f), f.stat().st_size, lambda f=f: open(f, "rb"))
