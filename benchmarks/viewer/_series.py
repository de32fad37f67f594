"""A synthetic CT study of N axial slices (512x512, signed 16 bit), written with pydicom.

The volume is a numeric phantom, not noise: an elliptical body of soft tissue
(~40 HU) in air (-1000 HU), a skin layer, lungs (-850 HU) in the upper part
of the stack, a spine and ribs (~700 HU), a few round organs and vessels, and
Gaussian noise (sigma 12 HU), so the images look like CT under a soft-tissue
window and compress like CT. Every slice is a CT Image Storage object (Explicit
VR Little Endian) with the geometry a viewer needs to build a volume: one
Frame of Reference, Image Position / Orientation (Patient), Slice Location,
Pixel Spacing, Slice Thickness, Rescale Slope / Intercept, a window.
Deterministic for a seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID

SIZE = 512
PIXEL_SPACING = 0.7  # mm
SLICE_THICKNESS = 1.25  # mm
INTERCEPT = -1024


def _uid(rng: random.Random) -> str:
    return f"2.25.{rng.getrandbits(122) | (1 << 121)}"


@dataclass(frozen=True)
class CTStudy:
    """Where the generated study is and its UIDs."""

    directory: Path
    study_uid: str
    series_uid: str
    slices: int
    files: tuple[Path, ...]

    @property
    def bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)


def _slice_hu(z: float, grid: tuple[np.ndarray, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Hounsfield units of one axial slice at relative height z (0 = feet end, 1 = head end)."""
    x, y = grid
    hu = np.full((SIZE, SIZE), -1000.0)
    body = (x / 0.82) ** 2 + (y / 0.62) ** 2
    hu[body <= 1.0] = 40.0
    hu[(body > 0.93) & (body <= 1.0)] = -90.0  # subcutaneous fat
    if z > 0.45:  # thorax: two lungs
        for cx in (-0.38, 0.38):
            lung = ((x - cx) / 0.30) ** 2 + ((y + 0.05) / 0.42) ** 2
            hu[lung <= 1.0] = -850.0
        heart = ((x + 0.08) / 0.22) ** 2 + ((y + 0.12) / 0.2) ** 2
        hu[heart <= 1.0] = 45.0
    else:  # abdomen: liver, kidneys
        liver = ((x + 0.35) / 0.33) ** 2 + ((y + 0.1) / 0.3) ** 2
        hu[liver <= 1.0] = 60.0
        for cx in (-0.3, 0.3):
            kidney = ((x - cx) / 0.09) ** 2 + ((y - 0.28) / 0.13) ** 2
            hu[kidney <= 1.0] = 150.0
    aorta = ((x - 0.05) / 0.05) ** 2 + ((y - 0.12) / 0.05) ** 2
    hu[aorta <= 1.0] = 200.0
    spine = (x / 0.1) ** 2 + ((y - 0.4) / 0.09) ** 2
    hu[spine <= 1.0] = 700.0
    hu[(spine <= 0.5)] = 300.0  # cancellous bone
    if z > 0.45 and int(z * 60) % 3 == 0:  # ribs, every few slices
        ring = (x / 0.75) ** 2 + (y / 0.56) ** 2
        hu[(ring > 0.9) & (ring <= 1.0) & (np.abs(x) > 0.2)] = 650.0
    hu += rng.normal(0.0, 12.0, hu.shape)
    return hu


def write_ct_study(directory: Path, slices: int = 300, *, seed: int = 14) -> CTStudy:
    """Write a CT study of ``slices`` axial slices into ``directory`` (created); one file per slice."""
    if slices < 1:
        raise ValueError(f"slices must be at least 1, got {slices}")
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    study_uid, series_uid, frame_uid = _uid(rng), _uid(rng), _uid(rng)
    coords = (np.arange(SIZE) - SIZE / 2 + 0.5) / (SIZE / 2)
    grid = np.meshgrid(coords, coords)
    files: list[Path] = []
    for i in range(slices):
        z_mm = -slices * SLICE_THICKNESS / 2 + i * SLICE_THICKNESS
        hu = _slice_hu(i / max(1, slices - 1), (grid[0], grid[1]), noise)
        stored = np.clip(np.rint(hu - INTERCEPT), -2048, 4095).astype(np.int16)
        sop_uid = _uid(rng)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds = Dataset()
        ds.file_meta = meta
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop_uid
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20261201"
        ds.StudyTime = ds.SeriesTime = "093000"
        ds.ContentTime = f"0930{i // 100:02d}.{i % 100:02d}"
        ds.AccessionNumber = "VIEWBENCH01"
        ds.Modality = "CT"
        ds.Manufacturer = "radhub benchmark"
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = f"CT chest abdomen ({slices} slices, viewer benchmark)"
        ds.SeriesDescription = "Axial 1.25 mm"
        ds.PatientName = "BENCHMARK^VIEWER"
        ds.PatientID = "VIEWBENCH"
        ds.PatientBirthDate = "19700101"
        ds.PatientSex = "O"
        ds.BodyPartExamined = "CHEST"
        ds.SliceThickness = SLICE_THICKNESS
        ds.KVP = 120
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = "1"
        ds.SeriesNumber = 2
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [-SIZE * PIXEL_SPACING / 2, -SIZE * PIXEL_SPACING / 2, round(z_mm, 3)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.FrameOfReferenceUID = frame_uid
        ds.PositionReferenceIndicator = ""
        ds.SliceLocation = round(z_mm, 3)
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ds.Columns = SIZE
        ds.PixelSpacing = [PIXEL_SPACING, PIXEL_SPACING]
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.WindowCenter = 40
        ds.WindowWidth = 400
        ds.RescaleIntercept = INTERCEPT
        ds.RescaleSlope = 1
        ds.RescaleType = "HU"
        ds.PixelData = stored.tobytes()
        path = directory / f"CT{i + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return CTStudy(directory, study_uid, series_uid, slices, tuple(files))
