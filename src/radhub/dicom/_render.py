"""Decode one frame and turn it into an 8-bit display image (PNG/JPEG).

The grayscale pipeline follows PS3.4 N.2 / PS3.3 C.11: stored values ->
Modality LUT (Rescale Slope/Intercept or Modality LUT Sequence) -> VOI
(window centre/width with the VOI LUT Function, or VOI LUT Sequence, or the
frame's min/max) -> polarity (MONOCHROME1 / Presentation LUT Shape INVERSE)
-> 8 bits. Colour images are converted to 8-bit RGB (palette colour via its
lookup tables, YCbCr converted by pydicom's decoders). Attributes of
multi-frame "enhanced" objects are taken per frame from the Shared and
Per-frame Functional Groups.

Decoding is pydicom's: ``Decoder.as_array(..., index=i)`` decodes only the
requested frame and, for native pixel data in a file, reads only that frame.
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_voi, as_pixel_options, get_decoder
from pydicom.pixels.processing import apply_modality_lut, convert_color_space
from pydicom.uid import UID

from radhub.dicom._pixel import PixelDataLocation
from radhub.dicom.errors import InvalidDicomError, RenderError

__all__ = [
    "RENDER_MEDIA_TYPES",
    "VOI_LUT_FUNCTIONS",
    "DecodedFrame",
    "check_render_options",
    "decode_frame",
    "encode_image",
    "fit_viewport",
    "render_frame",
]

logger = logging.getLogger(__name__)

RENDER_MEDIA_TYPES = ("image/png", "image/jpeg")
"""Media types :func:`encode_image` produces."""

VOI_LUT_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
"""VOI LUT Function values (PS3.3 C.11.2.1.3) accepted for windowing."""

_GRAYSCALE = ("MONOCHROME1", "MONOCHROME2")
_RGB_LIKE = ("RGB", "YBR_FULL", "YBR_FULL_422")
_SUPPORTED_PHOTOMETRIC = (*_GRAYSCALE, "PALETTE COLOR", *_RGB_LIKE)

# Attributes copied from the top level and overridden by the functional groups
_FRAME_KEYWORDS = (
    "RescaleSlope",
    "RescaleIntercept",
    "ModalityLUTSequence",
    "WindowCenter",
    "WindowWidth",
    "VOILUTFunction",
    "VOILUTSequence",
    "PresentationLUTShape",
)
_FUNCTIONAL_GROUP_SEQUENCES = ("PixelValueTransformationSequence", "FrameVOILUTSequence")


@dataclass(frozen=True)
class DecodedFrame:
    """One decoded frame and what is needed to display it.

    Attributes
    ----------
    dataset
        The object's header (no pixel data value).
    pixels
        The decoded frame, shape (rows, columns) or (rows, columns, samples),
        YCbCr already converted to RGB where pydicom does so.
    photometric_interpretation
        The photometric interpretation of ``pixels`` (after decoding, e.g.
        ``RGB`` for a YBR_FULL_422 JPEG).
    index
        0-based frame index.
    bits_stored
        Bits Stored of ``pixels``.
    """

    dataset: Dataset = field(repr=False)
    pixels: np.ndarray = field(repr=False)
    photometric_interpretation: str
    index: int
    bits_stored: int


def _transfer_syntax_label(uid: str) -> str:
    name = UID(uid).name
    return f"{name} ({uid})" if name and name != uid else uid


def decode_frame(fh: BinaryIO | None, location: PixelDataLocation, index: int) -> DecodedFrame:
    """Decode one frame with pydicom's pixel data decoders.

    Parameters
    ----------
    fh
        The file the location was read from (unused when the pixel data is
        held in ``location.dataset``, i.e. for deflated datasets).
    location
        From :func:`radhub.dicom.locate_pixel_data`.
    index
        0-based frame index.

    Returns
    -------
    DecodedFrame

    Raises
    ------
    RenderError
        No pixel data, truncated pixel data, no decoder for the transfer
        syntax, or the decoder failed (the message names the transfer syntax
        and the decoder's error).
    ValueError
        ``index`` is outside ``0 .. number_of_frames - 1``.
    """
    ds = location.dataset
    if location.keyword is None:
        raise RenderError(_no_pixel_data_message(ds))
    if not 0 <= index < location.number_of_frames:
        raise ValueError(
            f"frame index {index} is out of range: the object has {location.number_of_frames} frame(s)"
        )
    ts = location.transfer_syntax_uid
    label = _transfer_syntax_label(ts)
    try:
        decoder = get_decoder(UID(ts))
    except NotImplementedError as exc:
        raise RenderError(
            f"no pixel data decoder is available for transfer syntax {label}"
        ) from exc

    try:
        if not location.is_encapsulated and not location.in_memory:
            needed = (index + 1) * location.frame_bits()
            available = 8 * (location.value_length or 0)
            if needed > available:
                raise RenderError(
                    f"pixel data is truncated: it holds {location.value_length} bytes, "
                    f"frame {index + 1} needs {math.ceil(needed / 8)}"
                )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            options: dict[str, Any] = as_pixel_options(ds)
    except InvalidDicomError as exc:
        raise RenderError(f"cannot decode the pixel data: {exc}") from exc
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise RenderError(f"the Image Pixel attributes are invalid: {exc}") from exc
    options.update(
        transfer_syntax_uid=UID(ts),
        pixel_keyword=location.keyword,
        number_of_frames=location.number_of_frames,
    )
    if location.vr in ("OB", "OW"):
        options["pixel_vr"] = location.vr

    source: Any
    if location.in_memory:
        source = ds
    else:
        if fh is None or location.value_offset is None:
            raise ValueError("fh is required when the pixel data is not held in location.dataset")
        fh.seek(location.value_offset)
        source = fh
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pixels, properties = decoder.as_array(
                source, index=index, validate=True, raw=False, **options
            )
    except Exception as exc:  # codec libraries raise many types; convert at the boundary
        raise RenderError(
            f"cannot decode frame {index + 1} of the {label} pixel data: {type(exc).__name__}: {exc}"
        ) from exc

    photometric = (
        str(
            properties.get("photometric_interpretation")
            or ds.get("PhotometricInterpretation")
            or ""
        )
        .strip()
        .upper()
    )
    bits_stored = int(
        properties.get("bits_stored") or ds.get("BitsStored") or location.bits_allocated
    )
    return DecodedFrame(ds, pixels, photometric, index, bits_stored)


def _no_pixel_data_message(ds: Dataset) -> str:
    sop_class = ds.get("SOPClassUID") or getattr(
        getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", None
    )
    kind = f" ({UID(str(sop_class)).name})" if sop_class else ""
    return f"the object{kind} has no pixel data: there is nothing to render"


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------
def render_frame(
    frame: DecodedFrame,
    *,
    window: tuple[float, float] | None = None,
    voi_function: str | None = None,
) -> np.ndarray:
    """Turn a decoded frame into an 8-bit display image.

    Parameters
    ----------
    frame
        From :func:`decode_frame`.
    window
        ``(center, width)`` applied after the Modality LUT instead of the
        object's own window (grayscale images only; ignored for colour).
    voi_function
        ``LINEAR``, ``LINEAR_EXACT`` or ``SIGMOID`` (PS3.3 C.11.2.1.3); by
        default the object's VOI LUT Function, else ``LINEAR``.

    Returns
    -------
    numpy.ndarray
        ``uint8``, shape (rows, columns) for grayscale or (rows, columns, 3)
        for colour.

    Raises
    ------
    RenderError
        Unsupported photometric interpretation or malformed lookup tables.
    ValueError
        An invalid ``window`` or ``voi_function``.
    """
    function = _check_voi_function(voi_function)
    if window is not None:
        _check_window(window)
    photometric = frame.photometric_interpretation
    pixels = frame.pixels
    if photometric in _GRAYSCALE:
        if pixels.ndim != 2:
            raise RenderError(
                f"{photometric} pixel data must have one sample per pixel, got shape {pixels.shape}"
            )
        return _render_grayscale(frame, window, function)
    if photometric == "PALETTE COLOR":
        if pixels.ndim != 2:
            raise RenderError(
                f"PALETTE COLOR pixel data must have one sample per pixel, got shape {pixels.shape}"
            )
        return _render_palette(frame)
    if photometric in _RGB_LIKE:
        if pixels.ndim != 3 or pixels.shape[2] != 3:
            raise RenderError(
                f"{photometric} pixel data must have three samples per pixel, got shape {pixels.shape}"
            )
        if photometric != "RGB":
            pixels = convert_color_space(pixels, photometric, "RGB")
        return _scale_to_uint8(pixels, frame.bits_stored)
    raise RenderError(
        f"photometric interpretation {photometric or '(missing)'!r} is not supported for rendering "
        f"(supported: {', '.join(_SUPPORTED_PHOTOMETRIC)})"
    )


def _check_voi_function(voi_function: str | None) -> str | None:
    if voi_function is None:
        return None
    normalised = voi_function.strip().upper().replace("-", "_")
    if normalised not in VOI_LUT_FUNCTIONS:
        raise ValueError(
            f"voi_function must be one of {', '.join(VOI_LUT_FUNCTIONS)} (PS3.3 C.11.2.1.3), got {voi_function!r}"
        )
    return normalised


def _check_window(window: tuple[float, float]) -> None:
    try:
        center, width = (float(v) for v in window)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"window must be a (center, width) pair of numbers, got {window!r}"
        ) from exc
    if not (math.isfinite(center) and math.isfinite(width)) or width <= 0:
        raise ValueError(
            f"window width must be a finite number > 0, got center={center} width={width}"
        )


def _frame_attributes(ds: Dataset, index: int) -> Dataset:
    """The Modality/VOI/Presentation attributes that apply to frame ``index``.

    Top-level attributes, overridden by the Shared Functional Groups and then
    by this frame's Per-frame Functional Groups (PS3.3 C.7.6.16).
    """
    attrs = Dataset()
    if hasattr(ds, "file_meta"):
        attrs.file_meta = ds.file_meta
    attrs.set_original_encoding(*ds.original_encoding)
    for keyword in _FRAME_KEYWORDS:
        if keyword in ds:
            attrs[keyword] = ds[keyword]
    groups: list[Dataset] = []
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        groups.append(shared[0])
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame and index < len(per_frame):
        groups.append(per_frame[index])
    for group in groups:
        for sequence in _FUNCTIONAL_GROUP_SEQUENCES:
            items = group.get(sequence)
            if not items:
                continue
            for elem in items[0]:
                if elem.keyword in _FRAME_KEYWORDS:
                    attrs[elem.keyword] = elem
    return attrs


def _first_number(value: object) -> float | None:
    """First value of a DS/IS attribute (VM 1-n) as a float, None if absent or not a number."""
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        values = list(value)  # type: ignore[call-overload]
        if not values:
            return None
        value = values[0]
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _apply_modality(pixels: np.ndarray, attrs: Dataset) -> np.ndarray:
    """Stored values -> modality values (PS3.3 C.11.1), as float64."""
    lut = attrs.get("ModalityLUTSequence")
    if lut:
        try:
            return np.asarray(apply_modality_lut(pixels, attrs), dtype=np.float64)
        except Exception as exc:  # malformed LUT descriptor/data
            raise RenderError(
                f"the Modality LUT Sequence cannot be applied: {type(exc).__name__}: {exc}"
            ) from exc
    values = pixels.astype(np.float64)
    slope = _first_number(attrs.get("RescaleSlope"))
    intercept = _first_number(attrs.get("RescaleIntercept"))
    if slope is not None or intercept is not None:
        values = values * (1.0 if slope is None else slope) + (
            0.0 if intercept is None else intercept
        )
    return values


def _window(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """VOI windowing (PS3.3 C.11.2.1.2 and C.11.2.1.3) to the output range [0, 1]."""
    if function == "SIGMOID":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    if function == "LINEAR_EXACT":
        return np.clip((values - (center - width / 2.0)) / width, 0.0, 1.0)
    # LINEAR: centre and width are shifted by 0.5 and 1 (C.11.2.1.2.1)
    if width == 1:
        return (values > center - 0.5).astype(np.float64)
    low = center - 0.5 - (width - 1) / 2.0
    high = center - 0.5 + (width - 1) / 2.0
    out = ((values - (center - 0.5)) / (width - 1)) + 0.5
    out = np.where(values <= low, 0.0, out)
    return np.where(values > high, 1.0, out)


def _min_max(values: np.ndarray, present: Callable[[], np.ndarray] | None = None) -> np.ndarray:
    """Scale ``values`` linearly so that their finite minimum is 0 and maximum 1.

    ``present``: gives which of ``values`` occur in the frame (a lookup
    table's domain holds values the frame may not have; called only here);
    the extremes are taken over those only.
    """
    finite = np.isfinite(values)
    if present is not None:
        finite &= present()
    if not finite.any():
        return np.zeros(values.shape, dtype=np.float64)
    low = float(values[finite].min())
    high = float(values[finite].max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.float64)
    return (values - low) / (high - low)


def _apply_voi(
    values: np.ndarray,
    attrs: Dataset,
    window: tuple[float, float] | None,
    function: str | None,
    present: Callable[[], np.ndarray] | None = None,
) -> np.ndarray:
    """Modality values -> [0, 1] (PS3.3 C.11.2); ``present`` as for :func:`_min_max`."""
    file_function = str(attrs.get("VOILUTFunction") or "LINEAR").strip().upper()
    if file_function not in VOI_LUT_FUNCTIONS:
        logger.debug("unknown VOI LUT Function %r; using LINEAR", file_function[:16])
        file_function = "LINEAR"
    chosen = function or file_function
    if window is not None:
        user_center, user_width = float(window[0]), float(window[1])
        if chosen == "LINEAR" and user_width < 1:
            raise ValueError(
                f"window width must be >= 1 for the LINEAR VOI LUT function, got {user_width}"
            )
        return _window(values, user_center, user_width, chosen)

    center = _first_number(attrs.get("WindowCenter"))
    width = _first_number(attrs.get("WindowWidth"))
    if (
        center is not None
        and width is not None
        and width > 0
        and not (chosen == "LINEAR" and width < 1)
    ):
        return _window(values, center, width, chosen)

    voi_lut = attrs.get("VOILUTSequence")
    if voi_lut and "LUTDescriptor" in voi_lut[0] and "LUTData" in voi_lut[0]:
        descriptor = voi_lut[0].LUTDescriptor
        try:
            bits = int(descriptor[2])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mapped = apply_voi(np.rint(np.nan_to_num(values)).astype(np.int64), attrs)
        except Exception as exc:  # malformed descriptor or data
            raise RenderError(
                f"the VOI LUT Sequence cannot be applied: {type(exc).__name__}: {exc}"
            ) from exc
        return np.asarray(mapped, dtype=np.float64) / float(2**bits - 1)

    return _min_max(values, present)


def _render_grayscale(
    frame: DecodedFrame, window: tuple[float, float] | None, function: str | None
) -> np.ndarray:
    attrs = _frame_attributes(frame.dataset, frame.index)
    pixels = frame.pixels
    lookup = _lookup_domain(pixels)
    if lookup is None:
        return _grayscale_values(pixels, attrs, frame, window, function, None)
    # Every step is a function of the stored value alone (the min/max
    # extremes are taken over the values present): compute it once per
    # distinct stored value and index the table with the frame
    domain, index, present = lookup
    table = _grayscale_values(domain, attrs, frame, window, function, present)
    return table[index]


_LUT_MIN_PIXELS = 4096


def _lookup_domain(
    pixels: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, Callable[[], np.ndarray]] | None:
    """(stored values min..max, each pixel's index into them, which of them occur) for integer frames.

    The last is a function (counting the values costs as much as the rest):
    only the min/max VOI needs it.

    ``None`` when a lookup table would not be smaller than the frame (float
    data, small frames, or a range of stored values wider than the frame).
    """
    if (
        not np.issubdtype(pixels.dtype, np.integer)
        or pixels.dtype.itemsize > 4
        or pixels.size < _LUT_MIN_PIXELS
    ):
        return None
    low, high = int(pixels.min()), int(pixels.max())
    span = high - low + 1
    if span > pixels.size:
        return None
    domain = np.arange(low, high + 1, dtype=np.int64).astype(pixels.dtype)
    index = pixels.astype(np.intp)
    if low:
        index -= low

    def present() -> np.ndarray:
        return np.bincount(index.ravel(), minlength=span).astype(bool)

    return domain, index, present


def _grayscale_values(
    pixels: np.ndarray,
    attrs: Dataset,
    frame: DecodedFrame,
    window: tuple[float, float] | None,
    function: str | None,
    present: Callable[[], np.ndarray] | None,
) -> np.ndarray:
    """Stored values -> 8-bit display values (Modality LUT, VOI, polarity), element by element."""
    values = _apply_modality(pixels, attrs)
    out = _apply_voi(values, attrs, window, function, present)
    shape = str(attrs.get("PresentationLUTShape") or "").strip().upper()
    # MONOCHROME1: minimum is white. A Presentation LUT Shape of INVERSE says
    # the same (DX requires it together with MONOCHROME1): invert once.
    if frame.photometric_interpretation == "MONOCHROME1" or shape == "INVERSE":
        out = 1.0 - out
    return _unit_to_uint8(out)


def _unit_to_uint8(values: np.ndarray) -> np.ndarray:
    values = np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)


def _scale_to_uint8(pixels: np.ndarray, bits_stored: int) -> np.ndarray:
    if pixels.dtype == np.uint8 and bits_stored == 8:
        return np.ascontiguousarray(pixels)
    if np.issubdtype(pixels.dtype, np.floating):
        return _unit_to_uint8(_min_max(pixels.astype(np.float64)))
    maximum = float(2 ** max(1, bits_stored) - 1)
    return _unit_to_uint8(pixels.astype(np.float64) / maximum)


def _render_palette(frame: DecodedFrame) -> np.ndarray:
    ds = frame.dataset
    lut_source = _palette_dataset(ds)
    try:
        rgb = apply_color_lut(frame.pixels, lut_source)
        # LUT entries are 8 or 16 bits; some writers put 8-bit values in 16-bit entries
        if rgb.dtype.itemsize > 1:
            descriptor = ds.RedPaletteColorLookupTableDescriptor
            entries = int(descriptor[0]) or 2**16
            first = int(descriptor[1])
            full = apply_color_lut(np.arange(first, first + entries, dtype=np.int64), lut_source)
            bits = 16 if int(full.max()) > 255 else 8
        else:
            bits = 8
    except Exception as exc:  # missing or malformed palette descriptors/data
        raise RenderError(
            f"the Palette Color Lookup Table cannot be applied: {type(exc).__name__}: {exc}"
        ) from exc
    return _scale_to_uint8(rgb[..., :3], bits)


def _palette_dataset(ds: Dataset) -> Dataset:
    """``ds``, with 16-bit palette data byte-swapped for big endian (pydicom reads OW as little endian)."""
    ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", ""))
    if ts != "1.2.840.10008.1.2.2" or "RedPaletteColorLookupTableData" not in ds:
        return ds
    descriptor = ds.get("RedPaletteColorLookupTableDescriptor")
    if not descriptor or int(descriptor[2]) != 16:
        return ds
    swapped = Dataset()
    swapped.file_meta = ds.file_meta
    swapped.set_original_encoding(*ds.original_encoding)
    for elem in ds:
        if elem.tag >> 16 == 0x0028:
            swapped[elem.tag] = elem
    for colour in ("Red", "Green", "Blue", "Alpha"):
        keyword = f"{colour}PaletteColorLookupTableData"
        if keyword in ds:
            data = np.frombuffer(bytes(ds[keyword].value), dtype=">u2").astype("<u2").tobytes()
            swapped[keyword] = ds[keyword]
            swapped[keyword].value = data
    return swapped


# --------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------
def _normalise_media_type(media_type: str) -> str:
    normalised = media_type.split(";", 1)[0].strip().lower()
    if normalised not in RENDER_MEDIA_TYPES:
        raise ValueError(
            f"media_type must be one of {', '.join(RENDER_MEDIA_TYPES)}, got {media_type!r}"
        )
    return normalised


def _check_viewport(viewport: tuple[int, int] | None) -> tuple[int, int] | None:
    if viewport is None:
        return None
    try:
        width, height = (int(v) for v in viewport)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"viewport must be a (width, height) pair of integers, got {viewport!r}"
        ) from exc
    if width <= 0 or height <= 0:
        raise ValueError(f"viewport width and height must be > 0, got {width}x{height}")
    return width, height


def _check_quality(quality: int) -> int:
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ValueError(f"quality must be an integer from 1 to 100, got {quality!r}")
    return quality


def check_render_options(
    media_type: str, viewport: tuple[int, int] | None, quality: int
) -> tuple[str, tuple[int, int] | None, int]:
    """Validate the output options of :func:`encode_image` (raises ValueError naming the parameter)."""
    return _normalise_media_type(media_type), _check_viewport(viewport), _check_quality(quality)


def fit_viewport(columns: int, rows: int, viewport: tuple[int, int]) -> tuple[int, int]:
    """The (width, height) of a columns x rows image scaled to fit ``viewport``, keeping its aspect ratio."""
    width, height = viewport
    scale = min(width / columns, height / rows)
    return max(1, min(width, round(columns * scale))), max(1, min(height, round(rows * scale)))


def encode_image(
    image: np.ndarray,
    *,
    media_type: str = "image/png",
    viewport: tuple[int, int] | None = None,
    quality: int = 90,
) -> bytes:
    """Encode an 8-bit display image as PNG or JPEG.

    Parameters
    ----------
    image
        ``uint8`` array, (rows, columns) or (rows, columns, 3), e.g. from
        :func:`render_frame`.
    media_type
        ``image/png`` (lossless) or ``image/jpeg``.
    viewport
        ``(width, height)``: the image is scaled (up or down) to the largest
        size that fits inside it with the same aspect ratio.
    quality
        JPEG quality, 1 to 100 (ignored for PNG).

    Returns
    -------
    bytes

    Raises
    ------
    ValueError
        Unsupported ``media_type``, invalid ``viewport`` or ``quality``, or an
        ``image`` that is not an 8-bit grayscale or RGB array.
    """
    media, size, quality = check_render_options(media_type, viewport, quality)
    if (
        image.dtype != np.uint8
        or image.ndim not in (2, 3)
        or (image.ndim == 3 and image.shape[2] != 3)
    ):
        raise ValueError(
            f"image must be a uint8 array of shape (rows, columns[, 3]), got {image.dtype} {image.shape}"
        )
    picture = Image.fromarray(np.ascontiguousarray(image))  # uint8 2-D -> "L", (.., 3) -> "RGB"
    if size is not None:
        target = fit_viewport(picture.width, picture.height, size)
        if target != picture.size:
            picture = picture.resize(target, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if media == "image/png":
        picture.save(out, format="PNG")
    else:
        picture.save(out, format="JPEG", quality=quality)
    return out.getvalue()
