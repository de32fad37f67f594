"""Benchmark corpora: the real files of ../shared/data/dicom and generated realistic studies.

Generated studies are made from real files of the shared corpus by rewriting
the identifying attributes (Study/Series/SOP Instance UIDs, Frame of
Reference, patient identity, accession number, dates) and, for CT and MR,
the slice geometry (Instance Number, Image Position, Slice Location), so
that every generated instance is a distinct, valid object with real pixel
data:

* CT: one axial series of 200-500 slices cycled from the 28 real slices of
  ``dcm_qa_ct_GE`` (512x512, 16 bit, explicit VR little endian, ~514 KiB);
* MR: 3-5 series of 20-40 slices from ``dcm_qa_ts/1.dcm`` (384x384);
* CR: two views from ``pydicom-data/RG3_J2KR.dcm`` (1760x1760, JPEG 2000 lossless);
* DX: one view from ``highdicom/dx_image.dcm``;
* MG: four views (L/R CC/MLO) from ``pydicom-data/RG1_J2KI.dcm`` (1955x1841,
  JPEG 2000) relabelled as Digital Mammography X-Ray (For Presentation):
  the corpus has no mammogram, so this one keeps a real compressed pixel
  stream of mammography-like size under the MG SOP class.

The generator is deterministic for a given seed and size.
"""

from __future__ import annotations

import csv
import json
import os
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

REPO = Path(__file__).resolve().parents[2]
DICOM_DIR = Path(
    os.environ.get("RADHUB_BENCH_DICOM_DIR")
    or Path(os.environ.get("RADHUB_SHARED_DATA", REPO.parent / "shared" / "data")) / "dicom"
)

MG_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"

# study counts per corpus size; CT slices per series are drawn from the range
SIZES: dict[str, dict[str, object]] = {
    "smoke": {"ct": 1, "mr": 1, "cr": 1, "dx": 1, "mg": 1, "ct_slices": (6, 8), "mr_series": (1, 1), "mr_slices": (3, 3)},
    "small": {"ct": 2, "mr": 2, "cr": 10, "dx": 6, "mg": 5, "ct_slices": (200, 500), "mr_series": (3, 5), "mr_slices": (20, 40)},
    "medium": {"ct": 4, "mr": 4, "cr": 20, "dx": 10, "mg": 10, "ct_slices": (200, 500), "mr_series": (3, 5), "mr_slices": (20, 40)},
    "full": {"ct": 10, "mr": 10, "cr": 60, "dx": 30, "mg": 30, "ct_slices": (200, 500), "mr_series": (3, 5), "mr_slices": (20, 40)},
}

_SYLLABLES = ["AN", "BER", "CA", "DOR", "EL", "FI", "GAR", "HO", "IS", "JO", "KAL", "LIN", "MO", "NOR", "OL", "PE", "QUIN", "RO", "SAN", "TEL", "UR", "VAN", "WIL", "XA", "YO", "ZED"]
_GIVEN = ["ALEX", "SAM", "KIM", "LEE", "PAT", "ROBIN", "JORDAN", "TAYLOR", "CASEY", "MORGAN", "JAMIE", "DREW"]


def surnames(n: int = 300, seed: int = 7) -> list[str]:
    """A deterministic pool of synthetic surnames (no real patient names)."""
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


def new_uid(rng: random.Random) -> str:
    """A random UUID-derived UID (PS3.5 B.2), ``2.25.<int>``."""
    return f"2.25.{rng.getrandbits(122) | (1 << 121)}"


@dataclass
class CorpusFile:
    """One object of a corpus."""

    path: str
    size: int
    modality: str


@dataclass
class CorpusStudy:
    """The files of one study (a unit of work for a client)."""

    study_uid: str
    modality: str
    files: list[CorpusFile] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass
class Corpus:
    """A list of studies, with totals."""

    name: str
    studies: list[CorpusStudy]

    @property
    def files(self) -> list[CorpusFile]:
        return [f for s in self.studies for f in s.files]

    @property
    def size(self) -> int:
        return sum(s.size for s in self.studies)

    def describe(self) -> str:
        n = len(self.files)
        by_mod: dict[str, int] = {}
        for f in self.files:
            by_mod[f.modality] = by_mod.get(f.modality, 0) + 1
        mods = ", ".join(f"{m} {c}" for m, c in sorted(by_mod.items()))
        return f"{self.name}: {len(self.studies)} studies, {n} instances, {self.size / 1e6:.1f} MB ({mods})"

    def partition(self, clients: int) -> list[list[CorpusStudy]]:
        """Studies split between ``clients`` with about equal bytes each (largest first)."""
        parts: list[list[CorpusStudy]] = [[] for _ in range(clients)]
        loads = [0] * clients
        for s in sorted(self.studies, key=lambda s: -s.size):
            i = loads.index(min(loads))
            parts[i].append(s)
            loads[i] += s.size
        return parts

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"name": self.name, "studies": [asdict(s) for s in self.studies]}))

    @classmethod
    def load(cls, path: Path) -> Corpus:
        raw = json.loads(path.read_text())
        studies = [
            CorpusStudy(s["study_uid"], s["modality"], [CorpusFile(**f) for f in s["files"]]) for s in raw["studies"]
        ]
        return cls(raw["name"], studies)


def real_corpus(dicom_dir: Path = DICOM_DIR) -> Corpus:
    """The valid objects of the shared corpus, grouped by study (manifest.csv ``valid=yes``)."""
    manifest = dicom_dir / "manifest.csv"
    if not manifest.exists():
        raise FileNotFoundError(f"{manifest} not found: the shared DICOM corpus is required")
    by_study: dict[str, CorpusStudy] = {}
    with manifest.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["valid"] != "yes" or not row["study_instance_uid"] or row["path"].startswith("malformed"):
                continue
            p = dicom_dir / row["path"]
            st = by_study.setdefault(row["study_instance_uid"], CorpusStudy(row["study_instance_uid"], row["modality"]))
            st.files.append(CorpusFile(str(p), p.stat().st_size, row["modality"] or "OT"))
    return Corpus("real", list(by_study.values()))


class _Identity:
    def __init__(self, rng: random.Random, names: list[str], n: int) -> None:
        self.patient_id = f"BENCH{n:07d}"
        self.patient_name = f"{rng.choice(names)}^{rng.choice(_GIVEN)}"
        self.birth_date = f"{rng.randint(1930, 2010)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        self.sex = rng.choice("MF")
        self.study_date = f"{rng.randint(2015, 2024)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        self.study_time = f"{rng.randint(7, 19):02d}{rng.randint(0, 59):02d}{rng.randint(0, 59):02d}"
        self.accession = f"ACC{n:08d}"


def _apply_identity(ds: Dataset, ident: _Identity, study_uid: str, study_id: int) -> None:
    ds.PatientID = ident.patient_id
    ds.PatientName = ident.patient_name
    ds.PatientBirthDate = ident.birth_date
    ds.PatientSex = ident.sex
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = ident.study_date
    ds.StudyTime = ident.study_time
    ds.AccessionNumber = ident.accession
    ds.StudyID = str(study_id)
    for kw in ("OtherPatientIDs", "OtherPatientNames", "OtherPatientIDsSequence", "InstitutionAddress"):
        if kw in ds:
            delattr(ds, kw)


class Generator:
    """Writes generated studies under ``out_dir`` (one folder per study)."""

    def __init__(self, out_dir: Path, seed: int = 20240501, dicom_dir: Path = DICOM_DIR) -> None:
        self.out = out_dir
        self.rng = random.Random(seed)
        self.names = surnames()
        self.dicom_dir = dicom_dir
        self._n = 0
        self._templates: dict[str, list[Dataset]] = {}

    def _tpl(self, key: str) -> list[Dataset]:
        if key not in self._templates:
            d = self.dicom_dir
            if key == "CT":
                paths = sorted((d / "dcm_qa_ct_GE").glob("*.dcm"))
            elif key == "MR":
                paths = [d / "dcm_qa_ts" / "1.dcm"]
            elif key == "CR":
                paths = [d / "pydicom-data" / "RG3_J2KR.dcm"]
            elif key == "DX":
                paths = [d / "highdicom" / "dx_image.dcm"]
            else:
                paths = [d / "pydicom-data" / "RG1_J2KI.dcm"]
            missing = [p for p in paths if not p.exists()]
            if not paths or missing:
                raise FileNotFoundError(f"template files for {key} are missing from {d}: {missing or 'none found'}")
            self._templates[key] = [pydicom.dcmread(p) for p in paths]
        return self._templates[key]

    def _write(self, ds: Dataset, sop_uid: str, path: Path) -> CorpusFile:
        ds.SOPInstanceUID = sop_uid
        ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        return CorpusFile(str(path), path.stat().st_size, str(ds.Modality))

    def study(self, modality: str, spec: dict[str, object]) -> CorpusStudy:
        """Write one study of ``modality`` (CT, MR, CR, DX or MG)."""
        rng = self.rng
        self._n += 1
        ident = _Identity(rng, self.names, self._n)
        study_uid = new_uid(rng)
        st = CorpusStudy(study_uid, modality)
        folder = self.out / f"{self._n:05d}-{modality}"
        templates = self._tpl(modality)
        if modality in ("CT", "MR"):
            if modality == "CT":
                lo, hi = spec["ct_slices"]  # type: ignore[misc]
                series_plan = [rng.randint(lo, hi)]
            else:
                slo, shi = spec["mr_series"]  # type: ignore[misc]
                lo, hi = spec["mr_slices"]  # type: ignore[misc]
                series_plan = [rng.randint(lo, hi) for _ in range(rng.randint(slo, shi))]
            for s_no, n_slices in enumerate(series_plan, start=1):
                series_uid, for_uid = new_uid(rng), new_uid(rng)
                for i in range(n_slices):
                    ds = templates[i % len(templates)]
                    _apply_identity(ds, ident, study_uid, self._n)
                    ds.SeriesInstanceUID = series_uid
                    ds.SeriesNumber = s_no
                    if "FrameOfReferenceUID" in ds:
                        ds.FrameOfReferenceUID = for_uid
                    ds.InstanceNumber = i + 1
                    if "ImagePositionPatient" in ds:
                        x, y, _ = (float(v) for v in ds.ImagePositionPatient)
                        ds.ImagePositionPatient = [x, y, round(-400.0 + 1.25 * i, 4)]
                    if "SliceLocation" in ds:
                        ds.SliceLocation = round(-400.0 + 1.25 * i, 4)
                    st.files.append(self._write(ds, new_uid(rng), folder / f"{s_no:02d}" / f"{i + 1:04d}.dcm"))
            return st
        ds = templates[0]
        views = {"CR": [("PA", ""), ("LL", "")], "DX": [("PA", "")], "MG": [("CC", "R"), ("MLO", "R"), ("CC", "L"), ("MLO", "L")]}[modality]
        series_uid = new_uid(rng)
        for i, (view, lat) in enumerate(views):
            _apply_identity(ds, ident, study_uid, self._n)
            if modality == "MG":
                ds.SOPClassUID = MG_FOR_PRESENTATION
                ds.Modality = "MG"
                ds.ImageLaterality = lat
                ds.BodyPartExamined = "BREAST"
            ds.SeriesInstanceUID = series_uid
            ds.SeriesNumber = 1
            ds.InstanceNumber = i + 1
            ds.ViewPosition = view
            st.files.append(self._write(ds, new_uid(rng), folder / f"{i + 1:02d}.dcm"))
        return st

    def corpus(self, size: str) -> Corpus:
        """Generate a whole corpus of the named size (smoke, small, medium, full)."""
        if size not in SIZES:
            raise ValueError(f"corpus size must be one of {', '.join(SIZES)}, got {size!r}")
        spec = SIZES[size]
        studies: list[CorpusStudy] = []
        for modality in ("CT", "MR", "CR", "DX", "MG"):
            for _ in range(int(spec[modality.lower()])):  # type: ignore[call-overload]
                studies.append(self.study(modality, spec))
        return Corpus(f"generated-{size}", studies)


def generated_corpus(data_dir: Path, size: str, seed: int = 20240501) -> Corpus:
    """The generated corpus of ``size`` in ``data_dir``, generating it on first use."""
    root = data_dir / f"generated-{size}-{seed}"
    index = root / "corpus.json"
    if index.exists():
        corpus = Corpus.load(index)
        if all(os.path.exists(f.path) for f in corpus.files[:50]):
            return corpus
    root.mkdir(parents=True, exist_ok=True)
    corpus = Generator(root, seed).corpus(size)
    corpus.save(index)
    return corpus


def iter_chunks(path: str, chunk: int = 1 << 20) -> Iterator[bytes]:
    """A file's bytes in chunks."""
    with open(path, "rb") as fh:
        while True:
            b = fh.read(chunk)
            if not b:
                return
            yield b
