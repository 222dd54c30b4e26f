"""Factories and helpers the tests share: seeded data, stores, bundles, clients."""
