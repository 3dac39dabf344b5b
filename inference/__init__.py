"""Running trained models: the solver behind `hrm solve`, `hrm eval --attempts` and the
TUI, the model store (shipped defaults, the cache, pulling and importing checkpoints),
devices, and the one function that turns what a user typed into a loaded model.

Imports `hrm.model` and `hrm.datasets`, never `hrm.train`.
"""
