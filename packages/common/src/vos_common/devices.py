"""Choosing the torch device for an entry point's ``--device`` flag, the same way everywhere."""

from __future__ import annotations

from vos_common.errors import VOSDataError

__all__ = ["pick_device"]


def pick_device(requested: str | None = None):
    """The ``torch.device`` to run on: ``requested`` if given (``cpu``, ``cuda``, ``cuda:N``,
    ``mps``), else CUDA when torch sees a GPU, else the CPU.

    Asking for a device torch cannot use is a user error (one line), not a late CUDA traceback.
    """
    import torch

    if not requested:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        message = f"unknown device {requested!r} (use cpu, cuda or cuda:N)"
        raise VOSDataError(None, message) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            message = f"--device {requested} requested but torch sees no CUDA device"
            raise VOSDataError(None, message)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise VOSDataError(
                None,
                f"--device {requested}: only {torch.cuda.device_count()} CUDA device(s) visible",
            )
    elif device.type == "mps":
        backend = getattr(torch.backends, "mps", None)
        if backend is None or not backend.is_available():
            raise VOSDataError(None, f"--device {requested} requested but MPS is not available")
    return device
