"""The send page's throughput: Chromium uploads generated DICOM through /send (tus) to radhub on loopback.

``python -m benchmarks.send_page [--mb 75] [--smoke]``; see ``__main__.py``.
"""
