"""Regions of interest: masks from label files, DICOM SEG and shapes, checked against their image.

Coordinates of shapes are image *index* coordinates ``(x, y[, z])`` in
pixels: x is the column, y the row counted from the top, z the slice, as in
SimpleITK. Radii are in pixels unless ``units="mm"``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pydicom
import SimpleITK as sitk
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from radhub.radiomics._images import ITK_SUFFIXES, _group_item, _is_dicom, _suffix
from radhub.radiomics.errors import (
    EmptyMaskError,
    ImageNotFoundError,
    MaskMismatchError,
    RoiError,
    RoiOutsideImageError,
)

logger = logging.getLogger(__name__)

__all__ = [
    "check_mask",
    "circle_mask",
    "mask_from_seg",
    "parse_shape",
    "polygon_mask",
    "read_mask",
    "sphere_mask",
]

Units = Literal["pixel", "mm"]
_SEG_CLASSES = {"1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7"}
#: Geometry tolerance, relative to the image spacing (origin, spacing) or absolute (direction).
GEOMETRY_TOLERANCE = 1e-3


def _empty_like(reference: sitk.Image) -> NDArray[np.uint8]:
    return np.zeros(
        sitk.GetArrayViewFromImage(reference).shape[: reference.GetDimension()], np.uint8
    )


def _to_image(arr: NDArray[Any], reference: sitk.Image) -> sitk.Image:
    img = sitk.GetImageFromArray(arr)
    img.CopyInformation(reference)
    return img


def check_mask(image: sitk.Image, mask: sitk.Image, *, label: int = 1) -> int:
    """Check that ``mask`` fits ``image`` and contains ``label``; return its voxel count.

    Raises
    ------
    MaskMismatchError
        Different dimension, size, spacing, origin or direction (the message
        gives both values).
    EmptyMaskError
        No voxel has the label (the message lists the labels present).
    """
    if image.GetDimension() != mask.GetDimension():
        raise MaskMismatchError(
            f"mask is {mask.GetDimension()}D but the image is {image.GetDimension()}D"
        )
    if image.GetSize() != mask.GetSize():
        raise MaskMismatchError(
            f"mask size {mask.GetSize()} differs from image size {image.GetSize()} (x, y[, z] voxels)"
        )
    spacing = np.array(image.GetSpacing())
    tol = GEOMETRY_TOLERANCE * float(spacing.min())
    if not np.allclose(spacing, mask.GetSpacing(), rtol=GEOMETRY_TOLERANCE, atol=0):
        raise MaskMismatchError(
            f"mask spacing {_fmt(mask.GetSpacing())} differs from image spacing {_fmt(image.GetSpacing())} mm"
        )
    if not np.allclose(image.GetOrigin(), mask.GetOrigin(), rtol=0, atol=tol):
        raise MaskMismatchError(
            f"mask origin {_fmt(mask.GetOrigin())} differs from image origin {_fmt(image.GetOrigin())} mm"
        )
    if not np.allclose(image.GetDirection(), mask.GetDirection(), rtol=0, atol=GEOMETRY_TOLERANCE):
        raise MaskMismatchError(
            f"mask direction {_fmt(mask.GetDirection())} differs from image direction "
            f"{_fmt(image.GetDirection())}"
        )
    arr = sitk.GetArrayViewFromImage(mask)
    count = int(np.count_nonzero(arr == label))
    if count == 0:
        present = sorted(int(v) for v in np.unique(arr))[:10]
        raise EmptyMaskError(f"mask has no voxel with label {label}; labels present: {present}")
    return count


def _fmt(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


def read_mask(
    source: str | Path, reference: sitk.Image, *, segment: int | None = None
) -> sitk.Image:
    """Read a mask file (NRRD, NIfTI, MetaImage or DICOM SEG) for ``reference``.

    Label files are returned as read (UInt32 pixels, their own geometry, so
    that :func:`check_mask` can report a mismatch). A DICOM SEG is resampled
    by frame position onto the reference grid by :func:`mask_from_seg`.

    Raises
    ------
    ImageNotFoundError
        The file does not exist.
    RoiError, MaskMismatchError
        Unreadable file or a SEG that does not fit the reference.
    """
    path = Path(source)
    if not path.is_file():
        raise ImageNotFoundError(f"mask {str(path)!r} does not exist")
    if _suffix(path) in ITK_SUFFIXES:
        try:
            return sitk.Cast(sitk.ReadImage(str(path)), sitk.sitkUInt32)
        except RuntimeError as exc:
            raise RoiError(
                f"cannot read mask {path.name}: {str(exc).strip().splitlines()[-1]}"
            ) from exc
    if _is_dicom(path) or path.suffix.lower() in (".dcm", ".seg"):
        try:
            ds = pydicom.dcmread(path)
        except (pydicom.errors.InvalidDicomError, OSError, ValueError) as exc:
            raise RoiError(f"cannot read DICOM mask {path.name}: {exc}") from exc
        return mask_from_seg(ds, reference, segment=segment)
    raise RoiError(f"unsupported mask file {path.name!r}; use NRRD, NIfTI, MetaImage or DICOM SEG")


def mask_from_seg(seg: Dataset, reference: sitk.Image, *, segment: int | None = None) -> sitk.Image:
    """Binary mask (1 inside) of one segment of a DICOM SEG on the reference image grid.

    Each frame is placed at the slice whose position matches its
    ImagePositionPatient (PlanePositionSequence); BINARY, FRACTIONAL
    (threshold: half the maximum fractional value) and LABELMAP
    segmentations are read.

    Parameters
    ----------
    seg : pydicom Dataset
        A Segmentation Storage object.
    reference : SimpleITK.Image
        The image the segmentation belongs to (2D or 3D).
    segment : int, optional
        Segment number; required when the SEG has more than one segment.

    Raises
    ------
    RoiError
        Not a SEG, unknown segment, or several segments and none chosen.
    MaskMismatchError
        Frames of another size or orientation, or positions that fall
        between or outside the reference slices.
    """
    if str(seg.get("SOPClassUID", "")) not in _SEG_CLASSES:
        raise RoiError(
            "the DICOM mask is not a Segmentation (SOP class 1.2.840.10008.5.1.4.1.1.66.4)"
        )
    numbers = [int(s.SegmentNumber) for s in seg.get("SegmentSequence", [])]
    if segment is None:
        if len(numbers) != 1:
            labels = {
                int(s.SegmentNumber): str(s.get("SegmentLabel", "")) for s in seg.SegmentSequence
            }
            raise RoiError(
                f"the SEG has {len(numbers)} segments {labels}; choose one with segment="
            )
        segment = numbers[0]
    elif segment not in numbers:
        raise RoiError(f"segment {segment} is not in the SEG; its segments are {numbers}")
    try:
        frames = seg.pixel_array
    except Exception as exc:  # codec errors come in many types
        raise RoiError(f"cannot decode the SEG pixel data: {exc}") from exc
    n_frames = int(seg.get("NumberOfFrames", 1) or 1)
    frames = frames.reshape((n_frames, int(seg.Rows), int(seg.Columns)))
    size = reference.GetSize()
    if (int(seg.Columns), int(seg.Rows)) != tuple(size[:2]):
        raise MaskMismatchError(
            f"SEG frames are {seg.Columns}x{seg.Rows} but the image slices are {size[0]}x{size[1]} pixels"
        )
    seg_type = str(seg.get("SegmentationType", "BINARY")).upper()
    out = _empty_like(reference)
    labelmap = str(seg.SOPClassUID).endswith(".66.7") or seg_type == "LABELMAP"
    used = 0
    for i in range(n_frames):
        if labelmap:
            binary = frames[i] == segment
        else:
            number = _group_item(seg, i, "SegmentIdentificationSequence", "ReferencedSegmentNumber")
            if number is None or int(number) != segment:
                continue
            if seg_type == "FRACTIONAL":
                maximum = float(seg.get("MaximumFractionalValue", 255))
                binary = frames[i] > maximum / 2
            else:
                binary = frames[i] > 0
        if reference.GetDimension() == 2:
            if used:
                raise RoiError(
                    f"the SEG has several frames for segment {segment} but the image is 2D; "
                    "read the whole series as a 3D image"
                )
            out |= binary.astype(np.uint8)
            used += 1
            continue
        z = _frame_slice(seg, i, reference)
        out[z] |= binary.astype(np.uint8)
        used += 1
    if used == 0:
        raise RoiError(f"the SEG has no frame for segment {segment}")
    return _to_image(out, reference)


def _frame_slice(seg: Dataset, i: int, reference: sitk.Image) -> int:
    iop = _group_item(seg, i, "PlaneOrientationSequence", "ImageOrientationPatient")
    if iop is not None:
        row, col = np.array(iop[:3], float), np.array(iop[3:], float)
        direction = np.array(reference.GetDirection()).reshape(3, 3)
        if not (
            np.allclose(row, direction[:, 0], atol=1e-3)
            and np.allclose(col, direction[:, 1], atol=1e-3)
        ):
            raise MaskMismatchError(
                f"SEG frame orientation {_fmt(list(row) + list(col))} differs from the image's "
                f"{_fmt(list(direction[:, 0]) + list(direction[:, 1]))}"
            )
    ipp = _group_item(seg, i, "PlanePositionSequence", "ImagePositionPatient")
    if ipp is None:
        raise MaskMismatchError(f"SEG frame {i + 1} has no ImagePositionPatient; cannot place it")
    idx = np.array(reference.TransformPhysicalPointToContinuousIndex([float(v) for v in ipp]))
    rounded = np.round(idx)
    if np.max(np.abs(idx - rounded)) > 0.05:
        raise MaskMismatchError(
            f"SEG frame {i + 1} at {_fmt([float(v) for v in ipp])} mm does not fall on an image "
            f"voxel (continuous index {_fmt(list(idx))})"
        )
    if rounded[0] != 0 or rounded[1] != 0:
        raise MaskMismatchError(
            f"SEG frame {i + 1} is shifted in-plane by {_fmt(list(rounded[:2]))} voxels"
        )
    z = int(rounded[2])
    if not 0 <= z < reference.GetSize()[2]:
        raise MaskMismatchError(
            f"SEG frame {i + 1} lies outside the image (slice {z} of {reference.GetSize()[2]})"
        )
    return z


def _radii(reference: sitk.Image, radius: float, units: Units, dims: int) -> NDArray[np.float64]:
    if not (isinstance(radius, (int, float)) and math.isfinite(radius) and radius > 0):
        raise RoiError(f"radius must be a positive number, got {radius!r}")
    if units == "pixel":
        return np.full(dims, float(radius))
    if units == "mm":
        return float(radius) / np.array(reference.GetSpacing()[:dims])
    raise RoiError(f"units must be 'pixel' or 'mm', got {units!r}")


def _check_centre(reference: sitk.Image, centre: Sequence[float], what: str) -> NDArray[np.float64]:
    c = np.array([float(v) for v in centre])
    dim = reference.GetDimension()
    if c.size != dim:
        raise RoiError(
            f"{what} centre needs {dim} coordinates (x, y{', z' if dim == 3 else ''}), got {c.size}"
        )
    size = np.array(reference.GetSize(), float)
    if np.any(c < -0.5) or np.any(c > size - 0.5):
        raise RoiOutsideImageError(
            f"{what} centre {_fmt(list(c))} lies outside the image (size {tuple(int(v) for v in size)} voxels)"
        )
    return c


def _ellipse(
    reference: sitk.Image,
    centre: NDArray[np.float64],
    radii: NDArray[np.float64],
    axes: int,
    clip: bool,
    what: str,
) -> NDArray[np.uint8]:
    """Voxels whose centres lie inside the ellipse/ellipsoid over the first ``axes`` index axes."""
    size = np.array(reference.GetSize())
    lo, hi = centre[:axes] - radii, centre[:axes] + radii
    if not clip and (np.any(lo < -0.5) or np.any(hi > size[:axes] - 0.5)):
        raise RoiOutsideImageError(
            f"{what} (centre {_fmt(list(centre))}, radius {_fmt(list(radii))} px) extends beyond the "
            f"image (size {tuple(int(v) for v in size)}); pass clip=True to keep the part inside"
        )
    out = _empty_like(reference)
    grids = np.ogrid[tuple(slice(0, int(n)) for n in size[:axes][::-1])]  # numpy order: ..., y, x
    dist = sum(((g - centre[axes - 1 - k]) / radii[axes - 1 - k]) ** 2 for k, g in enumerate(grids))
    inside = (dist <= 1.0).astype(np.uint8)
    if reference.GetDimension() == axes:
        out[...] = inside
    else:  # a disc on one slice of a volume
        out[round(float(centre[2]))] = inside
    return out


def circle_mask(
    reference: sitk.Image,
    centre: Sequence[float],
    radius: float,
    *,
    units: Units = "pixel",
    clip: bool = True,
) -> sitk.Image:
    """Disc mask: voxels whose centre is within ``radius`` of ``centre``.

    On a 3D image ``centre`` is ``(x, y, z)`` and the disc lies on slice z.

    Parameters
    ----------
    reference : SimpleITK.Image
        The image the mask belongs to (its geometry is copied).
    centre : (x, y) or (x, y, z)
        Index coordinates (x = column, y = row from the top, z = slice).
    radius : float
        In pixels, or in mm with ``units="mm"`` (then anisotropic pixels give an ellipse in index space).
    clip : bool
        Keep the part of a disc that extends past the border (default);
        with ``False`` such a disc raises.

    Raises
    ------
    RoiOutsideImageError
        The centre is outside the image, or the disc crosses the border and ``clip`` is False.
    EmptyMaskError
        No voxel centre falls inside the disc (radius below half a pixel).
    """
    c = _check_centre(reference, centre, "circle")
    radii = _radii(reference, radius, units, 2)
    out = _ellipse(reference, c, radii, 2, clip, "circle")
    if not out.any():
        raise EmptyMaskError(f"circle of radius {radius} {units} contains no voxel centre")
    return _to_image(out, reference)


def sphere_mask(
    reference: sitk.Image,
    centre: Sequence[float],
    radius: float,
    *,
    units: Units = "pixel",
    clip: bool = True,
) -> sitk.Image:
    """Ball mask on a 3D image (an ellipsoid in index space when ``units="mm"`` and spacing differs).

    Raises
    ------
    RoiError
        The image is not 3D.
    RoiOutsideImageError, EmptyMaskError
        As for :func:`circle_mask`.
    """
    if reference.GetDimension() != 3:
        raise RoiError(
            f"a sphere needs a 3D image, this one is {reference.GetDimension()}D; use circle_mask"
        )
    c = _check_centre(reference, centre, "sphere")
    radii = _radii(reference, radius, units, 3)
    out = _ellipse(reference, c, radii, 3, clip, "sphere")
    if not out.any():
        raise EmptyMaskError(f"sphere of radius {radius} {units} contains no voxel centre")
    return _to_image(out, reference)


def polygon_mask(
    reference: sitk.Image,
    vertices: Sequence[Sequence[float]],
    *,
    slice_index: int | None = None,
    clip: bool = True,
) -> sitk.Image:
    """Mask of the voxels whose centre lies inside a closed polygon.

    Parameters
    ----------
    reference : SimpleITK.Image
        2D image, or 3D with ``slice_index`` giving the slice.
    vertices : sequence of (x, y)
        At least 3 points in index coordinates; the polygon is closed automatically.
    slice_index : int, optional
        Slice (z index) of a 3D image.
    clip : bool
        Accept vertices outside the image and keep the part inside (default).

    Raises
    ------
    RoiError
        Fewer than 3 vertices, or a 3D image without a valid ``slice_index``.
    RoiOutsideImageError
        A vertex is outside the image and ``clip`` is False, or the polygon lies entirely outside.
    EmptyMaskError
        No voxel centre is inside the polygon.
    """
    from matplotlib.path import Path as PolyPath

    pts = np.array([[float(v) for v in p] for p in vertices])
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
        raise RoiError(f"a polygon needs at least 3 (x, y) vertices, got {pts.tolist()!r}")
    size = reference.GetSize()
    dim = reference.GetDimension()
    if dim == 3 and (slice_index is None or not 0 <= int(slice_index) < size[2]):
        raise RoiError(
            f"a polygon on a 3D image needs slice_index in [0, {size[2] - 1}], got {slice_index!r}"
        )
    outside = (
        (pts[:, 0] < -0.5)
        | (pts[:, 0] > size[0] - 0.5)
        | (pts[:, 1] < -0.5)
        | (pts[:, 1] > size[1] - 0.5)
    )
    if outside.any() and not clip:
        raise RoiOutsideImageError(
            f"polygon vertices {pts[outside].tolist()} lie outside the image ({size[0]}x{size[1]} pixels)"
        )
    yy, xx = np.mgrid[0 : size[1], 0 : size[0]]
    inside = PolyPath(pts).contains_points(np.column_stack([xx.ravel(), yy.ravel()]))
    plane = inside.reshape(size[1], size[0]).astype(np.uint8)
    if not plane.any():
        if outside.all():
            raise RoiOutsideImageError(f"the polygon {pts.tolist()} lies outside the image")
        raise EmptyMaskError(f"the polygon {pts.tolist()} contains no voxel centre")
    out = _empty_like(reference)
    if dim == 3:
        out[int(slice_index)] = plane  # type: ignore[arg-type]
    else:
        out[...] = plane
    return _to_image(out, reference)


def _numbers(text: str, what: str) -> list[float]:
    try:
        return [float(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError as exc:
        raise RoiError(f"cannot read the numbers of {what} {text!r}") from exc


def parse_shape(spec: str, reference: sitk.Image) -> sitk.Image:
    """Build a mask from a text shape, as written in a manifest's ``mask`` column.

    Forms (index coordinates, radius in pixels; append ``mm`` to the radius for millimetres):

    - ``circle:X,Y,R`` (2D) or ``circle:X,Y,Z,R`` (a disc on slice Z)
    - ``sphere:X,Y,Z,R``
    - ``polygon:X1,Y1;X2,Y2;X3,Y3[@Z]``

    Raises
    ------
    RoiError
        Unknown kind or wrong number of values (plus the errors of the shape functions).
    """
    kind, _, body = spec.partition(":")
    kind = kind.strip().lower()
    if kind in ("circle", "sphere"):
        units: Units = "pixel"
        if body.strip().lower().endswith("mm"):
            body, units = body.strip()[:-2], "mm"
        values = _numbers(body, kind)
        dim = reference.GetDimension() if kind == "circle" else 3
        if len(values) != dim + 1:
            raise RoiError(
                f"{kind} on a {reference.GetDimension()}D image needs {dim} centre values and a radius, got {spec!r}"
            )
        fn = circle_mask if kind == "circle" else sphere_mask
        return fn(reference, values[:-1], values[-1], units=units)
    if kind == "polygon":
        body, _, z = body.partition("@")
        pts = [_numbers(p, "polygon vertex") for p in body.split(";") if p.strip()]
        return polygon_mask(reference, pts, slice_index=int(z) if z.strip() else None)
    raise RoiError(
        f"unknown shape {spec!r}; use circle:X,Y,R, sphere:X,Y,Z,R or polygon:X1,Y1;X2,Y2;..."
    )


def is_shape(spec: str) -> bool:
    """Whether a manifest mask entry is a text shape rather than a file."""
    return spec.strip().lower().startswith(("circle:", "sphere:", "polygon:"))
