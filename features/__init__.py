"""Data layer of duecast: the AR store, import, validation, synthetic data, labels, features."""
