"""zeroskip.hardware specs: the bundled Onyx architecture and energy table, their checks, pricing, baselines."""

from __future__ import annotations

import json
import math
import tomllib
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeroskip.dataflow.graph import Op
from zeroskip.errors import ConfigError, HardwareError
from zeroskip.hardware import (
    Arch, EnergyTable, PrimitiveTiming, cpu_energy_baseline, default_arch, default_energy, load_arch, load_energy,
)
from zeroskip.hardware.arch import OPS
from zeroskip.hardware.baseline import DEFAULT_CPU_WATTS, measure_rapl
from zeroskip.hardware.energy import CATEGORIES, EVENTS, efficiency_check

DATA = resources.files("zeroskip.hardware").joinpath("data")
BUNDLED = ("onyx.toml", "energy_onyx12nm.toml")


# --- the bundled specs hold the published numbers, each with a source --------------------------------

def test_default_arch_holds_the_published_onyx_numbers():
    a = default_arch()
    assert (a.rows, a.cols) == (16, 32)
    assert (a.pe_tiles, a.mem_tiles) == (384, 128)
    assert a.mem_tile_bytes == 4096
    assert (a.glb_tiles, a.glb_tile_bytes) == (16, 256 * 1024)
    assert a.clock_hz == 970e6 and a.technology_nm == 12.0
    assert a.data_bits == 16 and a.word_bytes == 2
    assert a.mem_columns == tuple(range(3, 32, 4))
    assert set(a.primitives) == {op.value for op in Op}
    assert a.timing(Op.LEVEL_SCAN) == PrimitiveTiming(2, 1) and a.timing("alu") == PrimitiveTiming(1, 1)
    assert math.isclose(a.period_s, 1 / 970e6)


def test_tile_kinds_follow_the_memory_columns():
    a = default_arch()
    kinds = [[a.tile_kind(r, c) for c in range(a.cols)] for r in range(a.rows)]
    assert sum(row.count("mem") for row in kinds) == a.mem_tiles
    assert sum(row.count("pe") for row in kinds) == a.pe_tiles
    with pytest.raises(HardwareError, match=r"row=16, col=0"):
        a.tile_kind(16, 0)


def _leaves(table, path=""):
    """(dotted path, entry) of every sourced entry of a parsed bundled TOML file."""
    for key, value in table.items():
        where = f"{path}.{key}" if path else key
        if key == "name":
            continue
        if isinstance(value, dict) and ("value" in value or "latency" in value):
            yield where, value
        elif isinstance(value, dict):
            yield from _leaves(value, where)
        else:
            yield where, value


@pytest.mark.parametrize("filename", BUNDLED)
def test_every_bundled_value_has_a_source(filename):
    raw = tomllib.loads(DATA.joinpath(filename).read_text(encoding="utf-8"))
    leaves = list(_leaves(raw))
    assert len(leaves) > 10
    for path, entry in leaves:
        assert isinstance(entry, dict), f"{filename}: {path} = {entry!r} has no source"
        assert isinstance(entry.get("source"), str) and entry["source"].strip(), f"{filename}: {path} has no source"


def test_loaded_specs_record_a_citation_for_every_value():
    a, e = default_arch(), default_energy()
    assert set(a.sources) == {*(k for k in a.to_dict() if k not in ("name", "primitives")),
                              *(f"primitives.{op}" for op in OPS)}
    for sources in (a.sources, e.sources):
        assert all(s.strip() and s != "user" for s in sources.values())
    assert set(e.sources) == {*e.values, *(f"{c}.{x}" for c, pts in e.curves.items() for x in pts)}


def test_assumptions_are_marked_as_such():
    a, e = default_arch(), default_energy()
    for key in ("dram_bytes_per_s", "dram_latency_cycles", "hop_latency", "primitives.alu"):
        assert a.sources[key].startswith("assumption:")
    for key in ("scaling.factor", "interconnect_45nm.fifo_pj_per_bit", "chip.static_w"):
        assert e.sources[key].startswith("assumption:")


# --- validation: every error names the dotted path and the value --------------------------------------

def _full_spec() -> dict:
    return default_arch().to_dict()


def _without(path: str) -> dict:
    spec = _full_spec()
    *parents, last = path.split(".")
    table = spec
    for key in parents:
        table = table[key]
    del table[last]
    return spec


ARCH_ERRORS = [
    # (spec, substrings the message must contain)
    ({"base": "onyx", "rowz": 16}, ["'rowz'", "16", "did you mean 'rows'"]),
    ({"base": "onyx", "fifo_dept": 3}, ["'fifo_dept'", "3", "did you mean 'fifo_depth'"]),
    (_without("rows"), ["missing key 'rows'"]),
    (_without("primitives.crdhold"), ["missing key 'primitives.crdhold'"]),
    ({"base": "onyx", "rows": "16"}, ["rows", "'16'", "integer"]),
    ({"base": "onyx", "rows": True}, ["rows", "True", "integer"]),
    ({"base": "onyx", "clock_hz": "fast"}, ["clock_hz", "'fast'", "number"]),
    ({"base": "onyx", "rows": 2.5}, ["rows", "2.5", "integer"]),
    ({"base": "onyx", "fifo_depth": 0}, ["fifo_depth = 0", ">= 1"]),
    ({"base": "onyx", "clock_hz": -1.0}, ["clock_hz = -1.0", "> 0"]),
    ({"base": "onyx", "hop_latency": -1}, ["hop_latency = -1", ">= 0"]),
    ({"base": "onyx", "data_bits": 128}, ["data_bits = 128", "<= 64"]),
    ({"base": "onyx", "mem_columns": [3, 7, 3]}, ["mem_columns = [3, 7, 3]", "column 3 appears twice"]),
    ({"base": "onyx", "mem_columns": [3, 40]}, ["mem_columns[1] = 40", "32 columns"]),
    ({"base": "onyx", "mem_columns": [3, -1]}, ["mem_columns[1] = -1"]),
    ({"base": "onyx", "mem_columns": 3}, ["mem_columns = 3", "list"]),
    ({"base": "onyx", "cols": 8}, ["mem_columns[2] = 11", "8 columns"]),
    ({"base": "onyx", "primitives": {"fibrelookup": {"latency": 1, "ii": 1}}},
     ["'primitives.fibrelookup'", "did you mean 'primitives.fiberlookup'"]),
    ({"base": "onyx", "primitives": {"alu": {"latency": 0}}}, ["primitives.alu.latency = 0", ">= 1"]),
    ({"base": "onyx", "primitives": {"alu": {"ii": 0}}}, ["primitives.alu.ii = 0", ">= 1"]),
    ({"base": "onyx", "primitives": {"alu": {"latency": 1, "iii": 1}}},
     ["'primitives.alu.iii'", "did you mean 'primitives.alu.ii'"]),
    ({"base": "onyx", "primitives": {"alu": 3}}, ["primitives.alu = 3"]),
    ({"base": "onyx", "rows": {"value": 16, "source": ""}}, ["rows.source = ''"]),
    ({"base": "onyx", "rows": {"value": 16, "sauce": "x"}}, ["'rows.sauce'", "did you mean 'rows.source'"]),
    ({"base": "amber"}, ["base = 'amber'", "onyx"]),
    ({"base": "onyx", "name": ""}, ["name = ''"]),
]


@pytest.mark.parametrize("spec, expected", ARCH_ERRORS, ids=[repr(s)[:60] for s, _ in ARCH_ERRORS])
def test_arch_errors_name_the_path_and_the_value(spec, expected):
    with pytest.raises(HardwareError) as info:
        load_arch(spec)
    for text in expected:
        assert text in str(info.value), f"{text!r} not in {str(info.value)!r}"


def test_arch_spec_sources_text_and_files(tmp_path):
    text = 'base = "onyx"\nrows = 8\nfifo_depth = { value = 4, source = "what-if" }\nprimitives.alu = { latency = 3 }\n'
    a = load_arch(text)
    assert (a.rows, a.fifo_depth, a.timing("alu"), a.cols) == (8, 4, PrimitiveTiming(3, 1), 32)
    assert (a.sources["rows"], a.sources["fifo_depth"], a.sources["primitives.alu"]) == ("user", "what-if", "user")
    assert a.sources["cols"] == default_arch().sources["cols"]  # inherited values keep their citation
    path = tmp_path / "mine.toml"
    path.write_text(text)
    assert load_arch(path) == a == load_arch(str(path))
    assert load_arch("onyx") == default_arch()
    with pytest.raises(HardwareError, match="no architecture spec at"):
        load_arch(str(tmp_path / "missing.toml"))
    with pytest.raises(HardwareError, match="not valid TOML"):
        load_arch("rows = = 3")
    with pytest.raises(HardwareError, match="expected a path"):
        load_arch(42)


def test_replace_validates_and_marks_user_values():
    a = default_arch()
    b = a.replace(rows=8)
    assert b.pe_tiles == 8 * 24 and b.sources["rows"] == "user" and b.sources["cols"] == a.sources["cols"]
    c = a.replace(primitives={**a.primitives, "alu": PrimitiveTiming(4, 2)})
    assert c.timing("alu") == PrimitiveTiming(4, 2) and c.sources["primitives.alu"] == "user"
    assert c.sources["primitives.union"] == a.sources["primitives.union"]
    with pytest.raises(HardwareError, match=r"rows = 0: must be >= 1"):
        a.replace(rows=0)
    with pytest.raises(HardwareError, match=r"mem_columns\[4\] = 19: outside the 16 columns"):
        a.replace(cols=16)
    with pytest.raises(HardwareError, match=r"no field 'row' \(= 3\); did you mean 'rows'"):
        a.replace(row=3)
    with pytest.raises(HardwareError, match=r"missing key 'primitives.alu'"):
        a.replace(primitives={op: t for op, t in a.primitives.items() if op != "alu"})
    with pytest.raises(HardwareError, match=r"primitives.alu = \(1, 1\)"):
        a.replace(primitives={**a.primitives, "alu": (1, 1)})
    with pytest.raises(HardwareError, match="latency = 0"):
        PrimitiveTiming(0, 1)
    assert hash(b) == hash(a.replace(rows=8)) and b == a.replace(rows=8) and b != a


def test_timing_of_a_missing_op_names_it():
    with pytest.raises(HardwareError, match=r"no timing for primitive 'fiberlokup'; did you mean 'fiberlookup'"):
        default_arch().timing("fiberlokup")


@st.composite
def _overrides(draw):
    cols = draw(st.integers(1, 40))
    spec = {
        "base": "onyx",
        "rows": draw(st.integers(1, 40)),
        "cols": cols,
        "mem_columns": draw(st.lists(st.integers(0, cols - 1), unique=True, max_size=cols)),
        "clock_hz": {"value": draw(st.floats(1e6, 5e9)), "source": draw(st.text(min_size=1).filter(str.strip))},
        "fifo_depth": draw(st.integers(1, 64)),
        "hop_latency": draw(st.integers(0, 5)),
        "glb_bytes_per_cycle": draw(st.floats(0.5, 512)),
        "data_bits": draw(st.integers(1, 64)),
    }
    ops = draw(st.lists(st.sampled_from(OPS), unique=True))
    spec["primitives"] = {op: {"latency": draw(st.integers(1, 9)), "ii": draw(st.integers(1, 4))} for op in ops}
    return spec


@given(_overrides())
def test_random_overrides_round_trip_through_to_dict(spec):
    a = load_arch(spec)
    assert a.cols == spec["cols"] and a.mem_columns == tuple(sorted(spec["mem_columns"]))
    assert a.pe_tiles + a.mem_tiles == a.rows * a.cols
    for op, t in spec["primitives"].items():
        assert a.timing(op) == PrimitiveTiming(t["latency"], t["ii"]) and a.sources[f"primitives.{op}"] == "user"
    d = a.to_dict()
    assert load_arch(d) == a
    assert load_arch(json.loads(json.dumps(d))) == a  # JSON-able, and survives JSON


# --- the energy table ----------------------------------------------------------------------------------

def test_energy_lookups_follow_the_stated_rules():
    e = default_energy()
    assert e.scale == 0.3
    assert math.isclose(e.alu_pj("add", 16), 0.4 * 0.3) and math.isclose(e.alu_pj("mul", 32), 3.7 * 0.3)
    assert e.alu_pj("sub", 16) == e.alu_pj("add", 16)
    assert math.isclose(e.alu_pj("cmp", 16), 0.03 * 2 ** (math.log(0.1 / 0.03) / math.log(4)) * 0.3)
    assert math.isclose(e.alu_pj("mul", 64), 3.7 * 2 ** math.log2(3.7 / 1.1) * 0.3)  # extrapolated from 16, 32
    assert math.isclose(e.sram_pj("read", 32768, 64), 20 * 0.3)
    assert math.isclose(e.sram_pj("read", 32768, 16), 20 * 0.3 / 4)
    assert math.isclose(e.sram_pj("read", 4096, 64), 10 * math.sqrt(0.5) * 0.3)  # below 8 KB: 8 KB-32 KB law
    assert math.isclose(e.sram_pj("write", 8192, 64), e.sram_pj("read", 8192, 64))
    assert e.sram_pj("read", 8192, 64) < e.sram_pj("read", 65536, 64) < e.sram_pj("read", 1 << 20, 64)
    # the bundled GLB figure is the SRAM rule at one 256 KB tile, as its source says
    assert math.isclose(e.glb_pj_per_byte, e.sram_pj("read", 256 * 1024, 8), rel_tol=1e-3)
    assert math.isclose(e.fifo_pj(17), 0.01 * 17 * 0.3) and math.isclose(e.hop_pj(17), 0.02 * 17 * 0.3)
    assert (e.dram_pj_per_byte, e.static_w) == (162.5, 0.15)
    with pytest.raises(HardwareError, match=r"alu op 'mull'.*did you mean 'mul'"):
        e.alu_pj("mull", 16)
    with pytest.raises(HardwareError, match="'erase'"):
        e.sram_pj("erase", 4096, 16)
    with pytest.raises(HardwareError, match="bits = 0"):
        e.fifo_pj(0)


def test_price_equals_the_hand_sum():
    e, a = default_energy(), default_arch()
    counts = {"alu_add": 10, "alu_sub": 4, "alu_mul": 3, "compare": 20, "dense_mac": 5, "mem_read": 7,
              "mem_write": 2, "fifo": 30, "hop": 11, "glb_byte": 100, "dram_byte": 50}
    s = 0.3
    cmp16 = 0.03 * 2 ** (math.log(0.1 / 0.03) / math.log(4))
    word = 10 * math.sqrt(4096 / 8192) * 16 / 64  # 4 KB tile, 16-bit word, 45 nm
    pj = {
        "compute": (10 * 0.4 + 4 * 0.4 + 3 * 1.1 + 20 * cmp16 + 5 * (1.1 + 0.4)) * s,
        "memory_tiles": (7 + 2) * word * s,
        "interconnect": (30 * 0.01 * 17 + 11 * 0.02 * 17) * s,
        "global_buffer": 100 * 6.566 * s,
        "dram": 50 * 162.5,
    }
    joules = e.price(counts, a, 2e-6)
    assert set(joules) == set(CATEGORIES) and set(counts) == set(EVENTS)
    for category, value in pj.items():
        assert math.isclose(joules[category], value * 1e-12), category
    assert math.isclose(joules["static"], 0.15 * 2e-6)
    assert math.isclose(joules["total"], sum(pj.values()) * 1e-12 + 0.15 * 2e-6)
    assert e.price({}, a, 0.0) == dict.fromkeys(CATEGORIES, 0.0)


def test_price_refuses_unknown_events_and_bad_counts():
    e, a = default_energy(), default_arch()
    with pytest.raises(HardwareError, match=r"unknown event 'mem_reads'.*did you mean 'mem_read'"):
        e.price({"mem_reads": 1}, a, 0.0)
    with pytest.raises(HardwareError, match=r"counts\['hop'\] = -1.0"):
        e.price({"hop": -1}, a, 0.0)
    with pytest.raises(HardwareError, match="seconds = -1.0"):
        e.price({}, a, -1.0)


def test_efficiency_check_is_within_the_stated_factor():
    check = efficiency_check(default_energy(), default_arch())
    assert check["published_gops_per_w"] == 756.0 and check["tolerance"] == 3.0
    assert math.isclose(check["gops"], 2 * 384 * 970e6 / 1e9)
    assert 1 / 3 <= check["ratio"] <= 3 and check["within"]
    assert math.isclose(check["ratio"], check["modelled_gops_per_w"] / 756.0)
    # a table off by 10x is caught
    wrong = load_energy({"base": "onyx12nm", "scaling": {"factor": 3.0}, "chip": {"static_w": 1.5}})
    assert not efficiency_check(wrong, default_arch())["within"]


ENERGY_ERRORS = [
    ({"base": "onyx12nm", "chipp": {}}, ["'chipp'", "did you mean 'chip'"]),
    ({"base": "onyx12nm", "chip": {"static_W": 1.0}}, ["'chip.static_W'", "did you mean 'chip.static_w'"]),
    ({"base": "onyx12nm", "chip": {"static_w": -0.1}}, ["chip.static_w = -0.1", ">= 0"]),
    ({"base": "onyx12nm", "scaling": {"factor": 0}}, ["scaling.factor = 0.0", "> 0"]),
    ({"base": "onyx12nm", "calibration": {"tolerance": float("nan")}}, ["calibration.tolerance = nan", "finite"]),
    ({"base": "onyx12nm", "sram_45nm": {"word_bits": "64"}}, ["sram_45nm.word_bits", "'64'"]),
    ({"base": "onyx12nm", "alu_45nm": {"mul": {"16": "x"}}}, ["alu_45nm.mul.16 = 'x'"]),
    ({"base": "onyx12nm", "alu_45nm": {"mul": {"sixteen": 1.0}}}, ["alu_45nm.mul.sixteen", "'sixteen'"]),
    ({"name": "x", "alu_45nm": {}}, ["missing key 'scaling'"]),
    ({"base": "onyx12nm", "base2": 1}, ["'base2'"]),
]


@pytest.mark.parametrize("spec, expected", ENERGY_ERRORS, ids=[repr(s)[:60] for s, _ in ENERGY_ERRORS])
def test_energy_errors_name_the_path_and_the_value(spec, expected):
    with pytest.raises(HardwareError) as info:
        load_energy(spec)
    for text in expected:
        assert text in str(info.value), f"{text!r} not in {str(info.value)!r}"


def test_energy_curves_need_two_points():
    spec = default_energy().to_dict()
    spec["alu_45nm"]["add"] = {"16": {"value": 0.4, "source": "x"}}
    with pytest.raises(HardwareError, match="alu_45nm.add = .*at least two points"):
        load_energy(spec)


def test_energy_table_round_trips_and_overrides():
    e = default_energy()
    assert isinstance(e, EnergyTable)
    assert load_energy(json.loads(json.dumps(e.to_dict()))) == e
    t = load_energy({"base": "onyx12nm", "scaling": {"factor": {"value": 0.5, "source": "what-if: 16 nm"}}})
    assert t.scale == 0.5 and t.sources["scaling.factor"] == "what-if: 16 nm"
    assert math.isclose(t.alu_pj("add", 16), 0.2) and t.static_w == e.static_w


# --- the CPU baseline ----------------------------------------------------------------------------------

def test_cpu_baseline_estimate_path(monkeypatch):
    monkeypatch.delenv("ZEROSKIP_CPU_WATTS", raising=False)
    r = cpu_energy_baseline(3.0)
    assert r == {"joules": 3.0 * DEFAULT_CPU_WATTS, "watts": DEFAULT_CPU_WATTS,
                 "method": f"estimate: configured package power {DEFAULT_CPU_WATTS:g} W",
                 "label": "estimated (package power x time)"}
    monkeypatch.setenv("ZEROSKIP_CPU_WATTS", "120")
    assert cpu_energy_baseline(0.5)["joules"] == 60.0
    assert cpu_energy_baseline(0.5, package_watts=10)["method"] == "estimate: configured package power 10 W"
    monkeypatch.setenv("ZEROSKIP_CPU_WATTS", "lots")
    with pytest.raises(ConfigError, match="ZEROSKIP_CPU_WATTS='lots'"):
        cpu_energy_baseline(1.0)
    with pytest.raises(HardwareError, match="seconds=-1"):
        cpu_energy_baseline(-1, package_watts=10)
    with pytest.raises(HardwareError, match="package_watts=0"):
        cpu_energy_baseline(1.0, package_watts=0)


def test_cpu_baseline_measured_path():
    r = cpu_energy_baseline(2.0, measured_joules=30.0)
    assert r == {"joules": 30.0, "watts": 15.0, "method": "rapl", "label": "measured (RAPL package energy)"}


def test_measure_rapl_reads_the_counter_and_undoes_one_wrap(tmp_path):
    counter = tmp_path / "energy_uj"
    (tmp_path / "max_energy_range_uj").write_text("1000000\n")
    counter.write_text("250000\n")
    with measure_rapl(tmp_path) as r:
        counter.write_text("750000\n")
    assert math.isclose(r.joules, 0.5) and r.seconds >= 0
    counter.write_text("900000\n")
    with measure_rapl(tmp_path) as r:
        counter.write_text("100000\n")  # wrapped: 900000 -> 1000000 -> 100000
    assert math.isclose(r.joules, 0.2)
    (tmp_path / "max_energy_range_uj").unlink()
    counter.write_text("900000\n")
    with measure_rapl(tmp_path) as r:
        counter.write_text("100000\n")
    assert r.joules is None  # wrapped, and the range is unknown
    with measure_rapl(tmp_path / "absent") as r:
        pass
    assert r.joules is None


def test_arch_is_a_frozen_value():
    a = default_arch()
    with pytest.raises(AttributeError):
        a.rows = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        a.primitives["alu"] = PrimitiveTiming(1, 1)  # type: ignore[index]
    assert isinstance(a, Arch) and load_arch(a.to_dict()) is not a


def test_static_power_scales_with_the_array_tiles():
    from zeroskip.hardware import default_arch, default_energy

    e, a = default_energy(), default_arch()
    assert e.values["chip.static_tiles"] == a.pe_tiles + a.mem_tiles == 512
    half = a.replace(rows=a.rows // 2)
    assert math.isclose(e.price({}, half, 1.0)["static"], e.static_w / 2)
    assert math.isclose(e.price({}, a, 2.0)["static"], 2 * e.static_w)
    other = load_energy({"base": "onyx12nm", "chip": {"static_tiles": 256}})
    assert math.isclose(other.static_w_of(half), e.static_w)
    with pytest.raises(HardwareError, match="chip.static_tiles = 0"):
        load_energy({"base": "onyx12nm", "chip": {"static_tiles": 0}})
