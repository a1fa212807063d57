"""The `zeroskip` command: the demo on the real data, info and convert, and clean user errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

import zeroskip as zs
from zeroskip.cli import main


def test_demo_reads_every_file_and_agrees_with_scipy(data_dir, tmp_path, capsys):
    out = tmp_path / "demo.json"
    assert main(["demo", "--data", str(data_dir), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "agree with scipy.io.mmread: all" in printed
    results = json.loads(out.read_text())
    assert len(results["suitesparse"]) == 23
    assert len(results["graphchallenge"]) == 31  # the images and 30 weight layers
    by_name = {r["matrix"]: r for r in results["suitesparse"]}
    assert by_name["arrow"]["shape"] == "46500x46500"
    assert by_name["karate"]["nnz"] == 156  # 78 stored pattern entries, mirrored
    assert all(r["_agrees"] for r in results["suitesparse"] + results["graphchallenge"])
    weights = results["graphchallenge"][1:]
    assert all(r["nnz"] == 1024 * 32 and r["max row"] == 32 for r in weights)


def test_demo_without_data_is_a_clear_error(tmp_path, capsys):
    assert main(["demo", "--data", str(tmp_path / "nowhere")]) == 2
    assert "no data folder" in capsys.readouterr().err


def test_info_and_convert_round_trip(tmp_path, capsys):
    array = np.zeros((6, 5))
    array[1, 2], array[4, 0], array[4, 4] = 1.5, -2.0, 3.0
    src = tmp_path / "m.mtx"
    from zeroskip.formats.io import load, save

    save(src, zs.as_tensor(array))
    assert main(["info", str(src)]) == 0
    printed = capsys.readouterr().out
    assert "empty" in printed and "format" in printed and "nnz=3" in printed
    dst = tmp_path / "m.npz"
    assert main(["convert", str(src), str(dst), "--format", "dcsc"]) == 0
    back = load(dst)
    assert back.format.name == "dcsc"
    np.testing.assert_array_equal(back.to_numpy(), array)


def test_bad_file_exits_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.mtx"
    bad.write_text("%%MatrixMarket matrix coordinate real general\n3 3 2\n1 1 1.0\n9 2 2.0\n")
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zeroskip: error:") and "bad.mtx" in err


def test_console_script_is_installed():
    done = subprocess.run([sys.executable, "-m", "zeroskip.cli", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "demo" in done.stdout
