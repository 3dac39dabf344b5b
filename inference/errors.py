"""Errors of `hrm.inference` that are the user's to fix; the CLI prints them on one line."""

from __future__ import annotations

from hrm.datasets.errors import HRMDataError


class InferenceError(HRMDataError):
    """A model cannot run what it was asked to (a task, a device, an evaluation)."""


class DeviceError(InferenceError):
    """The requested device does not exist or is not available on this machine."""
