"""Errors raised by :mod:`radhub.radiomics`.

Hierarchy::

    RadiomicsError (ValueError)
    ├── ImageError                 an image cannot be read or stacked
    │   └── ImageNotFoundError     no file / no series with that UID in the archive
    ├── RoiError                   a region of interest is unusable
    │   ├── MaskMismatchError      mask geometry differs from its image
    │   ├── EmptyMaskError         the mask has no voxel with the label
    │   └── RoiOutsideImageError   a shape lies (partly) outside the image
    ├── ParameterError             an extraction parameter file is invalid
    ├── ManifestError              a manifest or feature table is malformed
    ├── ExtractionError            pyradiomics failed on one ROI
    ├── SearchError                the model search cannot run on this data
    ├── ModelError                 a saved model cannot be loaded or applied
    ├── RuleError                  a score rule is malformed or cannot be applied
    └── MiasError                  the mini-MIAS folder or Info.txt is unusable

All derive from ``ValueError`` so that callers treating bad input generically
keep working; messages name the parameter or file and the fix, never patient data.
"""

from __future__ import annotations

__all__ = [
    "EmptyMaskError",
    "ExtractionError",
    "ImageError",
    "ImageNotFoundError",
    "ManifestError",
    "MaskMismatchError",
    "MiasError",
    "ModelError",
    "ParameterError",
    "RadiomicsError",
    "RoiError",
    "RoiOutsideImageError",
    "RuleError",
    "SearchError",
]


class RadiomicsError(ValueError):
    """Base class of every radiomics error."""


class ImageError(RadiomicsError):
    """An image cannot be read, decoded or stacked into a volume."""


class ImageNotFoundError(ImageError):
    """The image file or archive series does not exist."""


class RoiError(RadiomicsError):
    """A region of interest cannot be used."""


class MaskMismatchError(RoiError):
    """The mask's size, spacing, origin or direction differs from its image."""


class EmptyMaskError(RoiError):
    """The mask contains no voxel with the requested label."""


class RoiOutsideImageError(RoiError):
    """A shape (circle, polygon, sphere) lies outside the image."""


class ParameterError(RadiomicsError):
    """The extraction parameter file is invalid."""


class ManifestError(RadiomicsError):
    """A manifest or feature table lacks columns or holds bad values."""


class ExtractionError(RadiomicsError):
    """Feature extraction failed for one ROI."""


class SearchError(RadiomicsError):
    """The model search cannot run on the given data."""


class ModelError(RadiomicsError):
    """A saved model cannot be loaded or applied to a table."""


class RuleError(RadiomicsError):
    """A score rule is malformed or refers to features the table lacks."""


class MiasError(RadiomicsError):
    """The mini-MIAS root folder or its Info.txt cannot be used."""
