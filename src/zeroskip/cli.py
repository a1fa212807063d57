"""The ``zeroskip`` command.

Example:
    $ zeroskip demo                       # formats and statistics of the bundled real matrices
    $ zeroskip info matrix.mtx            # statistics, fiber histograms, footprint per format
    $ zeroskip convert in.mtx out.npz --format dcsr
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from zeroskip.errors import ZeroskipError


def _table(rows: list[list[object]], headers: list[str]) -> str:
    """Plain aligned text table (numbers right-aligned)."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(isinstance(row[i], (int, float)) for row in rows) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        parts = [c.rjust(w) if numeric[i] else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(parts).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _matrix_row(path: Path) -> dict:
    import numpy as np
    import scipy.io

    from zeroskip.formats.format import as_format
    from zeroskip.formats.io import load
    from zeroskip.formats.stats import footprints, tensor_stats

    start = time.perf_counter()
    tensor = load(path)
    seconds = time.perf_counter() - start
    gold = scipy.io.mmread(path).tocsr()
    gold.sum_duplicates()
    gold.eliminate_zeros()
    mine = tensor.to_scipy("csr")
    agrees = mine.shape == gold.shape and mine.nnz == gold.nnz and (mine != gold).nnz == 0
    stats = tensor_stats(tensor)
    sizes = footprints(tensor)
    best = min(sizes, key=sizes.__getitem__)
    rows = stats.levels[1]
    return {
        "matrix": path.stem,
        "shape": "x".join(map(str, tensor.shape)),
        "nnz": tensor.nnz,
        "density %": 100 * tensor.density,
        "empty rows": rows.empty_fibers,
        "max row": rows.max_length,
        "mean row": rows.mean_length,
        "best format": as_format(best).name,
        "best KiB": sizes[best] / 1024,
        "CSR KiB": sizes["ds"] / 1024,
        "COO KiB": sizes["nq"] / 1024,
        "dense/best": sizes["dd"] / sizes[best],
        "read ms": 1e3 * seconds,
        "= scipy": "yes" if agrees else "NO",
        "_agrees": bool(agrees),
        "_nan": stats.nan_count + stats.inf_count,
        "_dtype": str(np.dtype(tensor.dtype)),
    }


def cmd_demo(args: argparse.Namespace) -> int:
    """Load every bundled matrix, check it against scipy, and show formats and statistics."""
    from zeroskip.bench.datasets import data_root, graphchallenge_files, suitesparse_files

    root = data_root(args.data)
    print(f"zeroskip demo: the real matrices in {root}\n")
    print("What is measured here: file reading time; what is computed: exact statistics and footprints.\n")
    results = [_matrix_row(path) for path in suitesparse_files(root)]
    headers = [k for k in results[0] if not k.startswith("_")]
    print(_table([[r[h] for h in headers] for r in results], headers))
    print()
    dnn = graphchallenge_files(root)
    dnn_rows = [_matrix_row(dnn["images"])] + [_matrix_row(p) for p in dnn["layers"]]
    print(f"Graph Challenge sparse DNN: {len(dnn['layers'])} weight layers and the input images")
    print(_table([[r[h] for h in headers] for r in dnn_rows[:4]], headers))
    weights_nnz = sum(r["nnz"] for r in dnn_rows[1:])
    print(f"... {len(dnn_rows) - 1} layers, {weights_nnz} weight nonzeros in all\n")
    bad = [r["matrix"] for r in results + dnn_rows if not r["_agrees"]]
    print(f"{len(results) + len(dnn_rows)} files read; agree with scipy.io.mmread: "
          f"{'all' if not bad else 'NOT ' + ', '.join(bad)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"suitesparse": results, "graphchallenge": dnn_rows}, indent=2))
        print(f"results written to {args.json}")
    return 1 if bad else 0


def cmd_info(args: argparse.Namespace) -> int:
    """Statistics, fiber histograms and the footprint of every candidate format for one file."""
    from zeroskip.formats.format import as_format
    from zeroskip.formats.io import load
    from zeroskip.formats.stats import footprints, tensor_stats

    tensor = load(args.path, format=args.format)
    stats = tensor_stats(tensor)
    print(repr(tensor))
    print(f"stored values {stats.nstored}, bytes {stats.nbytes}, NaN {stats.nan_count}, Inf {stats.inf_count}\n")
    level_rows = [[lv.level, lv.mode, lv.kind, lv.fibers, lv.empty_fibers, lv.mean_length, lv.max_length]
                  for lv in stats.levels]
    print(_table(level_rows, ["level", "mode", "kind", "fibers", "empty", "mean length", "max length"]))
    for lv in stats.levels:
        bins = ", ".join(f"{lo if lo == hi else f'{lo}-{hi}'}: {n}" for lo, hi, n in lv.histogram if n)
        print(f"  level {lv.level} fiber lengths: {bins}")
    sizes = footprints(tensor)
    ordered = sorted(sizes.items(), key=lambda kv: kv[1])
    print()
    print(_table([[as_format(spec).name, n, n / ordered[0][1]] for spec, n in ordered[: args.top]],
                 ["format", "bytes", "x smallest"]))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    """Read a tensor file, store it in another format, write it out (format kept in .npz)."""
    from zeroskip.formats.io import load, save

    tensor = load(args.src)
    if args.format:
        tensor = tensor.asformat(args.format)
    save(args.dst, tensor)
    print(f"{args.src} -> {args.dst}: {tensor!r}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zeroskip", description="Compute with the zeros left out.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the main job on built-in defaults")
    demo.add_argument("--data", help="data folder (default: ../shared/data or $ZEROSKIP_DATA)")
    demo.add_argument("--json", help="also write the results as JSON to this path")
    demo.set_defaults(func=cmd_demo)
    info = sub.add_parser("info", help="statistics of a tensor file (.mtx, .tns, .npz)")
    info.add_argument("path")
    info.add_argument("--format", help="store in this format before the statistics (default CSR/CSF)")
    info.add_argument("--top", type=int, default=8, help="formats to list, smallest first")
    info.set_defaults(func=cmd_info)
    convert = sub.add_parser("convert", help="convert between files and formats")
    convert.add_argument("src")
    convert.add_argument("dst")
    convert.add_argument("--format", help="target format, e.g. csc, dcsr, 'sss[2,0,1]'")
    convert.set_defaults(func=cmd_convert)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``zeroskip`` command; user errors print one line and exit 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ZeroskipError, FileNotFoundError) as exc:
        print(f"zeroskip: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
