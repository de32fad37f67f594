"""Media types (PS3.18 8.7): parsing Content-Type and Accept, transfer syntax <-> media type."""

from __future__ import annotations

from dataclasses import dataclass, field

from radhub.api.dicomweb.errors import BadRequestError

__all__ = [
    "EXPLICIT_VR_LE",
    "IMPLICIT_VR_LE",
    "MediaRange",
    "canonical",
    "parse_accept",
    "parse_media_type",
    "related_type_matches",
]

IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
DEFLATED_VR_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_VR_BE = "1.2.840.10008.1.2.2"
NATIVE_LITTLE_ENDIAN = frozenset({IMPLICIT_VR_LE, EXPLICIT_VR_LE, DEFLATED_VR_LE})
NATIVE = NATIVE_LITTLE_ENDIAN | {EXPLICIT_VR_BE}

# names some clients and libraries use for the same thing
MEDIA_ALIASES = {
    "image/x-dicom-rle": "image/dicom-rle",
    "image/x-jls": "image/jls",
}


def canonical(media_type: str) -> str:
    """Lower-cased media type with known aliases folded (``image/x-jls`` -> ``image/jls``)."""
    m = media_type.strip().lower()
    return MEDIA_ALIASES.get(m, m)


@dataclass(frozen=True)
class MediaRange:
    """One media type or range with its parameters (names lower-cased, values unquoted)."""

    type: str
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0

    def matches(self, media_type: str) -> bool:
        """True if this range (``*/*``, ``image/*`` or exact) covers ``media_type``."""
        return _range_matches(self.type, media_type)

    @property
    def related_type(self) -> str | None:
        """The ``type`` parameter of a ``multipart/related`` range (canonical), if any."""
        t = self.params.get("type")
        return canonical(t) if t else None

    @property
    def transfer_syntax(self) -> str | None:
        """The ``transfer-syntax`` parameter, if any."""
        ts = self.params.get("transfer-syntax")
        return ts.strip() if ts else None


def _range_matches(pattern: str, media_type: str) -> bool:
    pattern, media_type = canonical(pattern), canonical(media_type)
    if pattern in ("*/*", "*"):
        return True
    if pattern.endswith("/*"):
        return media_type.split("/", 1)[0] == pattern[:-2]
    return pattern == media_type


def related_type_matches(range_: MediaRange, media_type: str) -> bool:
    """True if a ``multipart/related`` range accepts parts of ``media_type`` (no type = any)."""
    t = range_.related_type
    return t is None or _range_matches(t, media_type)


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def parse_media_type(value: str, *, header: str = "Content-Type") -> MediaRange:
    """Parse one media type with parameters (``multipart/related; type="application/dicom"``)."""
    pieces = _split_outside_quotes(value, ";")
    mtype = pieces[0].strip().lower()
    if "/" not in mtype or " " in mtype:
        raise BadRequestError(f"{header} value {value[:100]!r} is not a media type (type/subtype)")
    params: dict[str, str] = {}
    q = 1.0
    for piece in pieces[1:]:
        if not piece.strip():
            continue
        name, sep, v = piece.partition("=")
        if not sep:
            raise BadRequestError(f"{header} parameter {piece.strip()[:60]!r} is not name=value")
        name = name.strip().lower()
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] == '"':
            v = v[1:-1]
        if name == "q":
            try:
                q = float(v)
            except ValueError as exc:
                raise BadRequestError(f"{header} quality value q={v!r} is not a number") from exc
            continue
        params[name] = v
    return MediaRange(mtype, params, q)


def parse_accept(value: str | None) -> list[MediaRange]:
    """Media ranges of an Accept header, best first; ``*/*`` when the header is absent or empty."""
    if value is None or not value.strip():
        return [MediaRange("*/*")]
    ranges = [
        parse_media_type(p, header="Accept") for p in _split_outside_quotes(value, ",") if p.strip()
    ]
    ranges = [r for r in ranges if r.q > 0]
    # stable: equal q keeps the client's order
    return sorted(ranges, key=lambda r: -r.q)
