import pytest
import torch
from vos_common.devices import pick_device
from vos_common.errors import VOSDataError


def test_default_is_cuda_only_when_available():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device(None).type == expected
    assert pick_device("").type == expected


def test_explicit_cpu():
    assert pick_device("cpu") == torch.device("cpu")


def test_unknown_device_is_one_line_error():
    with pytest.raises(VOSDataError, match="unknown device 'gpu0'"):
        pick_device("gpu0")


def test_cuda_without_gpu_is_one_line_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device(None) == torch.device("cpu")
    with pytest.raises(VOSDataError, match="sees no CUDA device"):
        pick_device("cuda")
    with pytest.raises(VOSDataError, match="sees no CUDA device"):
        pick_device("cuda:1")
