"""The disk memo of chosen loop orders: a memoized compile is the searched one, and the memo never gets in the way."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from test_lowering import KERNELS

import zeroskip as zs
from zeroskip.compiler import memo, program as program_module
from zeroskip.compiler.schedule import OperandInfo

# Every kernel of the compiler's table with each combination of its candidate formats (scalars as values).
CASES = [(name, text, dict(zip(ops, formats)), {n: shape for n, (shape, _) in ops.items()})
         for name, text, ops in KERNELS
         for formats in itertools.product(*(fmts for _, fmts in ops.values()))]


@pytest.fixture
def searches(monkeypatch, tmp_path):
    """A fresh cache folder; yields the number of loop-order searches ``compile`` ran so far."""
    monkeypatch.setenv("ZEROSKIP_CACHE_DIR", str(tmp_path))
    count = [0]
    original = program_module.make_schedule

    def counted(*args, loop_order=None, **kwargs):
        count[0] += loop_order is None
        return original(*args, loop_order=loop_order, **kwargs)

    monkeypatch.setattr(program_module, "make_schedule", counted)
    return count


def compiled(text, formats):
    return zs.compile(text, **{n: f or 1.0 for n, f in formats.items()})


@pytest.mark.parametrize(("name", "text", "formats", "shapes"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_a_memoized_compile_is_the_searched_one(name, text, formats, shapes, searches, tmp_path):
    searched = compiled(text, formats)
    before = searches[0]
    recalled = compiled(text, formats)
    assert recalled.schedule == searched.schedule  # order, formats, conversions, dims, cost, ranking, chosen by
    assert recalled.explain() == searched.explain() and str(recalled.loopnest) == str(searched.loopnest)
    if any(not f for f in formats.values()):  # a scalar given as a value carries statistics: never memoized
        assert searches[0] == before + 1
    else:
        assert searches[0] == before and len(list((tmp_path / "schedules").glob("*.json"))) == 1


def test_what_is_not_memoized_and_what_the_memo_survives(searches, tmp_path):
    A = np.eye(4)
    zs.compile("y(i) = A(i,j) * x(j)", A=A, x=np.ones(4))  # tensors: their statistics steer the search
    zs.compile("y(i) = A(i,j) * x(j)", A="csr", x="dense", loop_order="ji")  # the user's order: no search
    assert not (tmp_path / "schedules").exists() or not list((tmp_path / "schedules").iterdir())
    shaped = {"A": OperandInfo(zs.formats.as_format("csr"), shape=(4, 1000)), "x": "dense"}
    p = zs.compile("y(i) = A(i,j) * x(j)", **shaped)
    files = list((tmp_path / "schedules").glob("*.json"))
    assert len(files) == 1 and zs.compile("y(i) = A(i,j) * x(j)", **shaped).schedule == p.schedule
    for broken in ("{", json.dumps({"loop_order": ["i"]}), json.dumps({"ranking": 3})):
        files[0].write_text(broken)
        count = searches[0]
        assert zs.compile("y(i) = A(i,j) * x(j)", **shaped).schedule == p.schedule and searches[0] == count + 1


def test_an_unwritable_cache_only_costs_the_search(searches, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("ZEROSKIP_CACHE_DIR", str(blocker))  # a file where the folder should be
    p = zs.compile("X(i,j) = B(i,k) * C(k,j)", B="csr", C="csr")
    assert zs.compile("X(i,j) = B(i,k) * C(k,j)", B="csr", C="csr").schedule == p.schedule and searches[0] == 2


def test_the_key_follows_every_input_of_the_choice():
    from zeroskip.lang import parse

    csr, dense = (OperandInfo(zs.formats.as_format(f)) for f in ("csr", "d"))
    a, b = parse("y(i) = A(i,j) * x(j)"), parse("y(i) = A(i,k) * x(k)")
    keys = {memo.memo_key(a, {"A": csr, "x": dense}, None), memo.memo_key(b, {"A": csr, "x": dense}, None),
            memo.memo_key(a, {"A": csr, "x": dense}, "sparse"),
            memo.memo_key(a, {"A": OperandInfo(csr.format, shape=(3, 4)), "x": dense}, None),
            memo.memo_key(a, {"A": OperandInfo(zs.formats.as_format("csc")), "x": dense}, None)}
    assert len(keys) == 5 and None not in keys
