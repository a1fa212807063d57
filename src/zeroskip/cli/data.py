"""``zeroskip data``: the bundled real matrices read, checked against scipy, and their formats compared.

Example:
    $ zeroskip data                       # formats and statistics of the bundled real matrices
    $ zeroskip data --json                # the same as one JSON document
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from zeroskip.cli._output import print_json, table


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


def cmd_data(args: argparse.Namespace) -> int:
    """Read every bundled matrix, check it against scipy.io.mmread, and show formats and statistics."""
    from zeroskip.bench.datasets import data_root, graphchallenge_files, suitesparse_files

    root = data_root(args.data)
    results = [_matrix_row(path) for path in suitesparse_files(root)]
    dnn = graphchallenge_files(root)
    dnn_rows = [_matrix_row(dnn["images"])] + [_matrix_row(p) for p in dnn["layers"]]
    bad = [r["matrix"] for r in results + dnn_rows if not r["_agrees"]]
    if args.json:
        print_json({"data": root, "suitesparse": results, "graphchallenge": dnn_rows, "disagree": bad})
        return 1 if bad else 0
    print(f"the real matrices in {root}\n")
    print("What is measured here: file reading time; what is computed: exact statistics and footprints.\n")
    headers = [k for k in results[0] if not k.startswith("_")]
    print(table([[r[h] for h in headers] for r in results], headers))
    print()
    print(f"Graph Challenge sparse DNN: {len(dnn['layers'])} weight layers and the input images")
    print(table([[r[h] for h in headers] for r in dnn_rows[:4]], headers))
    weights_nnz = sum(r["nnz"] for r in dnn_rows[1:])
    print(f"... {len(dnn_rows) - 1} layers, {weights_nnz} weight nonzeros in all\n")
    print(f"{len(results) + len(dnn_rows)} files read; agree with scipy.io.mmread: "
          f"{'all' if not bad else 'NOT ' + ', '.join(bad)}")
    return 1 if bad else 0


def register(subparsers) -> None:
    """Add ``data`` to the ``zeroskip`` parser."""
    data = subparsers.add_parser(
        "data", help="the bundled real matrices: statistics, formats, checked against scipy",
        description=cmd_data.__doc__, epilog="examples:\n  zeroskip data\n  zeroskip data --data ../shared/data --json")
    data.add_argument("--data", help="data folder (default: ../shared/data or $ZEROSKIP_DATA)")
    data.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    data.set_defaults(func=cmd_data)
