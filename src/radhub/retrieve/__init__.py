"""One retrieve path for WADO-RS, C-MOVE and C-GET: instances, frames, rendered images."""

from radhub.retrieve._instances import Retriever

__all__ = ["Retriever"]
