import pytest
import torch

from pegasus_lab.methods.reductions import sum_per_example
from tests.helpers import CopyRecorder


@pytest.mark.parametrize("shape", [(3, 2, 4, 5), (3, 7), (3, 2, 3, 4, 2)])
def test_sums_every_dimension_but_the_batch(shape):
    torch.manual_seed(0)
    t = torch.randn(shape, dtype=torch.float64)
    assert torch.allclose(sum_per_example(t), t.reshape(shape[0], -1).sum(1), atol=1e-12)


def test_a_vector_is_one_value_per_example():
    t = torch.randn(4)
    assert torch.equal(sum_per_example(t), t)


def test_a_channels_last_tensor_is_summed_without_a_copy_forward_or_backward():
    t = torch.randn(3, 4, 5, 6, dtype=torch.float64)
    nhwc = t.contiguous(memory_format=torch.channels_last).requires_grad_(True)
    with CopyRecorder() as recorder:
        out = sum_per_example(nhwc.pow(2))
        grad, = torch.autograd.grad(out.sum(), nhwc)
    assert recorder.copies == []
    assert torch.allclose(out, t.pow(2).reshape(3, -1).sum(1), atol=1e-12)
    assert torch.allclose(grad, 2 * t, atol=1e-12)
