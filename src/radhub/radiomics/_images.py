"""Images for radiomics: files (DICOM, NRRD, NIfTI, MetaImage, PGM/PNG) and archive series.

Every loader returns a :class:`SimpleITK.Image` with physical geometry
(spacing in mm, origin, direction), the form pyradiomics works on. DICOM
slices are stacked by their position along the slice normal
(ImageOrientationPatient x ImagePositionPatient); the spacing between
slices comes from those positions, never from SliceThickness.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import pydicom
import SimpleITK as sitk
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from radhub.radiomics.errors import ImageError, ImageNotFoundError

if TYPE_CHECKING:
    from radhub.archive import Archive

logger = logging.getLogger(__name__)

__all__ = [
    "NonUniformPolicy",
    "image_from_archive",
    "image_id",
    "read_image",
    "volume_from_datasets",
]

NonUniformPolicy = Literal["error", "resample"]

#: File suffixes read through SimpleITK's ITK readers.
ITK_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")
#: File suffixes read with Pillow (2D grey-level pictures without geometry).
PICTURE_SUFFIXES = (".png", ".pgm", ".pnm", ".tif", ".tiff", ".bmp")
#: Relative tolerance on the slice spacing before a series counts as non-uniform.
SPACING_TOLERANCE = 0.01
_SEG_CLASSES = {"1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7"}


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def _spacing_pair(spacing: float | Sequence[float] | None, where: str) -> tuple[float, float]:
    if spacing is None:
        raise ImageError(
            f"{where} has no pixel spacing; give one, e.g. spacing=0.2 (mm per pixel) "
            "or a manifest column 'spacing'"
        )
    values = (
        [float(spacing)] * 2 if isinstance(spacing, (int, float)) else [float(v) for v in spacing]
    )
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or not all(np.isfinite(v) and v > 0 for v in values):
        raise ImageError(
            f"spacing must be one or two positive numbers (x, y in mm), got {spacing!r}"
        )
    return values[0], values[1]


def _read_picture(path: Path, spacing: float | Sequence[float] | None) -> sitk.Image:
    from PIL import Image, UnidentifiedImageError

    sx, sy = _spacing_pair(spacing, f"picture {path.name}")
    try:
        with Image.open(path) as pic:
            if pic.mode not in ("L", "I", "I;16", "I;16B", "F"):
                raise ImageError(
                    f"{path.name} is a {pic.mode!r} picture; radiomics needs one grey-level channel "
                    "(mode L, I;16, I or F); convert it to greyscale first"
                )
            arr = np.asarray(pic)
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageError(f"cannot read picture {path.name}: {exc}") from exc
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((sx, sy))
    return img


def _read_itk(path: Path) -> sitk.Image:
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown error"
        raise ImageError(f"cannot read {path.name} with SimpleITK: {first}") from exc


def _read_dicom_files(files: Iterable[Path]) -> list[Dataset]:
    out: list[Dataset] = []
    for f in files:
        try:
            out.append(pydicom.dcmread(f))
        except (pydicom.errors.InvalidDicomError, OSError, ValueError) as exc:
            raise ImageError(f"{f.name} is not a readable DICOM file: {exc}") from exc
    return out


def _is_dicom(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def read_image(
    source: str | Path,
    *,
    spacing: float | Sequence[float] | None = None,
    series_uid: str | None = None,
    on_nonuniform: NonUniformPolicy = "error",
) -> sitk.Image:
    """Read an image file or DICOM folder as a SimpleITK image.

    Parameters
    ----------
    source : str or Path
        A NRRD/NIfTI/MetaImage file, a DICOM file (single image or
        multi-frame), a folder of DICOM files of one series, or a PNG/PGM/TIFF
        picture.
    spacing : float or (float, float), optional
        Pixel spacing in mm (x, y) for pictures, which carry none; required
        for them and ignored otherwise.
    series_uid : str, optional
        Which series to stack when a DICOM folder holds several.
    on_nonuniform : {"error", "resample"}
        What to do when DICOM slices are not equally spaced; see
        :func:`volume_from_datasets`.

    Returns
    -------
    SimpleITK.Image
        2D for pictures and single-frame DICOM images, 3D for volumes.

    Raises
    ------
    ImageNotFoundError
        The path does not exist, or no DICOM series matches.
    ImageError
        Unreadable or unsupported file, missing spacing for a picture, or
        inconsistent DICOM slices.
    """
    path = Path(source)
    if not path.exists():
        raise ImageNotFoundError(f"image {str(path)!r} does not exist")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        datasets = [
            ds
            for ds in _read_dicom_files(
                f for f in files if _is_dicom(f) or f.suffix.lower() == ".dcm"
            )
        ]
        datasets = [ds for ds in datasets if str(ds.get("SOPClassUID", "")) not in _SEG_CLASSES]
        if not datasets:
            raise ImageNotFoundError(f"folder {path.name!r} holds no DICOM images")
        series = sorted({str(ds.get("SeriesInstanceUID", "")) for ds in datasets})
        if series_uid is not None:
            datasets = [ds for ds in datasets if str(ds.get("SeriesInstanceUID", "")) == series_uid]
            if not datasets:
                raise ImageNotFoundError(f"folder {path.name!r} holds no series {series_uid!r}")
        elif len(series) > 1:
            raise ImageError(
                f"folder {path.name!r} holds {len(series)} series; pass series_uid= to choose one"
            )
        return volume_from_datasets(datasets, on_nonuniform=on_nonuniform)
    suffix = _suffix(path)
    if suffix in ITK_SUFFIXES:
        return _read_itk(path)
    if suffix in PICTURE_SUFFIXES:
        return _read_picture(path, spacing)
    if suffix == ".dcm" or _is_dicom(path):
        return volume_from_datasets(_read_dicom_files([path]), on_nonuniform=on_nonuniform)
    raise ImageError(
        f"unsupported image file {path.name!r}; use DICOM, NRRD, NIfTI, MetaImage or PNG/PGM/TIFF"
    )


@dataclass(frozen=True)
class _Slice:
    pixels: NDArray[Any]
    position: NDArray[np.float64] | None
    orientation: NDArray[np.float64] | None
    pixel_spacing: tuple[float, float] | None


def _float_list(value: Any) -> list[float] | None:
    if value is None:
        return None
    try:
        return [float(v) for v in value]
    except (TypeError, ValueError):
        return None


def _modality(ds: Dataset, arr: NDArray[Any]) -> NDArray[Any]:
    from pydicom.pixels import apply_modality_lut

    out = apply_modality_lut(arr, ds)
    if np.issubdtype(out.dtype, np.floating) and np.all(out == np.round(out)):
        lo, hi = float(out.min(initial=0)), float(out.max(initial=0))
        if -(2**31) <= lo and hi < 2**31:
            return out.astype(np.int32)
    return out


def _group_item(ds: Dataset, index: int, sequence: str, attribute: str) -> Any:
    """An attribute of a functional group, per-frame first, then shared."""
    for seq_name, i in (
        ("PerFrameFunctionalGroupsSequence", index),
        ("SharedFunctionalGroupsSequence", 0),
    ):
        groups = ds.get(seq_name)
        if groups is None or len(groups) <= i:
            continue
        inner = groups[i].get(sequence)
        if inner is not None and len(inner) and attribute in inner[0]:
            return inner[0].get(attribute)
    return None


def _slices(ds: Dataset) -> list[_Slice]:
    if "PixelData" not in ds and "FloatPixelData" not in ds:
        raise ImageError("a DICOM object without pixel data cannot be used as an image")
    try:
        arr = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for codec problems
        raise ImageError(
            f"cannot decode pixel data ({ds.file_meta.get('TransferSyntaxUID', '?')}): {exc}"
        ) from exc
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise ImageError(
            "colour DICOM images are not supported for radiomics (SamplesPerPixel > 1)"
        )
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        out = []
        for i in range(frames):
            pos = _float_list(_group_item(ds, i, "PlanePositionSequence", "ImagePositionPatient"))
            iop = _float_list(
                _group_item(ds, i, "PlaneOrientationSequence", "ImageOrientationPatient")
            )
            ps = _float_list(_group_item(ds, i, "PixelMeasuresSequence", "PixelSpacing"))
            out.append(
                _Slice(
                    _modality(ds, arr[i]),
                    None if pos is None else np.array(pos),
                    None if iop is None else np.array(iop),
                    None if ps is None else (ps[0], ps[1]),
                )
            )
        return out
    pos = _float_list(ds.get("ImagePositionPatient"))
    iop = _float_list(ds.get("ImageOrientationPatient"))
    ps = _float_list(ds.get("PixelSpacing")) or _float_list(ds.get("ImagerPixelSpacing"))
    return [
        _Slice(
            _modality(ds, arr),
            None if pos is None else np.array(pos),
            None if iop is None else np.array(iop),
            None if ps is None else (ps[0], ps[1]),
        )
    ]


def volume_from_datasets(
    datasets: Sequence[Dataset], *, on_nonuniform: NonUniformPolicy = "error"
) -> sitk.Image:
    """Stack DICOM images (single- or multi-frame) into one SimpleITK image.

    Slices are ordered by their position along the normal of
    ImageOrientationPatient; the z spacing is the distance between
    consecutive positions. A single frame gives a 2D image with spacing from
    PixelSpacing (or ImagerPixelSpacing for projection images).

    Parameters
    ----------
    datasets : sequence of pydicom Dataset
        Images of one series (with pixel data).
    on_nonuniform : {"error", "resample"}
        Slices whose spacing varies by more than 1 % raise :class:`ImageError`
        by default; ``"resample"`` interpolates linearly along the normal onto
        a uniform grid with the median spacing (logged).

    Notes
    -----
    Gantry tilt (positions not moving along the slice normal) is detected
    and logged; the volume is built on the normal, as ITK's DICOM reader
    does, so the in-plane shift of tilted slices is not corrected.

    Raises
    ------
    ImageError
        No pixel data, mixed sizes or orientations, duplicate positions,
        missing geometry in a multi-slice series, or non-uniform spacing
        with ``on_nonuniform="error"``.
    """
    if on_nonuniform not in ("error", "resample"):
        raise ImageError(f"on_nonuniform must be 'error' or 'resample', got {on_nonuniform!r}")
    slices = [s for ds in datasets for s in _slices(ds)]
    if not slices:
        raise ImageError("no DICOM images were given")
    shapes = {s.pixels.shape for s in slices}
    if len(shapes) != 1:
        raise ImageError(f"slices differ in size (rows, columns): {sorted(shapes)}")
    if len(slices) == 1:
        s = slices[0]
        img = sitk.GetImageFromArray(s.pixels)
        if s.pixel_spacing is None:
            raise ImageError("the DICOM image has neither PixelSpacing nor ImagerPixelSpacing")
        img.SetSpacing((s.pixel_spacing[1], s.pixel_spacing[0]))
        return img
    if any(s.position is None or s.orientation is None or s.pixel_spacing is None for s in slices):
        raise ImageError(
            "a multi-slice series needs ImagePositionPatient, ImageOrientationPatient and "
            "PixelSpacing on every slice"
        )
    iop = cast(NDArray[np.float64], slices[0].orientation)
    if any(
        not np.allclose(cast(NDArray[np.float64], s.orientation), iop, atol=1e-4) for s in slices
    ):
        raise ImageError("slices have different ImageOrientationPatient; they are not one volume")
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    pos = np.array([float(np.dot(normal, cast(NDArray[np.float64], s.position))) for s in slices])
    order = np.argsort(pos, kind="mergesort")
    slices = [slices[i] for i in order]
    pos = pos[order]
    gaps = np.diff(pos)
    if np.any(gaps < 1e-3):
        raise ImageError(
            "two slices share one position along the normal (duplicates, or several "
            "acquisitions in one series); select one acquisition"
        )
    first = cast(NDArray[np.float64], slices[0].position)
    offsets = [
        float(np.linalg.norm((s.position - first) - normal * (p - pos[0])))
        for s, p in zip(slices, pos)
    ]  # type: ignore[operator]
    if max(offsets) > 1e-2:
        logger.warning(
            "gantry tilt: slice positions move up to %.2f mm within the image plane; "
            "the volume is built on the slice normal without correcting the shear",
            max(offsets),
        )
    arr = np.stack([s.pixels for s in slices])
    median = float(np.median(gaps))
    if np.max(np.abs(gaps - median)) > SPACING_TOLERANCE * median:
        distinct = sorted({round(float(g), 3) for g in gaps})
        if on_nonuniform == "error":
            raise ImageError(
                f"slice spacing is not uniform (distances {distinct} mm); pass "
                "on_nonuniform='resample' to interpolate onto a uniform grid"
            )
        logger.warning("non-uniform slice spacing %s mm: resampling to %.3f mm", distinct, median)
        arr, pos = _resample_slices(arr, pos, median)
    img = sitk.GetImageFromArray(arr)
    ps = cast(tuple[float, float], slices[0].pixel_spacing)
    img.SetSpacing((ps[1], ps[0], float(np.mean(np.diff(pos)))))
    img.SetOrigin(tuple(float(v) for v in first))
    img.SetDirection(tuple(float(v) for v in np.column_stack([row, col, normal]).ravel()))
    return img


def _resample_slices(
    arr: NDArray[Any], pos: NDArray[np.float64], step: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    n = int(np.floor((pos[-1] - pos[0]) / step + 1e-6)) + 1
    grid = pos[0] + step * np.arange(n)
    upper = np.clip(np.searchsorted(pos, grid, side="right"), 1, len(pos) - 1)
    lower = upper - 1
    w = ((grid - pos[lower]) / (pos[upper] - pos[lower]))[:, None, None]
    data = arr.astype(np.float64)
    return (1 - w) * data[lower] + w * data[upper], grid


def image_from_archive(
    archive: Archive, series_uid: str, *, on_nonuniform: NonUniformPolicy = "error"
) -> sitk.Image:
    """Read a series stored in radhub's archive as a SimpleITK image.

    The instances are found through :class:`radhub.retrieve.Retriever`, read
    with pydicom from their stored bytes and stacked by
    :func:`volume_from_datasets`.

    Raises
    ------
    ImageNotFoundError
        The archive has no instance of that series.
    ImageError
        See :func:`volume_from_datasets`.
    """
    from radhub.retrieve import Retriever

    retriever = Retriever(archive)
    instances = retriever.find(series_uid=series_uid)
    if not instances:
        raise ImageNotFoundError(
            f"the archive holds no series with SeriesInstanceUID {series_uid!r}"
        )
    datasets = [retriever.dataset(inst) for inst in instances]
    datasets = [ds for ds in datasets if str(ds.get("SOPClassUID", "")) not in _SEG_CLASSES]
    if not datasets:
        raise ImageError(f"series {series_uid!r} holds only segmentations, no images")
    return volume_from_datasets(datasets, on_nonuniform=on_nonuniform)


def image_id(source: str | Path) -> str:
    """Content id of an image or mask file (``sha256:<hex>``).

    For a folder the digest covers the sorted file names and contents, so a
    renamed or changed series gets a new id. Non-file references (archive
    series, shapes) are returned unchanged.
    """
    text = str(source)
    if text.startswith(("archive:", "circle:", "polygon:", "sphere:")):
        return text
    path = Path(source)
    digest = hashlib.sha256()
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f.relative_to(path).as_posix().encode())
            digest.update(hashlib.sha256(f.read_bytes()).digest())
    elif path.is_file():
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    else:
        raise ImageNotFoundError(f"{text!r} does not exist")
    return "sha256:" + digest.hexdigest()
