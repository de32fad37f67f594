"""Feature extraction with pyradiomics: one row per ROI, with provenance, through an executor."""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import logging
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from radhub.radiomics._executor import Executor, LocalExecutor, single_threaded
from radhub.radiomics._images import image_from_archive, image_id, read_image
from radhub.radiomics._params import ExtractionParams, load_params
from radhub.radiomics._roi import check_mask, is_shape, mask_from_seg, parse_shape, read_mask
from radhub.radiomics.errors import (
    ExtractionError,
    ImageError,
    ImageNotFoundError,
    ManifestError,
    RadiomicsError,
)

if TYPE_CHECKING:
    from radhub.config import Settings

logger = logging.getLogger(__name__)

__all__ = [
    "PROVENANCE_COLUMNS",
    "ExtractionResult",
    "RoiResult",
    "RoiSpec",
    "extract_features",
    "extract_roi",
    "library_versions",
    "read_manifest",
    "read_table",
    "write_table",
]

#: Columns of a feature table that are not features.
PROVENANCE_COLUMNS = (
    "id",
    "label",
    "group",
    "image",
    "mask",
    "image_id",
    "mask_id",
    "status",
    "error",
    "roi_voxels",
    "param_hash",
    "radhub_version",
    "pyradiomics_version",
    "simpleitk_version",
    "pywavelets_version",
    "numpy_version",
    "python_version",
)


@dataclass(frozen=True)
class RoiSpec:
    """One region of interest to extract.

    Attributes
    ----------
    id : str
        Row identifier (unique in a manifest).
    image : str
        Image path, DICOM folder, or ``archive:<SeriesInstanceUID>``.
    mask : str
        Mask path (NRRD/NIfTI/DICOM SEG), ``archive:<SeriesInstanceUID>`` of
        a SEG, or a shape (``circle:X,Y,R``, ``sphere:X,Y,Z,R``,
        ``polygon:X1,Y1;X2,Y2;...``; see :func:`radhub.radiomics.parse_shape`).
    label : str, optional
        Outcome label carried into the table (not used for extraction).
    group : str, optional
        Grouping key (patient, image) carried into the table for grouped splits.
    spacing : tuple of float, optional
        Pixel spacing (mm) for pictures without geometry (PNG/PGM).
    mask_label : int, optional
        Label value of the ROI in a label file (default: the parameters' ``label``).
    segment : int, optional
        Segment number in a DICOM SEG with several segments.
    """

    id: str
    image: str
    mask: str
    label: str | None = None
    group: str | None = None
    spacing: tuple[float, ...] | None = None
    mask_label: int | None = None
    segment: int | None = None


@dataclass(frozen=True)
class RoiResult:
    """Outcome of one ROI: features, or the reason it failed."""

    spec: RoiSpec
    features: dict[str, float] = field(repr=False)
    image_id: str = ""
    mask_id: str = ""
    voxels: int = 0
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether features were extracted."""
        return self.error is None


def library_versions() -> dict[str, str]:
    """Versions recorded in every feature row."""
    import pywt

    import radiomics
    from radhub import __version__ as radhub_version

    return {
        "radhub_version": str(radhub_version),
        "pyradiomics_version": str(radiomics.__version__),
        "simpleitk_version": str(sitk.Version_VersionString()),
        "pywavelets_version": str(pywt.__version__),
        "numpy_version": str(np.__version__),
        "python_version": platform.python_version(),
    }


def _archive_image(
    ref: str, settings: Settings | None, segment_reference: sitk.Image | None = None
) -> tuple[Any, str]:
    from radhub.archive import Archive
    from radhub.retrieve import Retriever

    if settings is None:
        raise ImageError(
            f"{ref!r} refers to the archive, but no archive settings were given (--data-dir/--config)"
        )
    uid = ref.split(":", 1)[1].strip()
    archive = Archive.open(settings, sweep=False)
    try:
        instances = Retriever(archive).find(series_uid=uid)
        if not instances:
            raise ImageNotFoundError(f"the archive holds no series with SeriesInstanceUID {uid!r}")
        digest = hashlib.sha256(
            "".join(sorted(i.blob_sha256 for i in instances)).encode()
        ).hexdigest()
        ident = f"archive:{uid}:sha256:{digest}"
        if segment_reference is not None:
            return Retriever(archive).dataset(instances[0]), ident
        return image_from_archive(archive, uid), ident
    finally:
        archive.close()


def _load(spec: RoiSpec, settings: Settings | None) -> tuple[sitk.Image, sitk.Image, str, str]:
    if spec.image.startswith("archive:"):
        image, img_id = _archive_image(spec.image, settings)
    else:
        image = read_image(spec.image, spacing=spec.spacing)
        img_id = image_id(spec.image)
    if is_shape(spec.mask):
        mask, mask_id = parse_shape(spec.mask, image), spec.mask.strip()
    elif spec.mask.startswith("archive:"):
        seg, mask_id = _archive_image(spec.mask, settings, segment_reference=image)
        mask = mask_from_seg(seg, image, segment=spec.segment)
    else:
        mask = read_mask(spec.mask, image, segment=spec.segment)
        mask_id = image_id(spec.mask)
    return image, mask, img_id, mask_id


@functools.lru_cache(maxsize=4)
def _extractor(sha256: str, params_json: str) -> Any:
    """One pyradiomics extractor per parameter set and process (building one validates
    the parameters with pykwalify, which costs as much as a small ROI)."""
    from radiomics import featureextractor

    return featureextractor.RadiomicsFeatureExtractor(json.loads(params_json))


def extract_roi(
    spec: RoiSpec, params: ExtractionParams, settings: Settings | None = None
) -> RoiResult:
    """Extract the features of one ROI; errors become a failed :class:`RoiResult`.

    Radiomics errors (unreadable image, mask mismatch, empty mask, ROI
    outside) and pyradiomics' own exceptions are caught and reported with
    their message; programming errors propagate.
    """
    start = time.perf_counter()
    img_id = mask_id = ""
    try:
        image, mask, img_id, mask_id = _load(spec, settings)
        label = spec.mask_label if spec.mask_label is not None else params.label
        voxels = check_mask(image, mask, label=label)
        image = _widen(image)
        extractor = _extractor(params.sha256, json.dumps(params.params, sort_keys=True))
        try:
            raw = extractor.execute(image, mask, label=label)
        except (ValueError, RuntimeError, IndexError, TypeError) as exc:
            raise ExtractionError(f"pyradiomics failed: {exc}") from exc
    except RadiomicsError as exc:
        return RoiResult(
            spec,
            {},
            img_id,
            mask_id,
            0,
            f"{type(exc).__name__}: {exc}",
            time.perf_counter() - start,
        )
    features = {
        key: float(np.asarray(value).item())
        for key, value in raw.items()
        if not key.startswith("diagnostics_")
    }
    return RoiResult(spec, features, img_id, mask_id, voxels, None, time.perf_counter() - start)


_NARROW_INTEGERS = {
    sitk.sitkUInt8,
    sitk.sitkInt8,
    sitk.sitkUInt16,
    sitk.sitkInt16,
}


def _widen(image: sitk.Image) -> sitk.Image:
    """Cast 8/16-bit integer images to 32-bit integers (values unchanged).

    pyradiomics computes the fixed-bin-width edges as ``max + 2 * binWidth``
    on a numpy scalar of the image type; with numpy 2 a uint8 maximum of 250
    and bin width 8 wraps to 10, which silently corrupts every texture
    feature of 8-bit images (mammograms, PNGs).
    """
    if image.GetPixelID() in _NARROW_INTEGERS:
        return sitk.Cast(image, sitk.sitkInt32)
    return image


@dataclass(frozen=True)
class _Task:
    spec: RoiSpec
    params: ExtractionParams
    settings: Any = None


def _run_task(task: _Task) -> RoiResult:
    import radiomics

    single_threaded()
    radiomics.setVerbosity(logging.ERROR)
    return extract_roi(task.spec, task.params, task.settings)


@dataclass(frozen=True)
class ExtractionResult:
    """A feature table and the failures met while building it.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per ROI in manifest order: provenance columns
        (:data:`PROVENANCE_COLUMNS`) then feature columns; failed ROIs have
        ``status == "failed"``, the error in ``error`` and NaN features.
    failures : list of (id, error)
    seconds : float
        Wall time of the extraction.
    executor : str
        Executor name and worker count, e.g. ``local x2``.
    """

    table: pd.DataFrame = field(repr=False)
    failures: list[tuple[str, str]]
    seconds: float
    executor: str

    @property
    def n_ok(self) -> int:
        """ROIs with features."""
        return int((self.table["status"] == "ok").sum())

    @property
    def feature_columns(self) -> list[str]:
        """Names of the feature columns."""
        return [c for c in self.table.columns if c not in PROVENANCE_COLUMNS]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no feature values)."""
        return {
            "n_rois": len(self.table),
            "n_ok": self.n_ok,
            "n_failed": len(self.failures),
            "n_features": len(self.feature_columns),
            "failures": [{"id": i, "error": e} for i, e in self.failures],
            "seconds": round(self.seconds, 3),
            "executor": self.executor,
            "rois_per_second": round(len(self.table) / self.seconds, 3)
            if self.seconds > 0
            else None,
        }


def extract_features(
    specs: Sequence[RoiSpec],
    params: ExtractionParams | str | Path | Mapping[str, Any],
    *,
    executor: Executor | None = None,
    settings: Settings | None = None,
    progress: bool = True,
) -> ExtractionResult:
    """Extract pyradiomics features for every ROI.

    Parameters
    ----------
    specs : sequence of RoiSpec
        The ROIs (ids must be unique).
    params : ExtractionParams, path, preset name or mapping
        Extraction parameters (see :func:`load_params`).
    executor : Executor, optional
        Where to run; default in-process. Results are in ``specs`` order
        whatever the executor, so tables are identical.
    settings : radhub.config.Settings, optional
        Archive settings, needed for ``archive:`` images and masks.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    ExtractionResult
        Failed ROIs are rows with ``status == "failed"``, not exceptions.

    Raises
    ------
    ManifestError
        Duplicate ids or no ROI.
    ParameterError
        Invalid parameters.
    """
    if not specs:
        raise ManifestError("no ROI to extract: the manifest is empty")
    ids = [s.id for s in specs]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ManifestError(f"ids must be unique; repeated: {dupes[:10]}")
    p = params if isinstance(params, ExtractionParams) else load_params(params)
    ex = executor or LocalExecutor(1)
    start = time.perf_counter()
    results = ex.map(
        _run_task, [_Task(s, p, settings) for s in specs], desc="extract", progress=progress
    )
    seconds = time.perf_counter() - start
    versions = library_versions()
    names: list[str] = []
    seen: set[str] = set()
    for r in results:
        for k in r.features:
            if k not in seen:
                seen.add(k)
                names.append(k)
    rows = []
    for r in results:
        row: dict[str, Any] = {
            "id": r.spec.id,
            "label": r.spec.label,
            "group": r.spec.group,
            "image": r.spec.image,
            "mask": r.spec.mask,
            "image_id": r.image_id,
            "mask_id": r.mask_id,
            "status": "ok" if r.ok else "failed",
            "error": r.error or "",
            "roi_voxels": r.voxels,
            "param_hash": p.sha256,
            **versions,
        }
        row.update({n: r.features.get(n, np.nan) for n in names})
        rows.append(row)
    table = pd.DataFrame(rows, columns=[*PROVENANCE_COLUMNS, *names])
    failures = [(r.spec.id, r.error or "") for r in results if not r.ok]
    for ident, err in failures:
        logger.warning("ROI %s failed: %s", ident, err)
    return ExtractionResult(table, failures, seconds, f"{ex.name} x{ex.workers}")


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a feature table as CSV or Parquet (chosen by the suffix)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".parquet":
        table.to_parquet(out, index=False)
    elif suffix == ".csv":
        table.to_csv(out, index=False, float_format="%.10g")
    else:
        raise ManifestError(f"output {out.name!r} must end in .csv or .parquet")
    return out


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a feature table written by :func:`write_table` (or any CSV/Parquet table)."""
    p = Path(path)
    if not p.is_file():
        raise ManifestError(f"table {str(p)!r} does not exist")
    try:
        if p.suffix.lower() == ".parquet":
            return pd.read_parquet(p)
        return pd.read_csv(p, keep_default_na=True, dtype={"id": str, "label": str, "group": str})
    except (ValueError, OSError) as exc:
        raise ManifestError(f"cannot read table {p.name}: {exc}") from exc


def _optional_int(value: str | None, column: str, line: int) -> int | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise ManifestError(
            f"manifest line {line}: column {column!r} must be an integer, got {value!r}"
        ) from exc


def read_manifest(path: str | Path, *, spacing: Sequence[float] | None = None) -> list[RoiSpec]:
    """Read a manifest CSV: columns ``image``, ``mask`` and optionally ``label``, ``id``, ``group``,
    ``spacing`` (mm, ``0.2`` or ``0.2;0.2``), ``mask_label`` and ``segment``.

    Relative paths are resolved against the manifest's folder. Without an
    ``id`` column rows are numbered ``roi-0001``...

    Raises
    ------
    ManifestError
        Missing file or columns, empty cells in ``image``/``mask``, bad numbers.
    """
    p = Path(path)
    if not p.is_file():
        raise ManifestError(f"manifest {str(p)!r} does not exist")
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = [c.strip() for c in reader.fieldnames or []]
        missing = {"image", "mask"} - set(columns)
        if missing:
            raise ManifestError(
                f"manifest {p.name} lacks columns {sorted(missing)}; it has {columns}"
            )
        rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]
    specs = []
    base = p.parent
    for n, row in enumerate(rows, start=1):
        line = n + 1
        if not row.get("image") or not row.get("mask"):
            raise ManifestError(f"manifest line {line}: 'image' and 'mask' must not be empty")
        image, mask = row["image"], row["mask"]
        if not image.startswith("archive:") and not Path(image).is_absolute():
            image = str(base / image)
        if not is_shape(mask) and not mask.startswith("archive:") and not Path(mask).is_absolute():
            mask = str(base / mask)
        sp: tuple[float, ...] | None = tuple(float(v) for v in spacing) if spacing else None
        if row.get("spacing"):
            try:
                sp = tuple(float(v) for v in row["spacing"].replace(",", ";").split(";"))
            except ValueError as exc:
                raise ManifestError(
                    f"manifest line {line}: bad spacing {row['spacing']!r}"
                ) from exc
        specs.append(
            RoiSpec(
                id=row.get("id") or f"roi-{n:04d}",
                image=image,
                mask=mask,
                label=row.get("label") or None,
                group=row.get("group") or None,
                spacing=sp,
                mask_label=_optional_int(row.get("mask_label"), "mask_label", line),
                segment=_optional_int(row.get("segment"), "segment", line),
            )
        )
    if not specs:
        raise ManifestError(f"manifest {p.name} has no rows")
    return specs
