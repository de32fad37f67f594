"""radhub: an open-source imaging hub.

The DICOM archive (``radhub.ingest``, ``radhub.catalog``, ``radhub.store``,
``radhub.retrieve``, ``radhub.net``), its HTTP API (``radhub.api``) and the
research libraries (``radhub.stats``).
"""

import logging

__version__ = "0.1.0"
__all__ = ["__version__"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
