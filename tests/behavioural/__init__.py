"""Tests of behavioural."""
