"""Radiomics extraction throughput: radhub's executors against a plain serial pyradiomics loop."""
