"""The `zeroskip` command line: every command through `main([...])` on small files, against numpy gold;
--json documents, exit codes (0 ok, 1 wrong, 2 usage/input, 3 missing extra, 130 interrupted), --help."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

import zeroskip as zs
from zeroskip.cli import build_parser, main, tensors
from zeroskip.cli._weights import load_weights, save_weights
from zeroskip.formats.io import load, save

SPMV = "y(i) = A(i,j) * x(j)"


@pytest.fixture
def files(tmp_path):
    """A random 30x20 matrix A.mtx (rows 0-9 empty), a dense vector x.npy, a 20x25 matrix B.mtx."""
    rng = np.random.default_rng(7)
    A = sp.random_array((30, 20), density=0.25, random_state=1, format="csr").toarray()
    A[:10] = 0.0  # an empty band the spy plot must show blank
    B = sp.random_array((20, 25), density=0.2, random_state=2, format="coo")
    x = rng.standard_normal(20)
    scipy.io.mmwrite(tmp_path / "A.mtx", sp.coo_array(A))
    scipy.io.mmwrite(tmp_path / "B.mtx", B)
    np.save(tmp_path / "x.npy", x)
    return {"dir": tmp_path, "A": A, "B": B.toarray(), "x": x,
            "A.mtx": str(tmp_path / "A.mtx"), "B.mtx": str(tmp_path / "B.mtx"), "x.npy": str(tmp_path / "x.npy")}


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("zeroskip: error: ") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    return err


# ---- data, info, convert -------------------------------------------------------------------------
def test_data_reads_every_file_and_agrees_with_scipy(data_dir, capsys):
    assert main(["data", "--data", str(data_dir)]) == 0
    assert "agree with scipy.io.mmread: all" in capsys.readouterr().out
    assert main(["data", "--data", str(data_dir), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["disagree"] == []
    assert len(results["suitesparse"]) == 23
    assert len(results["graphchallenge"]) == 31  # the images and 30 weight layers
    by_name = {r["matrix"]: r for r in results["suitesparse"]}
    assert by_name["arrow"]["shape"] == "46500x46500"
    assert by_name["karate"]["nnz"] == 156  # 78 stored pattern entries, mirrored
    assert all(r["_agrees"] for r in results["suitesparse"] + results["graphchallenge"])
    weights = results["graphchallenge"][1:]
    assert all(r["nnz"] == 1024 * 32 and r["max row"] == 32 for r in weights)


def test_data_without_data_is_a_clear_error(tmp_path, capsys):
    assert main(["data", "--data", str(tmp_path / "nowhere")]) == 2
    assert "no data folder" in _error(capsys)


def test_info_and_convert_round_trip(tmp_path, capsys):
    array = np.zeros((6, 5))
    array[1, 2], array[4, 0], array[4, 4] = 1.5, -2.0, 3.0
    src = tmp_path / "m.mtx"
    save(src, zs.as_tensor(array))
    assert main(["info", str(src)]) == 0
    printed = capsys.readouterr().out
    assert "empty" in printed and "format" in printed and "nnz=3" in printed
    dst = tmp_path / "m.npz"
    assert main(["convert", str(src), str(dst), "--format", "dcsc", "--json"]) == 0
    assert _json(capsys)["format"] == "dcsc"
    back = load(dst)
    assert back.format.name == "dcsc"
    np.testing.assert_array_equal(back.to_numpy(), array)


def test_info_json_counts_and_text_spy_shows_the_empty_band(files, capsys):
    assert main(["info", files["A.mtx"], "--json", "--top", "3"]) == 0
    doc = _json(capsys)
    assert doc["shape"] == [30, 20] and doc["nnz"] == np.count_nonzero(files["A"])
    assert len(doc["footprints"]) == 3 and doc["footprints"][0]["x_smallest"] == 1.0
    assert doc["levels"][1]["empty_fibers"] == np.sum(~files["A"].any(axis=1))
    assert main(["info", files["A.mtx"], "--spy", "-"]) == 0
    grid = [line[1:-1] for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    assert len(grid[0]) == 20  # one character per column of a 20-column matrix
    band = len(grid) * 10 // 30  # grid rows that lie wholly in the empty rows 0-9
    assert all(not row.strip() for row in grid[:band]) and all(row.strip() for row in grid[band + 1:])
    assert any("@" in row for row in grid)


def test_info_spy_png_is_written(files, capsys):
    pytest.importorskip("matplotlib")
    png = files["dir"] / "A.png"
    assert main(["info", files["A.mtx"], "--spy", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"spy plot written to {png}" in capsys.readouterr().out


def test_spy_png_without_matplotlib_exits_3_naming_the_extra(files, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    assert main(["info", files["A.mtx"], "--spy", str(files["dir"] / "A.png")]) == 3
    assert "zeroskip[report]" in _error(capsys)
    assert not (files["dir"] / "A.png").exists()


def test_spy_of_a_3_tensor_is_a_usage_error(tmp_path, capsys):
    path = tmp_path / "t.tns"
    save(path, zs.from_coo([[0, 1, 2]], [1.0], shape=(2, 2, 3)))
    assert main(["info", str(path), "--spy", "-"]) == 2
    assert "order 3" in _error(capsys)


# ---- run -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["auto", "sparse", "dense"])
def test_run_spmv_equals_numpy(files, backend, capsys):
    out = files["dir"] / "y.npy"
    code = main(["run", SPMV, f"A={files['A.mtx']}", f"x={files['x.npy']}", "--out", str(out),
                 "--backend", backend, "--threads", "2"])
    assert code == 0
    np.testing.assert_allclose(np.load(out), files["A"] @ files["x"], rtol=1e-12, atol=1e-12)
    assert "result: SparseTensor(shape=(30,)" in capsys.readouterr().out


def test_run_spgemm_json_check_and_mtx_output(files, capsys):
    out = files["dir"] / "X.mtx"
    assert main(["run", "X(i,j) = A(i,k) * B(k,j)", f"A={files['A.mtx']}", f"B={files['B.mtx']}",
                 "--out", str(out), "--out-format", "csr", "--check", "--json"]) == 0
    doc = _json(capsys)
    assert doc["check"]["ok"] is True and doc["output"]["shape"] == [30, 25] and doc["output"]["format"] == "csr"
    np.testing.assert_allclose(load(out).to_numpy(), files["A"] @ files["B"], rtol=1e-12, atol=1e-12)


def test_run_einsum_with_formats(files, capsys):
    assert main(["run", "ij,j->i", f"A={files['A.mtx']}", f"B={files['x.npy']}", "--format", "A=dcsr",
                 "--format", "B=dense", "--check"]) == 0
    assert "check against the dense numpy gold: ok" in capsys.readouterr().out


def test_run_with_a_wrong_result_exits_1(files, capsys, monkeypatch):
    real = zs.Program.run

    def off_by_one(self, *args, **kw):
        return zs.as_tensor(real(self, *args, **kw).to_numpy() + 1.0)

    monkeypatch.setattr(zs.Program, "run", off_by_one)
    assert main(["run", SPMV, f"A={files['A.mtx']}", f"x={files['x.npy']}", "--check"]) == 1
    assert "WRONG" in capsys.readouterr().out


@pytest.mark.parametrize("argv, says", [
    ([SPMV, "A=missing.mtx", "x=X"], "A=missing.mtx: no such file"),
    (["y(i) = A(i j) * x(j)", "A=A", "x=X"], "at column 12"),
    ([SPMV, "A=A", "x=X", "--format", "A=bogus"], "--format A=bogus"),
    ([SPMV, "A=A", "x=X", "--format", "x=csr"], "--format x=csr"),
    ([SPMV, "A=A"], "no file given for x"),
    ([SPMV, "A=A", "x=X", "q=X"], "operand q is not an input"),
    ([SPMV, "A", "x=X"], "expected NAME=VALUE"),
    ([SPMV, "A=A", "x=X", "--backend", "gpu"], "invalid choice: 'gpu'"),
    ([SPMV, "A=A", "x=X", "--threads", "0"], "got '0'"),
])
def test_run_usage_errors_exit_2_naming_the_value(files, argv, says, capsys):
    argv = [a.replace("=A", f"={files['A.mtx']}", 1) if a == "A=A" else a for a in argv]
    argv = [a.replace("=X", f"={files['x.npy']}") for a in argv]
    assert main(["run", *argv]) == 2
    assert says in _error(capsys)


def test_run_refuses_a_pickled_npy(files, capsys):
    bad = files["dir"] / "obj.npy"
    np.save(bad, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert main(["run", SPMV, f"A={files['A.mtx']}", f"x={bad}"]) == 2
    assert "allow_pickle" in _error(capsys)


# ---- compile -------------------------------------------------------------------------------------
def test_compile_emits_each_stage(capsys):
    base = ["compile", SPMV, "--format", "A=csr", "--format", "x=dense"]
    expected = {"expr": SPMV, "loops": "forall i", "graph": "fiberlookup", "dot": "digraph SAM",
                "source": "def kernel", "explain": "formats: A=csr, x=dense"}
    for kind, text in expected.items():
        assert main([*base, "--emit", kind]) == 0
        assert text in capsys.readouterr().out, kind


def test_compile_json_uses_the_shapes(capsys):
    assert main(["compile", "X(i,j) = B(i,k) * C(k,j)", "--shape", "B=300x7", "--shape", "C=7x40",
                 "--emit", "loops", "--emit", "expr", "--json"]) == 0
    doc = _json(capsys)
    assert doc["dims"] == {"i": 300, "j": 40, "k": 7}
    assert doc["formats"]["B"] == "ds" and set(doc["emit"]) == {"loops", "expr"}


@pytest.mark.parametrize("argv, says", [
    (["--shape", "B=3x7", "--shape", "C=8x4"], "index k is 7 in B"),
    (["--shape", "B=3"], "--shape B=3 has 1 sizes"),
    (["--shape", "B=3xq"], "--shape B '3xq'"),
    (["--format", "Z=csr"], "--format Z is not an input"),
    (["--loop-order", "ab"], "loop order"),
    (["--emit", "asm"], "invalid choice: 'asm'"),
])
def test_compile_usage_errors_exit_2(argv, says, capsys):
    assert main(["compile", "X(i,j) = B(i,k) * C(k,j)", *argv]) == 2
    assert says in _error(capsys)


# ---- simulate ------------------------------------------------------------------------------------
def test_simulate_sam_json_and_sparse_summary(files, capsys):
    operands = [f"A={files['A.mtx']}", f"x={files['x.npy']}"]
    assert main(["simulate", SPMV, *operands, "--mode", "sam", "--check", "--json"]) == 0
    doc = _json(capsys)
    assert doc["mode"] == "sam" and doc["cycles"] > 0 and doc["energy"]["total"] > 0 and doc["check"]["ok"]
    assert main(["simulate", SPMV, *operands, "--copies", "2", "--check"]) == 0
    out = capsys.readouterr().out
    assert "cycles" in out and "on 2 copies" in out and "gold: ok" in out


@pytest.mark.parametrize("argv, says", [
    (["--mode", "dense", "--check"], "--mode dense"),
    (["--arch", "nope.toml"], "nope.toml"),
    (["--copies", "0"], "got '0'"),
])
def test_simulate_usage_errors_exit_2(files, argv, says, capsys):
    assert main(["simulate", SPMV, f"A={files['A.mtx']}", f"x={files['x.npy']}", *argv]) == 2
    assert says in _error(capsys)


# ---- prune ---------------------------------------------------------------------------------------
@pytest.fixture
def weights(tmp_path):
    rng = np.random.default_rng(3)
    arrays = {"fc1.weight": rng.standard_normal((16, 8)).astype(np.float32), "fc1.bias": rng.standard_normal(16),
              "fc2.weight": rng.standard_normal((4, 16))}
    np.savez(tmp_path / "w.npz", **arrays)
    return arrays, str(tmp_path / "w.npz")


def test_prune_magnitude_keeps_the_largest_and_copies_the_rest(weights, tmp_path, capsys):
    arrays, path = weights
    out = tmp_path / "p.npz"
    assert main(["prune", path, "--method", "magnitude", "--sparsity", "0.75", "--out", str(out)]) == 0
    assert "fc1.weight" in capsys.readouterr().out
    pruned = load_weights(str(out))
    np.testing.assert_array_equal(pruned["fc1.bias"], arrays["fc1.bias"])
    for name in ("fc1.weight", "fc2.weight"):
        w, p = arrays[name], pruned[name]
        assert p.dtype == w.dtype and np.count_nonzero(p) == w.size // 4
        kept = np.sort(np.abs(w).ravel())[-(w.size // 4):]  # the quarter of largest magnitude
        np.testing.assert_array_equal(np.sort(np.abs(p[p != 0])), kept)
        np.testing.assert_array_equal(p[p != 0], w[p != 0])


def test_prune_nm_json_and_safetensors_output(weights, tmp_path, capsys):
    arrays, path = weights
    out = tmp_path / "p.safetensors"
    assert main(["prune", path, "--method", "nm", "--nm", "1:4", "--out", str(out), "--json"]) == 0
    doc = _json(capsys)
    assert doc["nm"] == [1, 4] and doc["unchanged"] == ["fc1.bias"]
    assert {r["tensor"]: r["sparsity"] for r in doc["tensors"]} == {"fc1.weight": 0.75, "fc2.weight": 0.75}
    pruned = load_weights(str(out))
    groups = pruned["fc1.weight"].reshape(16, 2, 4)
    assert (np.count_nonzero(groups, axis=2) == 1).all()
    winners = np.abs(arrays["fc1.weight"].reshape(16, 2, 4)).argmax(axis=2)
    assert (np.abs(groups).argmax(axis=2) == winners).all()


def test_prune_wanda_uses_the_calibration_activations(weights, tmp_path, capsys):
    arrays, path = weights
    rng = np.random.default_rng(4)
    acts = {"fc1.weight": rng.standard_normal((32, 8)) * np.arange(1, 9), "fc2.weight": rng.random(16) + 0.1}
    np.savez(tmp_path / "cal.npz", **acts)
    out = tmp_path / "p.npz"
    assert main(["prune", path, "--method", "wanda", "--sparsity", "0.5", "--calibration", str(tmp_path / "cal.npz"),
                 "--out", str(out)]) == 0
    pruned = load_weights(str(out))
    norms = {"fc1.weight": np.linalg.norm(acts["fc1.weight"], axis=0), "fc2.weight": acts["fc2.weight"]}
    for name, norm in norms.items():
        scores = np.abs(arrays[name]) * norm
        kept = scores >= np.sort(scores, axis=1)[:, [scores.shape[1] // 2]]  # the upper half of each row
        np.testing.assert_array_equal(pruned[name] != 0, kept)


@pytest.mark.parametrize("argv, says", [
    (["--method", "wanda", "--sparsity", "0.5"], "needs --calibration"),
    (["--method", "magnitude"], "needs --sparsity"),
    (["--method", "nm", "--sparsity", "0.5"], "--sparsity does not apply"),
    (["--method", "magnitude", "--sparsity", "0.5", "--nm", "2:4"], "--nm 2:4 applies to"),
    (["--method", "block", "--block", "3x3", "--sparsity", "0.5"], "fc1.weight: block=(3, 3)"),
    (["--method", "nm", "--nm", "2-4"], "--nm '2-4'"),
    (["--sparsity", "1.5"], "got '1.5'"),
    (["--sparsity", "0.5", "--only", "conv*"], "matching conv*"),
])
def test_prune_usage_errors_exit_2(weights, argv, says, capsys):
    assert main(["prune", weights[1], *argv]) == 2
    assert says in _error(capsys)


def test_safetensors_round_trip_and_bad_header(tmp_path, capsys):
    arrays = {"a": np.arange(6, dtype=np.float16).reshape(2, 3), "b": np.array([True, False]), "c": np.ones((0, 4))}
    path = str(tmp_path / "w.safetensors")
    save_weights(path, arrays)
    back = load_weights(path)
    for name, a in arrays.items():
        assert back[name].dtype == a.dtype and back[name].shape == a.shape
        np.testing.assert_array_equal(back[name], a)
    (tmp_path / "bad.safetensors").write_bytes((10**6).to_bytes(8, "little") + b"{}")
    assert main(["prune", str(tmp_path / "bad.safetensors"), "--sparsity", "0.5"]) == 2
    assert "runs past the end" in _error(capsys)


def test_safetensors_matches_the_reference_library(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    arrays = {"w": np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32), "i": np.arange(4)}
    save_weights(str(tmp_path / "ours.safetensors"), arrays)
    theirs = st.load_file(str(tmp_path / "ours.safetensors"))
    st.save_file(arrays, str(tmp_path / "theirs.safetensors"))
    ours = load_weights(str(tmp_path / "theirs.safetensors"))
    for name, a in arrays.items():
        np.testing.assert_array_equal(theirs[name], a)
        np.testing.assert_array_equal(ours[name], a)


# ---- help, exit codes, entry points --------------------------------------------------------------
COMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command_exits_0_with_examples(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: zeroskip {command}") and "examples:" in out


def test_top_level_help_lists_the_commands_and_exit_codes(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(c in out for c in COMMANDS) and "exit codes:" in out and "130" in out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"zeroskip {zs.__version__}"
    assert main([]) == 2
    _error(capsys)


def test_interrupt_exits_130(monkeypatch, files, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(tensors, "cmd_info", interrupted)
    assert main(["info", files["A.mtx"]]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_missing_extra_module_exits_3_and_bugs_exit_1_without_traceback(monkeypatch, files, capsys):
    def needs_torch(args):
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    monkeypatch.setattr(tensors, "cmd_info", needs_torch)
    assert main(["info", files["A.mtx"]]) == 3
    assert "zeroskip[torch]" in _error(capsys)

    def bug(args):
        raise TypeError("unsupported operand")

    monkeypatch.setattr(tensors, "cmd_info", bug)
    assert main(["info", files["A.mtx"]]) == 1
    assert "internal error: TypeError: unsupported operand" in _error(capsys)
    with pytest.raises(TypeError):
        main(["info", files["A.mtx"], "--debug"])


def test_bad_file_exits_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.mtx"
    bad.write_text("%%MatrixMarket matrix coordinate real general\n3 3 2\n1 1 1.0\n9 2 2.0\n")
    assert main(["info", str(bad)]) == 2
    assert "bad.mtx" in _error(capsys)


@pytest.mark.parametrize("module", ["zeroskip.cli", "zeroskip"])
def test_python_dash_m_runs_the_command_line(module):
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "prune" in done.stdout


def test_usage_error_exit_code_from_a_subprocess(files):
    done = subprocess.run([sys.executable, "-m", "zeroskip", "info", files["dir"] / "nope.mtx"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("zeroskip: error:") and "Traceback" not in done.stderr


# ---- demo, bench, report ---------------------------------------------------------------------------
def test_bench_runs_resumes_reports_and_lists(tmp_path, capsys):
    db, html = tmp_path / "r.db", tmp_path / "r.html"
    args = ["bench", "--workloads", "spmspv/west0479", "--backends", "scipy", "accel-sparse", "--db", str(db),
            "--repeats", "2", "--threads", "1"]
    assert main([*args, "--json", "--report", str(html)]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["counts"]["ok"] == 2 and first["counts"]["failed"] == 0
    (entry,) = first["workloads"]
    assert entry["workload"] == "spmspv/west0479" and entry["cpu_best"] == "scipy"
    assert entry["targets"]["accel-sparse"]["speedup"] > 0
    assert html.exists() and "id='summary'" in html.read_text()
    assert main(args) == 0  # a rerun skips what the database holds
    out = capsys.readouterr().out
    assert "0 ok, 0 failed, 0 skipped, 2 already in" in out and "spmspv/west0479" in out
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "again.html"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["report"].endswith("again.html")
    assert main(["bench", "--list", "--workloads", "sweep"]) == 0
    listed = capsys.readouterr().out
    assert "matmul512/s=0.999" in listed and "spmspv" not in listed


@pytest.mark.parametrize("argv, message", [
    (["bench", "--backends", "abacus", "--list"], "unknown backend 'abacus'"),
    (["bench", "--workloads", "nothing-matches", "--list"], "no workload matches"),
    (["bench", "--threads", "0", "--workloads", "spmspv/west0479", "--backends", "scipy"], "--threads 0"),
    (["bench", "--arch", "no-such-arch.toml", "--workloads", "spmspv/west0479"], "no-such-arch.toml"),
    (["report", "--db", "no-such.db"], "no-such.db"),
])
def test_suite_commands_refuse_bad_input_with_exit_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in _error(capsys)



def test_suite_without_its_data_is_one_clear_error(tmp_path, capsys):
    argv = ["bench", "--workloads", "spmspv/west0479", "--backends", "scipy", "--db", str(tmp_path / "r.db"),
            "--data", str(tmp_path / "nowhere")]
    assert main(argv) == 2
    assert "no data folder" in _error(capsys)
    assert not (tmp_path / "r.db").exists()
