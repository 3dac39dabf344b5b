"""Hierarchical Reasoning Model: modules and checkpoint I/O."""
