"""``SparseLinear``: an ``nn.Linear`` whose inference runs zeroskip CPU kernels on its sparse weight.

Two programs are compiled once per weight, both with the bias fused as an epilogue along ``o``:

- dense activations: ``Yt(o,b) = W(o,i) * Xt(i,b)`` with W in CSR (rows of W against columns of
  the transposed input; the kernel's inner loop runs over the batch, contiguous);
- sparse activations: ``Y(b,o) = X(b,i) * Wt(i,o)`` with X and W^T in CSR (Gustavson: each
  stored activation scatters one row of W^T), so zero activations cost nothing.

Per call: the activation-sparse program runs when the input's zero fraction reaches the
threshold (``activation_sparse``; see ``SparseLinear``), else the dense-activation one; with
``backend="auto"`` the cost model (``zeroskip.backends.cpu.costmodel``) predicts the sparse
kernel against dense BLAS on the already dense weight, and a predicted loss runs ``F.linear``.
Gradients never flow through the kernel: a call that needs them (grad mode on and the input or
the weight requiring grad) runs dense ``F.linear``, so training still works, at dense speed.

Example:
    >>> import torch
    >>> torch.manual_seed(0) and None
    >>> lin = torch.nn.Linear(8, 4)
    >>> with torch.no_grad():
    ...     lin.weight[torch.rand(4, 8) < 0.7] = 0
    >>> sparse = SparseLinear.from_dense(lin, backend="sparse")
    >>> x = torch.randn(3, 8)
    >>> torch.allclose(sparse(x), lin(x).detach(), atol=1e-6)
    True
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual name
from torch import nn

from zeroskip.backends.cpu import costmodel
from zeroskip.compiler.epilogue import Epilogue
from zeroskip.compiler.program import Program
from zeroskip.compiler.program import compile as zs_compile
from zeroskip.config import check_threads, get_num_threads
from zeroskip.errors import ConfigError, DTypeError, ShapeError
from zeroskip.formats.convert import as_tensor
from zeroskip.formats.tensor import SparseTensor

DENSE_ACT = "Yt(o,b) = W(o,i) * Xt(i,b)"
SPARSE_ACT = "Y(b,o) = X(b,i) * Wt(i,o)"
MODES = ("auto", "sparse", "dense")
# Measured on the 2-core dev VM (1024x1024, 90% sparse W): X in CSR beats the dense-X kernel at batch 1
# (0.18 against 0.28 ms at 50-95% zeros) but loses from batch 64 up (scatter plus CSR conversion).
AUTO_ZERO_FRACTION = 0.5
AUTO_MAX_ROWS = 16


class SparseWeights(nn.Module):
    """What SparseLinear and SparseConv2d share: inference weights and bias (no grad, so plain calls run
    the kernel), the thread count and backend, and the weight version their programs were built for.

    >>> SparseLinear(4, 2).sparsity  # the weights start at zero
    1.0
    """

    def __init__(self, weight_shape: tuple[int, ...], bias: bool, threads: int | None, backend: str) -> None:
        super().__init__()
        if backend not in MODES:
            raise ConfigError(f"backend must be one of {', '.join(MODES)}, got {backend!r}")
        self.threads = None if threads is None else check_threads(threads)
        self.backend = backend
        self.weight = nn.Parameter(torch.zeros(*weight_shape), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(weight_shape[0]), requires_grad=False) if bias else None
        self._built: tuple | None = None  # the weights_version() the programs were compiled for
        self._predictions: dict[tuple, tuple[float, float]] = {}

    @property
    def sparsity(self) -> float:
        """The fraction of zero weights."""
        return 1.0 - int(torch.count_nonzero(self.weight)) / max(self.weight.numel(), 1)

    def copy_from(self, dense: nn.Module) -> None:
        """Copy ``dense``'s weight and bias (as float32)."""
        with torch.no_grad():
            self.weight.copy_(dense.weight.detach().float())
            if dense.bias is not None:
                self.bias.copy_(dense.bias.detach().float())

    def weights_version(self) -> tuple:
        """Changes whenever the weight or bias is replaced or written in place."""
        return (self.weight._version, id(self.weight), None if self.bias is None else (self.bias._version, id(self.bias)))

    def _threads(self) -> int:
        return get_num_threads() if self.threads is None else self.threads


class SparseLinear(SparseWeights):
    """``y = x @ W.T + b`` on zeroskip kernels; state_dict keys ``weight`` and ``bias`` as ``nn.Linear``.

    ``backend``: ``"auto"`` (the cost model decides per call shape), ``"sparse"`` (always the
    kernel) or ``"dense"`` (always ``F.linear``). ``activation_sparse``: ``None`` takes the
    sparse-activation kernel when at least half the input is zero and it has at most 16 rows (after
    flattening leading dimensions); a float takes it when the zero fraction reaches that value; True
    always, False never. With ``backend="auto"`` the cost model then picks the fastest of the
    eligible kernels and dense ``F.linear``; with ``"sparse"`` the rule alone decides. Inputs are float32 on the CPU, shape ``(..., in_features)``; float64 is
    cast to float32. ``explain()`` says which path each case takes and why.

    >>> lin = SparseLinear(3, 2, bias=False)
    >>> lin(torch.ones(1, 3)).tolist()
    [[0.0, 0.0]]
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, threads: int | None = None,
                 backend: str = "auto", activation_sparse: bool | float | None = None) -> None:
        super().__init__((out_features, in_features), bias, threads, backend)
        if not (activation_sparse is None or isinstance(activation_sparse, (bool, float, int))):
            raise ConfigError(f"activation_sparse must be None, a bool or a zero fraction, got {activation_sparse!r}")
        self.in_features, self.out_features = in_features, out_features
        self.activation_sparse = activation_sparse
        self._programs: tuple[Program, Program] | None = None

    @classmethod
    def from_dense(cls, linear: nn.Linear, *, threads: int | None = None, backend: str = "auto",
                   activation_sparse: bool | float | None = None) -> SparseLinear:
        """A SparseLinear computing what ``linear`` computes (its weight and bias copied).

        >>> dense = torch.nn.Linear(4, 2)
        >>> SparseLinear.from_dense(dense).weight.shape
        torch.Size([2, 4])
        """
        if not isinstance(linear, nn.Linear):
            raise DTypeError(f"expected an nn.Linear, got {type(linear).__name__}")
        layer = cls(linear.in_features, linear.out_features, linear.bias is not None, threads=threads,
                    backend=backend, activation_sparse=activation_sparse)
        layer.copy_from(linear)
        return layer

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
                f"sparsity={self.sparsity:.3f}, backend={self.backend!r}")

    # ---- programs --------------------------------------------------------------------------------

    def programs(self) -> tuple[Program, Program]:
        """(dense-activation, sparse-activation) Programs for the current weight, rebuilt when it changed."""
        version = self.weights_version()
        if self._programs is None or self._built != version:
            w = self.weight.detach().float().numpy()
            epilogue = bias_epilogue(self.bias)
            dense_act = compile_dense_act(w, self.bias, epilogue=epilogue)
            sparse_act = zs_compile(SPARSE_ACT, X="csr", Wt=as_tensor(np.ascontiguousarray(w.T), format="csr"),
                                    out="dense", epilogue=epilogue)
            self._programs, self._built, self._predictions = (dense_act, sparse_act), version, {}
        return self._programs

    def predict(self, rows: int, sparse_activations: bool = False) -> tuple[float, float]:
        """The cost model's (sparse kernel, dense BLAS) seconds for ``rows`` input rows (dense activations,
        or a half-zero input for the sparse-activation kernel); the dense side has the weight dense already."""
        key = (rows, sparse_activations, self._threads())
        hit = self._predictions.get(key) if self._built == self.weights_version() else None  # none after weight writes
        if hit is not None:
            return hit
        dense_act, sparse_act = self.programs()
        threads, n_in, n_out = self._threads(), self.in_features, self.out_features
        if sparse_activations:
            x = np.zeros((rows, n_in), np.float32)
            x[:, ::2] = 1.0
            tensors = {"X": as_tensor(x, format="csr"), "Wt": sparse_act.bound_tensors()["Wt"]}
            sparse_s = costmodel.choose(sparse_act, tensors, {"b": rows, "i": n_in, "o": n_out}, threads).sparse_s
            prediction = (sparse_s, dense_gemm_s(rows, n_in, n_out))
        else:
            prediction = predict_dense_act(dense_act, rows, threads)
        self._predictions[key] = prediction
        return prediction

    def explain(self, rows: tuple[int, ...] = (1, 64, 256)) -> str:
        """Which path a call with each number of input rows takes, and the cost model's reason.

        >>> print(SparseLinear(4, 2, backend="dense").explain(rows=(1,)))
        SparseLinear 4->2, sparsity 1.000, backend='dense'
          rows=1: dense torch F.linear (backend='dense')
        """
        lines = [f"SparseLinear {self.in_features}->{self.out_features}, sparsity {self.sparsity:.3f}, "
                 f"backend={self.backend!r}"]
        for n in rows:
            if self.backend == "dense":
                lines.append(f"  rows={n}: dense torch F.linear (backend='dense')")
                continue
            for act in (False, True):
                sparse_s, dense_s = self.predict(n, act)
                kind = "sparse activations (X in CSR)" if act else "dense activations"
                pick = "sparse kernel" if self.backend == "sparse" or sparse_s <= dense_s else "dense torch F.linear"
                why = "forced" if self.backend == "sparse" else "cost model"
                lines.append(f"  rows={n}, {kind}: {pick} ({why}: predicted sparse {sparse_s * 1e3:.3g} ms "
                             f"against dense {dense_s * 1e3:.3g} ms, {self._threads()} threads)")
        return "\n".join(lines)

    # ---- forward ---------------------------------------------------------------------------------

    def _use_sparse_activations(self, x: torch.Tensor) -> bool:
        rule = self.activation_sparse
        if rule is True or rule is False:
            return rule
        if rule is None and x.shape[0] > AUTO_MAX_ROWS:
            return False
        threshold = AUTO_ZERO_FRACTION if rule is None else float(rule)
        zeros = x.numel() - int(torch.count_nonzero(x))
        return zeros >= threshold * x.numel()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise DTypeError(f"SparseLinear expects a torch.Tensor, got {type(x).__name__}")
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ShapeError(f"input of shape {tuple(x.shape)} has {x.shape[-1] if x.ndim else 0} features but "
                             f"this SparseLinear has in_features={self.in_features}")
        if x.device.type != "cpu":
            raise DTypeError(f"SparseLinear runs on the CPU; the input is on {x.device}")
        needs_grad = torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad
                                                  or (self.bias is not None and self.bias.requires_grad))
        if needs_grad or self.backend == "dense":
            return F.linear(x, self.weight, self.bias)  # autograd (or forced dense): torch's own kernel
        lead = x.shape[:-1]
        flat = x.detach().reshape(-1, self.in_features)
        if flat.dtype != torch.float32:
            if not flat.dtype.is_floating_point:
                raise DTypeError(f"SparseLinear takes float inputs, got {x.dtype}")
            flat = flat.float()
        rows = flat.shape[0]
        if rows == 0:
            return torch.zeros(*lead, self.out_features)
        sparse_act = self._use_sparse_activations(flat)
        dense_act_program, sparse_act_program = self.programs()
        if self.backend == "auto":
            sparse_s, dense_s = self.predict(rows, sparse_act)
            if sparse_act:  # the cost model may prefer the dense-activation kernel after all
                other_s, _ = self.predict(rows, False)
                sparse_act, sparse_s = (False, other_s) if other_s < sparse_s else (True, sparse_s)
            if dense_s < sparse_s:
                with torch.no_grad():
                    return F.linear(x.float(), self.weight, self.bias)
        threads = self._threads()
        if sparse_act:
            xs = SparseTensor.from_torch(flat, format="csr")
            y = sparse_act_program.run(X=xs, threads=threads, backend="sparse").to_numpy()
        else:
            y = run_dense_act(dense_act_program, flat.numpy().T, threads).T
        out = torch.from_numpy(np.array(y, dtype=np.float32, order="C"))  # owned and writable
        return out.reshape(*lead, self.out_features)


# ---- the dense-activation program, shared with SparseConv2d (im2col) -----------------------------------

PREDICT_MAX_ROWS = 4096  # predictions beyond this many rows scale linearly (both sides are linear in rows)


def bias_epilogue(bias: torch.Tensor | None) -> Epilogue:
    """The epilogue adding ``bias`` along the output index ``o`` (none without a bias).

    >>> bias_epilogue(torch.ones(3)).bias_index
    'o'
    """
    return Epilogue() if bias is None else Epilogue(bias=bias.detach().float().numpy().copy(), bias_index="o")


def compile_dense_act(w: np.ndarray, bias: torch.Tensor | None, *, epilogue: Epilogue | None = None) -> Program:
    """``Yt(o,b) = W(o,i) * Xt(i,b)`` (+ bias along ``o``) for the 2-D weight ``w``, bound in CSR.

    ``epilogue``: ``bias_epilogue(bias)`` already built (by a caller sharing it with another program), else built here.

    >>> p = compile_dense_act(np.eye(2, dtype=np.float32), None)
    >>> run_dense_act(p, np.array([[1.0], [2.0]], np.float32), 1).tolist()
    [[1.0], [2.0]]
    """
    return zs_compile(DENSE_ACT, W=as_tensor(np.ascontiguousarray(w, dtype=np.float32), format="csr"), Xt="dense",
                      out="dense", epilogue=bias_epilogue(bias) if epilogue is None else epilogue)


def run_dense_act(program: Program, xt: np.ndarray, threads: int) -> np.ndarray:
    """The program of ``compile_dense_act`` on the (in, rows) activations ``xt``: the (out, rows) result.

    >>> p = compile_dense_act(np.array([[0.0, 2.0]], np.float32), torch.ones(1))
    >>> run_dense_act(p, np.array([[5.0, 5.0], [1.0, 3.0]], np.float32), 1).tolist()
    [[3.0, 7.0]]
    """
    xt = as_tensor(np.ascontiguousarray(xt, dtype=np.float32), format="dense")
    return program.run(Xt=xt, threads=threads, backend="sparse").to_numpy()


def dense_gemm_s(rows: int, n_in: int, n_out: int) -> float:
    """Predicted seconds of the dense (rows x in) @ (in x out) product at the calibrated float32 BLAS rate.

    >>> dense_gemm_s(64, 128, 128) == 2 * dense_gemm_s(32, 128, 128)
    True
    """
    cal = costmodel.calibration()
    return 2.0 * rows * n_in * n_out / cal.dense_flops.get("float32", cal.dense_flops["float64"])


def predict_dense_act(program: Program, rows: int, threads: int) -> tuple[float, float]:
    """The cost model's (sparse kernel, dense BLAS) seconds for ``program`` (``compile_dense_act``) on
    ``rows`` dense activation rows; the dense side has the weight dense already (no densifying).

    >>> sparse_s, dense_s = predict_dense_act(compile_dense_act(np.eye(8, dtype=np.float32), None), 16, 1)
    >>> sparse_s > 0 and dense_s > 0
    True
    """
    w = program.bound_tensors()["W"]
    n_out, n_in = w.shape
    probe = max(1, min(rows, PREDICT_MAX_ROWS))  # a probe of all ones, not the rows themselves: bounded memory
    tensors = {"W": w, "Xt": as_tensor(np.ones((n_in, probe), np.float32), format="dense")}
    sparse_s = costmodel.choose(program, tensors, {"b": probe, "i": n_in, "o": n_out}, threads).sparse_s
    return sparse_s * max(rows, 1) / probe, dense_gemm_s(rows, n_in, n_out)
