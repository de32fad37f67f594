"""One retrieve path for WADO-RS, C-MOVE and C-GET: instances, frames, rendered images."""

from radhub.retrieve._frames import (
    FRAME_MEDIA_TYPES,
    NATIVE_FRAME_TRANSFER_SYNTAX,
    frame_bytes,
    frame_count,
    frame_media_type,
    frame_transfer_syntax,
    native_tail_frame,
    render,
)
from radhub.retrieve._instances import Retriever
from radhub.retrieve.errors import FrameError, RetrieveError

__all__ = [
    "FRAME_MEDIA_TYPES",
    "FrameError",
    "NATIVE_FRAME_TRANSFER_SYNTAX",
    "RetrieveError",
    "Retriever",
    "frame_bytes",
    "frame_count",
    "frame_media_type",
    "frame_transfer_syntax",
    "native_tail_frame",
    "render",
]
