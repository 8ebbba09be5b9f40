"""Shared fixtures: shared/parity/rcf and a smoke-scale synthetic benchmark."""

from __future__ import annotations

import pytest
import torch

# Other packages' conftests (collected into the same xdist worker) pin torch to one thread.
# The float32 flow-head tensors of the parity cases round differently with one thread (up to
# 1.5e-5 against an absolute tolerance of 1e-5), so RCF's tests run with two threads, the
# configuration the fixtures were checked in, and restore the previous setting afterwards.
RCF_TEST_THREADS = 2


@pytest.fixture(autouse=True)
def _rcf_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(RCF_TEST_THREADS)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def parity():
    from vos_common.parity import parity_dir

    return parity_dir("rcf")


@pytest.fixture(scope="session")
def smoke_data(tmp_path_factory):
    from rcf.smoke import make_smoke_benchmark

    return make_smoke_benchmark(tmp_path_factory.mktemp("rcf_smoke"))


def assert_close_rel_max(
    actual: torch.Tensor, expected: torch.Tensor, rel: float, what: str = ""
) -> float:
    """max-abs error <= rel * max|expected|; returns the error."""
    actual, expected = actual.detach().double(), expected.detach().double()
    assert actual.shape == expected.shape, (
        f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    )
    error = (actual - expected).abs().max().item()
    bound = rel * max(expected.abs().max().item(), 1e-30)
    assert error <= bound, f"{what}: max-abs error {error:.3g} > {bound:.3g}"
    return error


def assert_close_abs(
    actual: torch.Tensor, expected: torch.Tensor, tol: float, what: str = ""
) -> float:
    actual, expected = actual.detach().double(), expected.detach().double()
    assert actual.shape == expected.shape, (
        f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    )
    error = (actual - expected).abs().max().item()
    assert error <= tol, f"{what}: max-abs error {error:.3g} > {tol:.3g}"
    return error


def assert_scalar_rel(actual: float, expected: float, rel: float, what: str = "") -> float:
    actual, expected = float(actual), float(expected)
    error = abs(actual - expected) / max(abs(expected), 1e-30)
    assert error <= rel, (
        f"{what}: {actual!r} vs {expected!r} (relative error {error:.3g} > {rel:.3g})"
    )
    return error


@pytest.fixture(scope="session")
def close():
    class Close:
        rel_max = staticmethod(assert_close_rel_max)
        abs = staticmethod(assert_close_abs)
        scalar = staticmethod(assert_scalar_rel)

    return Close
