"""Commands on tensors and programs: ``info``, ``convert``, ``compile``, ``run`` and ``simulate``.

Example:
    $ zeroskip info A.mtx --spy -                      # statistics and a text spy plot
    $ zeroskip compile "y(i) = A(i,j) * x(j)" --format A=csr --format x=dense --emit loops
    $ zeroskip run "y(i) = A(i,j) * x(j)" A=A.mtx x=x.npy --out y.npy --check
    $ zeroskip simulate "y(i) = A(i,j) * x(j)" A=A.mtx x=x.npy --mode sam --json
"""

from __future__ import annotations

import argparse
import time

from zeroskip.cli._common import EXIT_FAILED, EXIT_OK, UsageError, parse_pairs
from zeroskip.cli._inputs import (
    TENSOR_FILES,
    assignment_of,
    check_against_gold,
    load_operands,
    operand_specs,
    write_result,
)
from zeroskip.cli._output import print_json, save_spy_png, table, text_spy

EMITS = ("expr", "loops", "graph", "dot", "source", "explain")


def cmd_info(args: argparse.Namespace) -> int:
    """Statistics, fiber histograms and the footprint of every candidate format for one file; a spy plot."""
    from zeroskip.formats.format import as_format
    from zeroskip.formats.io import load
    from zeroskip.formats.stats import footprints, tensor_stats

    tensor = load(args.path, format=args.format)
    stats = tensor_stats(tensor)
    sizes = sorted(footprints(tensor).items(), key=lambda kv: kv[1])
    smallest = sizes[0][1] or 1
    formats = [{"format": as_format(spec).name, "spec": spec, "bytes": n, "x_smallest": n / smallest}
               for spec, n in sizes[: args.top]]
    spy = _spy(tensor, args.spy, args.path) if args.spy else None
    if args.json:
        print_json({"path": args.path, **stats.to_dict(), "footprints": formats, "spy": spy})
        return EXIT_OK
    print(repr(tensor))
    print(f"stored values {stats.nstored}, bytes {stats.nbytes}, NaN {stats.nan_count}, Inf {stats.inf_count}\n")
    level_rows = [[lv.level, lv.mode, lv.kind, lv.fibers, lv.empty_fibers, lv.mean_length, lv.max_length]
                  for lv in stats.levels]
    print(table(level_rows, ["level", "mode", "kind", "fibers", "empty", "mean length", "max length"]))
    for lv in stats.levels:
        bins = ", ".join(f"{lo if lo == hi else f'{lo}-{hi}'}: {n}" for lo, hi, n in lv.histogram if n)
        print(f"  level {lv.level} fiber lengths: {bins}")
    print()
    print(table([[f["format"], f["bytes"], f["x_smallest"]] for f in formats], ["format", "bytes", "x smallest"]))
    if spy:
        print("\n" + spy if args.spy == "-" else f"\nspy plot written to {spy}")
    return EXIT_OK


def _spy(tensor, target: str, name: str) -> str:
    """The text spy plot (``target`` "-") or the path of the image written."""
    if tensor.ndim not in (1, 2):
        raise UsageError(f"--spy draws matrices and vectors; {name} has order {tensor.ndim} (shape {tensor.shape})")
    coords, _ = tensor.to_coo()
    if tensor.ndim == 1:  # a vector as one row
        rows, cols, shape = coords[:, 0] * 0, coords[:, 0], (1, tensor.shape[0])
    else:
        rows, cols, shape = coords[:, 0], coords[:, 1], tensor.shape
    if target == "-":
        return text_spy(rows, cols, shape)
    save_spy_png(rows, cols, shape, target, title=f"{name}: {'x'.join(map(str, tensor.shape))}, nnz {tensor.nnz}")
    return target


def cmd_convert(args: argparse.Namespace) -> int:
    """Read a tensor file, store it in another format, write it out (format kept in .npz)."""
    from zeroskip.formats.io import load, save

    tensor = load(args.src)
    if args.format:
        tensor = tensor.asformat(args.format)
    save(args.dst, tensor)
    if args.json:
        print_json({"src": args.src, "dst": args.dst, "shape": tensor.shape, "format": tensor.format.name,
                    "spec": tensor.format.spec, "nnz": tensor.nnz})
    else:
        print(f"{args.src} -> {args.dst}: {tensor!r}")
    return EXIT_OK


def _compile(expr: str, operands: dict, args: argparse.Namespace):
    import zeroskip as zs

    return zs.compile(expr, loop_order=args.loop_order, out=args.out_format, **operands)


def cmd_compile(args: argparse.Namespace) -> int:
    """Compile an expression for formats (and shapes) alone and print its stages."""
    assign = assignment_of(args.expr)
    specs = operand_specs(assign, parse_pairs(args.format, "--format"), parse_pairs(args.shape, "--shape"))
    program = _compile(args.expr, specs, args)
    emits = args.emit or ["explain"]
    texts = {kind: _emit(program, kind) for kind in emits}
    if args.json:
        s = program.schedule
        print_json({"expr": str(program.assignment), "loop_order": s.loop_order,
                    "formats": {n: f.spec for n, f in s.formats}, "dims": dict(s.dims), "emit": texts})
        return EXIT_OK
    for kind, text in texts.items():
        if len(texts) > 1:
            print(f"# {kind}")
        print(text)
    return EXIT_OK


def _emit(program, kind: str) -> str:
    if kind == "expr":
        return str(program.assignment)
    if kind == "loops":
        return str(program.loopnest)
    if kind == "graph":
        return str(program.graph)
    if kind == "dot":
        return program.dot()
    if kind == "source":
        return program.source()
    return program.explain()


def _operands(args: argparse.Namespace):
    assign = assignment_of(args.expr)
    formats, shapes = parse_pairs(args.format, "--format"), parse_pairs(args.shape, "--shape")
    return assign, load_operands(assign, args.operands, formats, shapes, show_progress=not args.json)


def cmd_run(args: argparse.Namespace) -> int:
    """Run an expression on tensors from files with the CPU backend; print or write the result."""
    assign, operands = _operands(args)
    program = _compile(args.expr, operands, args)
    chosen = program.explain().splitlines()[-1].strip() if args.backend == "auto" else f"cpu: {args.backend} (forced)"
    start = time.perf_counter()
    result = program.run(threads=args.threads, backend=args.backend)
    seconds = time.perf_counter() - start
    if args.out:
        write_result(args.out, result)
    check = check_against_gold(assign, operands, result.to_numpy()) if args.check else None
    if args.json:
        from zeroskip.config import get_num_threads

        threads = args.threads or get_num_threads()
        print_json({"expr": str(program.assignment), "backend": chosen, "threads": threads, "seconds": seconds,
                    "output": _summary(result), "out": args.out, "check": check})
    else:
        print(f"{program.assignment}\n  {chosen}\n  ran in {seconds * 1e3:.3f} ms (wall, kernel load included)")
        print(f"  result: {result!r}")
        coords, vals = result.to_coo()
        for c, v in zip(coords[:8].tolist(), vals[:8].tolist(), strict=True):
            print(f"    {assign.output}({', '.join(map(str, c))}) = {v:g}")
        if result.nnz > 8:
            print(f"    ... {result.nnz - 8} more stored entries")
        if args.out:
            print(f"  written to {args.out}")
        _print_check(check)
    return EXIT_FAILED if check and not check["ok"] else EXIT_OK


def _summary(tensor) -> dict:
    return {"shape": tensor.shape, "format": tensor.format.name, "spec": tensor.format.spec,
            "dtype": str(tensor.dtype), "nnz": tensor.nnz, "sparsity": tensor.sparsity}


def _print_check(check: dict | None) -> None:
    if check is not None:
        verdict = "ok" if check["ok"] else "WRONG"
        detail = check.get("reason") or f"max abs error {check['max_abs_error']:.3g}"
        print(f"  check against the dense numpy gold: {verdict} ({detail})")


def cmd_simulate(args: argparse.Namespace) -> int:
    """Map and simulate an expression on tensors from files on the modelled accelerator."""
    if args.check and args.mode == "dense":
        raise UsageError("--check needs the computed output, which --mode dense does not produce; "
                         "use --mode sparse or --mode sam")
    assign, operands = _operands(args)
    program = _compile(args.expr, operands, args)
    options = {} if args.copies is None else {"copies": args.copies}
    result = program.simulate(arch=args.arch, energy=args.energy, mode=args.mode, tiling=args.tiling,
                              balance=args.balance, **options)
    check = check_against_gold(assign, operands, result.output.to_numpy()) if args.check else None
    if args.json:
        print_json({"expr": str(program.assignment), **result.to_dict(), "check": check})
    else:
        print(result.summary())
        _print_check(check)
    return EXIT_FAILED if check and not check["ok"] else EXIT_OK


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def _program_options(p: argparse.ArgumentParser, *, shapes_help: str) -> None:
    p.add_argument("expr", metavar="EXPR", help='index notation ("y(i) = A(i,j) * x(j)") or einsum ("ij,j->i", '
                                                "operands A, B, ...)")
    p.add_argument("--format", action="append", metavar="NAME=F",
                   help="store an input in format F (csr, csc, dcsr, dense, sparse, 'dss', ...); repeatable")
    p.add_argument("--shape", action="append", metavar="NAME=SIZES", help=shapes_help)
    p.add_argument("--out-format", metavar="F", help="the output's format (default: chosen from the loops)")
    p.add_argument("--loop-order", metavar="ORDER", help="fix the loop order, e.g. ikj or i,k,j (default: cost model)")


def _operand_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("operands", nargs="+", metavar="NAME=FILE", help=f"each input's file: {TENSOR_FILES}")
    p.add_argument("--check", action="store_true", help="compare with the dense numpy gold; exit 1 if it differs")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")


SPMV = '"y(i) = A(i,j) * x(j)"'


def register(subparsers) -> None:
    """Add ``info``, ``convert``, ``compile``, ``run`` and ``simulate`` to the ``zeroskip`` parser."""
    info = subparsers.add_parser(
        "info", help="statistics of a tensor file (.mtx, .tns, .npz), spy plot",
        description="Statistics of a tensor file: levels, fiber lengths, the footprint of each format.",
        epilog="examples:\n  zeroskip info A.mtx\n  zeroskip info A.mtx --spy -        # text spy plot\n"
               "  zeroskip info A.mtx --spy A.png    # image (needs the report extra: matplotlib)\n"
               "  zeroskip info T.tns --format dss --json")
    info.add_argument("path", metavar="FILE")
    info.add_argument("--format", help="store in this format before the statistics (default CSR/CSF)")
    info.add_argument("--top", type=_positive, default=8, help="formats to list, smallest first (default 8)")
    info.add_argument("--spy", metavar="PATH|-", help="spy plot: '-' prints characters, a .png path writes an image")
    info.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    info.set_defaults(func=cmd_info)

    convert = subparsers.add_parser(
        "convert", help="convert between files and formats", description="Read a tensor file and write it in "
        "another file type or storage format (.npz keeps the format).",
        epilog="examples:\n  zeroskip convert A.mtx A.npz --format dcsr\n  zeroskip convert T.tns T.npz --format 'sss[2,0,1]'")
    convert.add_argument("src", metavar="IN")
    convert.add_argument("dst", metavar="OUT")
    convert.add_argument("--format", help="target format, e.g. csc, dcsr, 'sss[2,0,1]'")
    convert.add_argument("--json", action="store_true", help="print one JSON document")
    convert.set_defaults(func=cmd_convert)

    comp = subparsers.add_parser(
        "compile", help="compile an expression for formats and show its stages",
        description="Compile an expression for operand formats (and shapes) without any data and print a stage: "
                    "the parsed expression, the loop nest, the SAM dataflow graph (text or DOT), the generated "
                    "CPU kernel source, or the scheduler's reasons. Inputs without --format are csr (matrices), "
                    "csf (order 3+) or compressed vectors.",
        epilog=f"examples:\n  zeroskip compile {SPMV} --format A=csr --format x=dense --emit loops\n"
               f"  zeroskip compile \"X(i,j) = B(i,k) * C(k,j)\" --shape B=1000x50 --shape C=50x2000 --emit explain\n"
               f"  zeroskip compile \"ik,kj->ij\" --emit dot > spgemm.gv\n"
               f"  zeroskip compile {SPMV} --emit source --emit graph --json")
    _program_options(comp, shapes_help="an input's sizes for the cost model, e.g. A=100x100; repeatable")
    comp.add_argument("--emit", action="append", choices=EMITS,
                      help="what to print (repeatable; default explain)")
    comp.add_argument("--json", action="store_true", help="print one JSON document")
    comp.set_defaults(func=cmd_compile)

    run = subparsers.add_parser(
        "run", help="run an expression on tensors from files (CPU)",
        description="Compile an expression for the tensors in the files and run it natively on the CPU "
                    "(the generated sparse kernel, or dense numpy when the cost model predicts it faster).",
        epilog=f"examples:\n  zeroskip run {SPMV} A=A.mtx x=x.npy\n"
               f"  zeroskip run \"X(i,j) = B(i,k) * C(k,j)\" B=B.mtx C=C.npz --out X.npz --threads 4\n"
               f"  zeroskip run \"ij,j->i\" A=A.mtx B=x.npy --backend sparse --check --json")
    _program_options(run, shapes_help="the shape of a .tns input (default: its largest coordinates)")
    _operand_args(run)
    run.add_argument("--out", metavar="FILE", help="write the result (.npy dense, or .mtx, .tns, .npz)")
    run.add_argument("--threads", type=_positive, metavar="N", help="threads (default: the usable cores)")
    run.add_argument("--backend", choices=("auto", "sparse", "dense"), default="auto",
                     help="force the sparse kernel or dense numpy (default auto: the cost model decides)")
    run.set_defaults(func=cmd_run)

    sim = subparsers.add_parser(
        "simulate", help="simulate an expression on the modelled accelerator",
        description="Map an expression's SAM dataflow graph onto the modelled sparse accelerator (Onyx by "
                    "default), simulate it and print cycles, energy and the busiest blocks. Every number is a model.",
        epilog=f"examples:\n  zeroskip simulate {SPMV} A=A.mtx x=x.npy\n"
               f"  zeroskip simulate {SPMV} A=A.mtx x=x.npy --mode sam --check\n"
               f"  zeroskip simulate {SPMV} A=A.mtx x=x.npy --arch my_arch.toml --copies 4 --json")
    _program_options(sim, shapes_help="the shape of a .tns input (default: its largest coordinates)")
    _operand_args(sim)
    sim.add_argument("--arch", default="onyx", metavar="onyx|FILE.toml", help="architecture spec (default onyx)")
    sim.add_argument("--energy", metavar="onyx12nm|FILE.toml", help="energy table (default: the arch's 12 nm table)")
    sim.add_argument("--mode", choices=("sparse", "dense", "sam"), default="sparse",
                     help="sparse: tiled and placed; dense: dense arithmetic; sam: SAM simulator's assumptions")
    sim.add_argument("--copies", type=_positive, metavar="N", help="copies of the graph on the array (default: all that fit)")
    sim.add_argument("--tiling", choices=("nnz", "coords"), default="nnz", help="tile by equal nonzeros or coordinate ranges")
    sim.add_argument("--balance", choices=("lpt", "round_robin"), default="lpt",
                     help="assign tiles to copies longest-first, or round robin as the published chip")
    sim.set_defaults(func=cmd_simulate)
