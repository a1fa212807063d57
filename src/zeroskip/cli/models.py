"""Commands on model weights: ``prune`` the Linear layers of a weights file to a sparsity.

Example:
    $ zeroskip prune model.safetensors --method magnitude --sparsity 0.9 --out pruned.safetensors
    $ zeroskip prune weights.npz --method nm --nm 2:4 --out pruned.npz --json
    $ zeroskip prune weights.npz --method wanda --sparsity 0.5 --calibration norms.npz --out pruned.npz
"""

from __future__ import annotations

import argparse
import fnmatch

import numpy as np

from zeroskip.cli._common import EXIT_OK, UsageError, parse_ratio
from zeroskip.cli._output import print_json, progress, table
from zeroskip.cli._weights import WEIGHT_FILES, load_weights, save_weights
from zeroskip.errors import ZeroskipError

METHODS = ("magnitude", "global", "nm", "block", "wanda")


def _options(args: argparse.Namespace) -> tuple[float | None, tuple[int, int] | None, tuple[int, int] | None]:
    """(sparsity, nm, block) checked against the method: each option only where it means something."""
    method, sparsity = args.method, args.sparsity
    nm = parse_ratio(args.nm, "--nm") if args.nm else None
    block = parse_ratio(args.block, "--block", sep="x") if args.block else None
    if nm and method not in ("nm", "wanda"):
        raise UsageError(f"--nm {args.nm} applies to --method nm or wanda, not {method}")
    if block and method != "block":
        raise UsageError(f"--block {args.block} applies to --method block, not {method}")
    if method == "nm" and sparsity is not None:
        raise UsageError("--method nm keeps n of every m weights (--nm 2:4); --sparsity does not apply")
    if method == "wanda" and nm and sparsity is not None:
        raise UsageError("--method wanda takes --sparsity or --nm, not both")
    if sparsity is None and method != "nm" and not (method == "wanda" and nm):
        raise UsageError(f"--method {method} needs --sparsity, e.g. --sparsity 0.9")
    if method == "nm":
        nm = nm or (2, 4)
    if method == "block":
        block = block or (4, 4)
    return sparsity, nm, block


def _targets(weights: dict[str, np.ndarray], patterns: list[str] | None, path: str) -> list[str]:
    """The tensors to prune: 2-D floating-point arrays (Linear weights), those matching --only if given."""
    names = [n for n, w in weights.items() if w.ndim == 2 and np.issubdtype(w.dtype, np.floating)]
    if patterns:
        names = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    if not names:
        shapes = ", ".join(f"{n} {w.shape} {w.dtype}" for n, w in list(weights.items())[:8]) or "none"
        which = f" matching {', '.join(patterns)}" if patterns else ""
        raise UsageError(f"{path} has no 2-D floating-point tensors{which} to prune (tensors: {shapes})")
    return names


def _norms(path: str | None, names: list[str], weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-input-feature L2 norms for Wanda: given as (in,) norms, or computed from (samples, in) activations."""
    if path is None:
        raise UsageError("--method wanda needs --calibration FILE.npz: for each pruned tensor (same name) its "
                         "input activations (samples, in) or their per-feature L2 norms (in,)")
    calibration = load_weights(path)
    missing = [n for n in names if n not in calibration]
    if missing:
        raise UsageError(f"--calibration {path} has no entry for {', '.join(missing)} "
                         f"(it has: {', '.join(calibration) or 'nothing'})")
    norms = {}
    for name in names:
        given = np.asarray(calibration[name], dtype=np.float64)
        norm = np.sqrt(np.square(given).sum(axis=0)) if given.ndim == 2 else given
        if norm.shape != (weights[name].shape[1],):
            raise UsageError(f"--calibration {path}: {name} has shape {given.shape}; expected ({weights[name].shape[1]},) "
                             f"norms or (samples, {weights[name].shape[1]}) activations for a weight {weights[name].shape}")
        norms[name] = norm
    return norms


def _masks(method: str, weights, names, sparsity, nm, block, norms, show_progress: bool) -> dict[str, np.ndarray]:
    from zeroskip.prune import global_magnitude_masks

    if method == "global":  # one threshold over every tensor at once
        return global_magnitude_masks({n: weights[n] for n in names}, sparsity)
    masks = {}
    for name in progress(names, "pruning", enabled=show_progress):
        try:
            masks[name] = _mask(method, weights[name], sparsity, nm, block, None if norms is None else norms[name])
        except ZeroskipError as exc:
            raise type(exc)(f"{name}: {exc}") from None  # the same error, naming the tensor
    return masks


def _mask(method: str, w: np.ndarray, sparsity, nm, block, norm) -> np.ndarray:
    from zeroskip.prune import block_mask, magnitude_mask, nm_mask, wanda_mask

    if method == "magnitude":
        return magnitude_mask(w, sparsity)
    if method == "nm":
        return nm_mask(w, *nm, axis=-1)  # (out, in): n of every m inputs, as sparse tensor cores want
    if method == "block":
        return block_mask(w, block, sparsity)
    return wanda_mask(w, norm, sparsity, nm=nm)


def cmd_prune(args: argparse.Namespace) -> int:
    """Prune the 2-D weights of a weights file and report each tensor's sparsity."""
    sparsity, nm, block = _options(args)
    weights = load_weights(args.weights)
    names = _targets(weights, args.only, args.weights)
    norms = _norms(args.calibration, names, weights) if args.method == "wanda" else None
    masks = _masks(args.method, weights, names, sparsity, nm, block, norms, not args.json)
    pruned = dict(weights)
    rows = []
    for name in names:
        w = weights[name]
        pruned[name] = np.where(masks[name], w, np.zeros((), w.dtype))
        kept = int(np.count_nonzero(pruned[name]))
        rows.append({"tensor": name, "shape": list(w.shape), "zeros_before": 1 - np.count_nonzero(w) / max(w.size, 1),
                     "sparsity": 1 - kept / max(w.size, 1), "nnz": kept, "size": int(w.size)})
    total = sum(r["size"] for r in rows)
    kept = sum(r["nnz"] for r in rows)
    if args.out:
        save_weights(args.out, pruned)
    unchanged = [n for n in weights if n not in masks]
    if args.json:
        print_json({"weights": args.weights, "method": args.method, "sparsity": sparsity, "nm": nm, "block": block,
                    "tensors": rows, "total": {"size": total, "nnz": kept, "sparsity": 1 - kept / max(total, 1)},
                    "unchanged": unchanged, "out": args.out})
        return EXIT_OK
    others = f", {len(unchanged)} other{'s' * (len(unchanged) != 1)} copied unchanged" if unchanged else ""
    print(f"{args.weights}: {args.method} pruning of {len(names)} tensors{others}")
    body = [[r["tensor"], "x".join(map(str, r["shape"])), r["zeros_before"], r["sparsity"], r["nnz"]] for r in rows]
    body.append(["total", "", 1 - sum(r["size"] * (1 - r["zeros_before"]) for r in rows) / max(total, 1),
                 1 - kept / max(total, 1), kept])
    print(table(body, ["tensor", "shape", "zeros before", "sparsity", "nonzeros"]))
    print(f"written to {args.out}" if args.out else "nothing written (give --out FILE to keep the pruned weights)")
    return EXIT_OK


def _sparsity(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def register(subparsers) -> None:
    """Add ``prune`` to the ``zeroskip`` parser."""
    p = subparsers.add_parser(
        "prune", help="prune the Linear weights of a model file to a sparsity",
        description="Prune the 2-D floating-point tensors (Linear layer weights) of a weights file and report each "
                    "tensor's sparsity; other tensors (biases, norms) are copied unchanged. Methods: magnitude (per "
                    "tensor), global (one threshold over all), nm (n of every m inputs), block (tiles of lowest "
                    "norm), wanda (|W| times input activation norms, per output row).",
        epilog="examples:\n"
               "  zeroskip prune model.safetensors --method magnitude --sparsity 0.9 --out pruned.safetensors\n"
               "  zeroskip prune weights.npz --method nm --nm 2:4 --out pruned.npz\n"
               "  zeroskip prune weights.npz --method block --block 4x4 --sparsity 0.75 --only 'layers.*' --json\n"
               "  zeroskip prune weights.npz --method wanda --sparsity 0.5 --calibration acts.npz --out pruned.npz")
    p.add_argument("weights", metavar="WEIGHTS", help=f"the weights: {WEIGHT_FILES}")
    p.add_argument("--method", choices=METHODS, default="magnitude", help="pruning method (default magnitude)")
    p.add_argument("--sparsity", type=_sparsity, metavar="S", help="fraction of weights to prune, in [0, 1)")
    p.add_argument("--nm", metavar="N:M", help="keep N of every M weights along the input dimension (default 2:4)")
    p.add_argument("--block", metavar="RxC", help="block shape for --method block (default 4x4)")
    p.add_argument("--calibration", metavar="FILE.npz",
                   help="Wanda's inputs: per pruned tensor, activations (samples, in) or their L2 norms (in,)")
    p.add_argument("--only", action="append", metavar="GLOB", help="prune only tensors whose name matches; repeatable")
    p.add_argument("--out", metavar="FILE", help=f"write the pruned weights ({WEIGHT_FILES})")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    p.set_defaults(func=cmd_prune)
