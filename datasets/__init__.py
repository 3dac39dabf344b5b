"""Puzzle tasks, generators, sources and the on-disk dataset format."""
