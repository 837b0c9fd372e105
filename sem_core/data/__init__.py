"""Data: SEM image decoding, dataset layouts and manifests, splits, duplicates, synthetic SEM."""
