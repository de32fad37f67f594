"""Large catalogs for the query workload, without writing a million full files.

One deterministic *plan* describes the catalog: studies (CT, MR, CR/DX, MG
mixes of series and instances), their patients (about 1.3 studies per
patient, surnames from a pool of 300), dates spread over 2015-2024. The
first N instances of the plan form the catalog of scale N, so a catalog is
grown 10k -> 100k -> 1M by appending.

Both archives receive the same logical content:

* radhub: **bulk indexing through the real index code**. For each modality a
  header-only template object (a real file of the shared corpus with its
  pixel data removed) is parsed by :func:`radhub.dicom.read_header` and turned
  into a catalog record by the ingest pipeline's
  :func:`radhub.ingest._pipeline.build_record`; its bytes are stored as a
  real blob. Each planned instance is that record with its identifying
  values replaced (UIDs, patient, dates, accession, numbers -- in the
  columns and in the stored PS3.18 JSON, by exact token replacement), and
  batches of 2000 go through :func:`radhub.catalog._bulk.bulk_index`, i.e.
  :meth:`Catalog.register_many`, the code every ingested instance goes
  through. PostgreSQL catalogs are ``ANALYZE``d after loading (autovacuum
  would do the same minutes later).
* Orthanc: the same header-only objects, with the same replacements made
  in the Part 10 bytes (every replaced value has a fixed length, so the
  bytes stay valid), sent to its REST API (``POST /instances``) by 4
  threads.
"""

from __future__ import annotations

import dataclasses
import io
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pydicom
from pydicom.dataset import Dataset

from benchmarks.archive._corpus import DICOM_DIR, surnames

_GIVEN = ["ALEX", "SAM", "KIM", "LEE", "PAT", "ROBIN", "JORDAN", "TAYLOR", "CASEY", "MORGAN"]

# placeholder values of fixed length; replacements have exactly the same length
_PH = {
    "study": "2.25.111111111111111111111111111111111111111",
    "series": "2.25.222222222222222222222222222222222222222",
    "sop": "2.25.333333333333333333333333333333333333333",
    "pid": "PID0000000000",
    "pname": "ZZPLACEHOLDERZZPATIENTZZNAMEZZZ",
    "date": "19000101",
    "acc": "ACC0000000000",
    "inum": "-987123654",
}
_UID_LEN = len(_PH["study"])

_TEMPLATE_FILES = {
    "CT": "dcm_qa_ct_GE/01.dcm",
    "MR": "dcm_qa_ts/1.dcm",
    "CR": "pydicom-data/RG3_J2KR.dcm",
    "DX": "highdicom/dx_image.dcm",
    "MG": "pydicom-data/RG1_J2KI.dcm",
}


def _uid(rng: random.Random) -> str:
    """A fixed-length (44 characters) ``2.25`` UID."""
    n = rng.randrange(10**38, 10**39)
    return f"2.25.{n}"


@dataclass(frozen=True)
class PlannedInstance:
    """One instance of the plan with its identifying values."""

    modality: str
    study_uid: str
    series_uid: str
    sop_uid: str
    patient_id: str
    patient_name: str
    study_date: str
    accession: str
    instance_number: int
    series_number: int


@dataclass(frozen=True)
class PlannedStudy:
    """A study of the plan (for choosing query values)."""

    study_uid: str
    patient_id: str
    surname: str
    study_date: str
    modality: str
    instances: int


class CatalogPlan:
    """The deterministic content of the scaled catalogs."""

    def __init__(self, seed: int = 42) -> None:
        self.seed = seed
        self.surnames = surnames(300, seed=seed)
        self.studies: list[PlannedStudy] = []

    def instances(self) -> Iterator[PlannedInstance]:
        """Every instance of the plan, study after study (endless)."""
        rng = random.Random(self.seed)
        patients: list[tuple[str, str, str]] = []
        n_study = 0
        while True:
            n_study += 1
            if patients and rng.random() < 0.25:
                pid, pname, surname = rng.choice(patients)
            else:
                surname = rng.choice(self.surnames)
                pid = f"PID{len(patients) + 1:010d}"
                # fixed length without trailing spaces (Orthanc does not match a
                # wildcard against a space-padded name): the given name is padded
                pname = (f"{surname}^{rng.choice(_GIVEN)}" + "X" * len(_PH["pname"]))[: len(_PH["pname"])]
                patients.append((pid, pname, surname))
            r = rng.random()
            if r < 0.30:
                modality, series_plan = "CT", [rng.randint(150, 350), 2]
            elif r < 0.50:
                modality, series_plan = "MR", [rng.randint(20, 40) for _ in range(4)]
            elif r < 0.70:
                modality, series_plan = "CR", [rng.randint(1, 3)]
            elif r < 0.85:
                modality, series_plan = "DX", [1]
            else:
                modality, series_plan = "MG", [4]
            date = f"{rng.randint(2015, 2024)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
            study_uid = _uid(rng)
            acc = f"ACC{n_study:010d}"
            self.studies.append(PlannedStudy(study_uid, pid, surname, date, modality, sum(series_plan)))
            for s_no, n in enumerate(series_plan, start=1):
                series_uid = _uid(rng)
                for i in range(n):
                    yield PlannedInstance(modality, study_uid, series_uid, _uid(rng), pid, pname, date, acc, i + 1, s_no)


def _template_dataset(modality: str, dicom_dir: Path = DICOM_DIR) -> Dataset:
    path = dicom_dir / _TEMPLATE_FILES[modality]
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    for tag in [t for t in ds.keys() if t.group >= 0x6000 and t.group <= 0x60FF or t.group == 0x7FE0]:
        del ds[tag]
    ds.StudyInstanceUID = _PH["study"]
    ds.SeriesInstanceUID = _PH["series"]
    ds.SOPInstanceUID = _PH["sop"]
    ds.file_meta.MediaStorageSOPInstanceUID = _PH["sop"]
    ds.PatientID = _PH["pid"]
    ds.PatientName = _PH["pname"]
    ds.StudyDate = _PH["date"]
    ds.AccessionNumber = _PH["acc"]
    ds.InstanceNumber = _PH["inum"]
    ds.SeriesNumber = "1"
    if modality == "MG":
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.Modality = "MG"
    for kw in ("FrameOfReferenceUID", "ReferencedImageSequence", "SourceImageSequence", "OtherPatientIDs"):
        if kw in ds:
            delattr(ds, kw)
    return ds


def _replacements(p: PlannedInstance) -> list[tuple[str, str]]:
    return [
        (_PH["study"], p.study_uid),
        (_PH["series"], p.series_uid),
        (_PH["sop"], p.sop_uid),
        (_PH["pid"], p.patient_id),
        (_PH["pname"], p.patient_name),
        (_PH["date"], p.study_date),
        (_PH["acc"], p.accession),
        (_PH["inum"], f"{p.instance_number:<10d}"),
    ]


def site_of(study_uid: str, sites: int) -> int:
    """The site (0 .. sites-1) a study of the plan belongs to in the authenticated mode."""
    return int(study_uid.rsplit(".", 1)[-1]) % sites


class TemplateSet:
    """Header-only template objects per modality, as Part 10 bytes."""

    def __init__(self, dicom_dir: Path = DICOM_DIR) -> None:
        self.bytes: dict[str, bytes] = {}
        for modality in _TEMPLATE_FILES:
            ds = _template_dataset(modality, dicom_dir)
            buf = io.BytesIO()
            ds.save_as(buf, enforce_file_format=True)
            raw = buf.getvalue()
            for ph in _PH.values():
                if raw.count(ph.encode()) < 1:
                    raise RuntimeError(f"placeholder {ph!r} not found in the {modality} template")
            self.bytes[modality] = raw

    def instance_bytes(self, p: PlannedInstance) -> bytes:
        """Part 10 bytes of one planned instance (same length as the template)."""
        raw = self.bytes[p.modality]
        for old, new in _replacements(p):
            if len(old) != len(new):
                raise ValueError(f"replacement {new!r} must have the length of {old!r}")
            raw = raw.replace(old.encode(), new.encode())
        return raw


class RadhubBulkLoader:
    """Appends planned instances to a radhub catalog through the bulk index path."""

    def __init__(self, database_url: str, data_dir: Path, templates: TemplateSet, *, org_pks: list[int] | None = None) -> None:
        from radhub.archive import Archive
        from radhub.config import Settings
        from radhub.dicom import read_header
        from radhub.ingest._pipeline import build_record

        self.archive = Archive.open(Settings(data_dir=data_dir, database_url=database_url), sweep=False)
        self.org_pks = org_pks
        """Authenticated mode: the organisations the studies are spread over (:func:`site_of`)."""
        self.templates: dict[str, tuple[object, str]] = {}
        for modality, raw in templates.bytes.items():
            writer = self.archive.store.writer()
            writer.write(raw)
            ref = writer.commit()
            header = read_header(io.BytesIO(raw), file_size=len(raw))
            rec = build_record(header, sha256=ref.sha256, size=ref.size, source="bulk")
            meta = rec.metadata if isinstance(rec.metadata, str) else __import__("json").dumps(rec.metadata, separators=(",", ":"))
            self.templates[modality] = (rec, meta)

    def records(self, planned: list[PlannedInstance]) -> Iterator[object]:
        for p in planned:
            rec, meta = self.templates[p.modality]
            for old, new in _replacements(p):
                meta = meta.replace(old, new.rstrip() if old in (_PH["pname"], _PH["inum"]) else new)
            yield dataclasses.replace(
                rec,  # type: ignore[type-var]
                sop_uid=p.sop_uid,
                study_uid=p.study_uid,
                series_uid=p.series_uid,
                patient_id=p.patient_id,
                patient_name=p.patient_name.rstrip(),
                study_date=p.study_date,
                accession_number=p.accession,
                instance_number=str(p.instance_number),
                series_number=str(p.series_number),
                metadata=meta,
                **({"org_pk": self.org_pks[site_of(p.study_uid, len(self.org_pks))]} if self.org_pks else {}),
            )

    def load(self, planned: list[PlannedInstance]) -> dict[str, int]:
        from radhub.catalog._bulk import bulk_index

        result = bulk_index(self.archive.catalog, self.records(planned), batch_size=2000)  # type: ignore[arg-type]
        if not self.archive.catalog.is_sqlite:
            with self.archive.catalog.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
                conn.commit()
        return result.to_dict()

    def close(self) -> None:
        self.archive.close()


def load_orthanc(base_url: str, templates: TemplateSet, planned: list[PlannedInstance], threads: int = 4) -> int:
    """POST header-only instances to Orthanc's REST API; returns how many were accepted."""
    lock = threading.Lock()
    it = iter(planned)
    ok = [0]
    errors: list[str] = []

    def worker() -> None:
        with httpx.Client(timeout=120) as client:
            while True:
                with lock:
                    p = next(it, None)
                if p is None:
                    return
                r = client.post(base_url + "/instances", content=templates.instance_bytes(p), headers={"Content-Type": "application/dicom"})
                with lock:
                    if r.status_code == 200:
                        ok[0] += 1
                    elif len(errors) < 5:
                        errors.append(f"{r.status_code}: {r.text[:200]}")

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError(f"Orthanc rejected header-only instances: {errors}")
    return ok[0]
