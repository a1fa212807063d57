"""``SparseConv2d``: an ``nn.Conv2d`` whose inference runs zeroskip CPU kernels through im2col.

A convolution is a matrix product once its input patches are unrolled (im2col,
``torch.nn.functional.unfold``): with the weight viewed as ``W`` (out_channels x
in_channels*kh*kw) and the patches as ``Xt`` (in_channels*kh*kw x batch*out_h*out_w),
``Yt(o,b) = W(o,i) * Xt(i,b)`` is the convolution's output, channels first. That is the program
``SparseLinear`` runs for dense activations (W in CSR, the bias fused along ``o``), compiled once
per weight. Stride, padding (numbers, pairs, ``"valid"``, ``"same"``), dilation and bias are
supported; ``groups`` other than 1 and padding modes other than ``"zeros"`` are refused (a
grouped convolution is a block-diagonal weight; not done yet).

With ``backend="auto"`` the cost model predicts, per call shape, the sparse kernel plus the
im2col copies against dense BLAS flops for the same product, and a predicted loss runs
``F.conv2d``. Calls that need gradients run ``F.conv2d`` too (training works, at dense speed).

Example:
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> conv = torch.nn.Conv2d(3, 4, 3, padding=1)
    >>> with torch.no_grad():
    ...     conv.weight[torch.rand(conv.weight.shape) < 0.8] = 0
    >>> sparse = SparseConv2d.from_dense(conv, backend="sparse")
    >>> x = torch.randn(2, 3, 5, 5)
    >>> torch.allclose(sparse(x), conv(x).detach(), atol=1e-5)
    True
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual name
from torch import nn
from torch.nn.modules.utils import _pair

from zeroskip.backends.cpu import costmodel
from zeroskip.compiler.program import Program
from zeroskip.errors import ConfigError, DTypeError, ShapeError
from zeroskip.nn.linear import SparseWeights, compile_dense_act, predict_dense_act, run_dense_act

__all__ = ["SparseConv2d", "conv_output_size", "im2col"]


def _padding(padding, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]):
    """(top, bottom, left, right) zero padding for an int, a pair, ``"valid"`` or ``"same"`` (as torch pads)."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        if padding != "same":
            raise ConfigError(f"padding must be a number, a pair, 'valid' or 'same', got {padding!r}")
        if stride != (1, 1):
            raise ConfigError(f"padding='same' needs stride 1, got {stride=}")
        sides = []
        for k, d in zip(kernel, dilation, strict=True):
            total = d * (k - 1)
            sides += [total // 2, total - total // 2]  # torch puts the odd extra on the bottom/right
        return tuple(sides)
    ph, pw = _pair(padding)
    if min(ph, pw) < 0:
        raise ConfigError(f"padding must be non-negative, got {padding!r}")
    return ph, ph, pw, pw


def conv_output_size(size: tuple[int, int], kernel_size, stride=1, padding=0, dilation=1) -> tuple[int, int]:
    """The (height, width) a Conv2d of these settings gives an input of spatial ``size``.

    >>> conv_output_size((28, 28), 3, stride=2, padding=1)
    (14, 14)
    """
    kernel, stride, dilation = _pair(kernel_size), _pair(stride), _pair(dilation)
    top, bottom, left, right = _padding(padding, kernel, stride, dilation)
    out = []
    for n, pad, k, s, d in zip(size, (top + bottom, left + right), kernel, stride, dilation, strict=True):
        out.append((n + pad - d * (k - 1) - 1) // s + 1)
    if min(out) < 1:
        raise ShapeError(f"input of spatial size {tuple(size)} is smaller than the kernel {kernel} "
                         f"(dilation {dilation}, padding {padding!r})")
    return out[0], out[1]


def im2col(x: torch.Tensor, kernel_size, stride=1, padding=0, dilation=1) -> tuple[torch.Tensor, tuple[int, int]]:
    """The patches of ``x`` (N, C, H, W) as (N, C*kh*kw, out_h*out_w) (``F.unfold``), and (out_h, out_w).

    Row order matches ``weight.reshape(out_channels, -1)`` of a Conv2d: channel, then kernel row, column.

    >>> cols, size = im2col(torch.ones(1, 2, 4, 4), 3)
    >>> tuple(cols.shape), size
    ((1, 18, 4), (2, 2))
    """
    kernel, stride, dilation = _pair(kernel_size), _pair(stride), _pair(dilation)
    top, bottom, left, right = _padding(padding, kernel, stride, dilation)
    if top != bottom or left != right:  # unfold pads symmetrically only
        x, pad = F.pad(x, (left, right, top, bottom)), (0, 0)
    else:
        pad = (top, left)
    size = conv_output_size(tuple(x.shape[-2:]), kernel, stride, pad, dilation)
    return F.unfold(x, kernel, dilation=dilation, padding=pad, stride=stride), size


class SparseConv2d(SparseWeights):
    """``nn.Conv2d`` (groups=1, zero padding) on zeroskip kernels via im2col; state_dict keys as ``nn.Conv2d``.

    ``backend``: ``"auto"`` (the cost model decides per call shape), ``"sparse"`` (always the
    kernel) or ``"dense"`` (always ``F.conv2d``). Inputs are float on the CPU, (N, C, H, W) or
    unbatched (C, H, W); they run in float32.

    >>> conv = SparseConv2d(1, 2, 3, bias=False, backend="sparse")
    >>> conv(torch.ones(1, 1, 3, 3)).tolist()
    [[[[0.0]], [[0.0]]]]
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", *, threads: int | None = None,
                 backend: str = "auto") -> None:
        if groups != 1:
            raise ConfigError(f"SparseConv2d supports groups=1 only, got {groups=} (grouped convolutions stay dense)")
        if padding_mode != "zeros":
            raise ConfigError(f"SparseConv2d supports padding_mode='zeros' only, got {padding_mode=}")
        kernel_size, stride, dilation = _pair(kernel_size), _pair(stride), _pair(dilation)
        padding = padding if isinstance(padding, str) else _pair(padding)
        _padding(padding, kernel_size, stride, dilation)  # refuses bad settings now
        super().__init__((out_channels, in_channels, *kernel_size), bias, threads, backend)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.dilation, self.padding = kernel_size, stride, dilation, padding
        self.groups, self.padding_mode = 1, "zeros"
        self._program: Program | None = None

    @classmethod
    def from_dense(cls, conv: nn.Conv2d, *, threads: int | None = None, backend: str = "auto") -> SparseConv2d:
        """A SparseConv2d computing what ``conv`` computes (weight and bias copied); refuses groups != 1.

        >>> SparseConv2d.from_dense(torch.nn.Conv2d(2, 3, (1, 2), stride=2)).weight.shape
        torch.Size([3, 2, 1, 2])
        """
        if not isinstance(conv, nn.Conv2d):
            raise DTypeError(f"expected an nn.Conv2d, got {type(conv).__name__}")
        layer = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                    conv.groups, conv.bias is not None, conv.padding_mode, threads=threads, backend=backend)
        layer.copy_from(conv)
        return layer

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, bias={self.bias is not None}, "
                f"sparsity={self.sparsity:.3f}, backend={self.backend!r}")

    def program(self) -> Program:
        """The im2col product's Program for the current weight, rebuilt when the weight or bias changed.

        >>> str(SparseConv2d(2, 3, 3).program().assignment)
        'Yt(o,b) = W(o,i) * Xt(i,b)'
        """
        version = self.weights_version()
        if self._program is None or self._built != version:
            w = self.weight.detach().float().reshape(self.out_channels, -1).numpy()
            self._program, self._built, self._predictions = compile_dense_act(w, self.bias), version, {}
        return self._program

    def predict(self, images: int, size: tuple[int, int]) -> tuple[float, float]:
        """The cost model's (sparse, dense) seconds for ``images`` inputs of spatial ``size`` (H, W): the
        sparse side is the kernel on the patches plus the im2col copies, the dense side BLAS flops.

        >>> conv = SparseConv2d(1, 1, 1)
        >>> all(s > 0 for s in conv.predict(1, (4, 4)))
        True
        """
        key = (images, tuple(size), self._threads())
        hit = self._predictions.get(key) if self._built == self.weights_version() else None  # none after weight writes
        if hit is not None:
            return hit
        program = self.program()
        oh, ow = conv_output_size(tuple(size), self.kernel_size, self.stride, self.padding, self.dilation)
        rows, depth = images * oh * ow, self.weight[0].numel()
        kernel_s, dense_s = predict_dense_act(program, rows, self._threads())
        copies = 2 if images > 1 else 1  # unfold, then the batched patches transposed into one matrix
        im2col_s = copies * 2 * 4 * rows * (depth + self.out_channels) / costmodel.calibration().copy_bytes_s
        self._predictions[key] = (kernel_s + im2col_s, dense_s)
        return self._predictions[key]

    def explain(self, images: int = 1, size: tuple[int, int] = (32, 32)) -> str:
        """Which path a call on ``images`` inputs of spatial ``size`` takes, and why.

        >>> print(SparseConv2d(1, 1, 3, backend="dense").explain())
        SparseConv2d 1->1 kernel (3, 3), sparsity 1.000: dense torch F.conv2d (backend='dense')
        """
        head = f"SparseConv2d {self.in_channels}->{self.out_channels} kernel {self.kernel_size}, sparsity {self.sparsity:.3f}"
        if self.backend == "dense":
            return f"{head}: dense torch F.conv2d (backend='dense')"
        sparse_s, dense_s = self.predict(images, size)
        pick = "sparse kernel (im2col)" if self.backend == "sparse" or sparse_s <= dense_s else "dense torch F.conv2d"
        why = "forced" if self.backend == "sparse" else "cost model"
        return (f"{head}: {images} x {list(size)} inputs: {pick} ({why}: predicted sparse {sparse_s * 1e3:.3g} ms "
                f"against dense {dense_s * 1e3:.3g} ms, {self._threads()} threads)")

    def _dense(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom, left, right = _padding(self.padding, self.kernel_size, self.stride, self.dilation)
        if top != bottom or left != right:
            x = F.pad(x, (left, right, top, bottom))
            top = left = 0
        return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), self.dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise DTypeError(f"SparseConv2d expects a torch.Tensor, got {type(x).__name__}")
        if x.ndim not in (3, 4) or x.shape[-3] != self.in_channels:
            raise ShapeError(f"input of shape {tuple(x.shape)}: expected (N, {self.in_channels}, H, W) or "
                             f"({self.in_channels}, H, W) for in_channels={self.in_channels}")
        if x.device.type != "cpu":
            raise DTypeError(f"SparseConv2d runs on the CPU; the input is on {x.device}")
        if not x.dtype.is_floating_point:
            raise DTypeError(f"SparseConv2d takes float inputs, got {x.dtype}")
        needs_grad = torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad
                                                  or (self.bias is not None and self.bias.requires_grad))
        if needs_grad or self.backend == "dense":
            return self._dense(x if x.dtype == self.weight.dtype else x.float())
        batched = x.ndim == 4
        xb = (x if batched else x.unsqueeze(0)).detach().float()
        images = xb.shape[0]
        if self.backend == "auto":
            sparse_s, dense_s = self.predict(max(images, 1), tuple(xb.shape[-2:]))
            if dense_s < sparse_s:
                with torch.no_grad():
                    return self._dense(x.float())
        cols, (oh, ow) = im2col(xb, self.kernel_size, self.stride, self.padding, self.dilation)
        if images == 0:
            out = torch.zeros(0, self.out_channels, oh, ow)
        else:
            depth, patches = cols.shape[1], cols.shape[2]
            xt = cols[0] if images == 1 else cols.transpose(0, 1).reshape(depth, images * patches)
            yt = run_dense_act(self.program(), xt.numpy(), self._threads())  # (out_channels, images * patches)
            # one copy into an owned array, channels moved behind the images (the kernel's output is read-only)
            y = np.ascontiguousarray(yt.reshape(self.out_channels, images, patches).transpose(1, 0, 2), np.float32)
            out = torch.from_numpy(y if images > 1 else y.copy()).reshape(images, self.out_channels, oh, ow)
        return out if batched else out[0]
