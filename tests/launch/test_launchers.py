"""The multi-host launchers in dry-run (and, against fake gcloud/sbatch, real) mode.

No test reaches a real ``gcloud``, ``sbatch``, ``srun`` or ``scontrol``: an autouse fixture puts fakes of
all four first on PATH that only record their arguments, and fails any test that calls them unexpectedly.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from launch import slurm_gpu, tpu_vm_pod

REPO = Path(__file__).resolve().parents[2]
TRICKY = """--config.data.name=it's a "test"; echo $HOME `id` \\ done"""

FAKE_TOOL = """#!{python}
# Fake {name}: records its argv; answers `describe` with $FAKE_DESCRIBE.
import json, os, sys, tarfile
argv = sys.argv[1:]
entry = {{"tool": "{name}", "argv": argv}}
if "scp" in argv:
    with tarfile.open(argv[argv.index("scp") + 1]) as tar:
        entry["archive"] = tar.getnames()
with open(os.environ["FAKE_TOOL_LOG"], "a") as f:
    f.write(json.dumps(entry) + "\\n")
if "describe" in argv and os.environ.get("FAKE_DESCRIBE"):
    print(os.environ["FAKE_DESCRIBE"])
    sys.exit(0)
sys.exit(int(os.environ.get("FAKE_TOOL_STATUS", "0")))
"""


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


class FakeTools:
    def __init__(self, tmp_path: Path):
        self.bin = tmp_path / "fakebin"
        self.bin.mkdir()
        self.log = tmp_path / "tool_calls.jsonl"
        self.expected = False
        for name in ("gcloud", "sbatch", "srun", "scontrol"):
            _executable(self.bin / name, FAKE_TOOL.format(python=sys.executable, name=name))

    def calls(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture(autouse=True)
def fake_tools(tmp_path, monkeypatch):
    tools = FakeTools(tmp_path)
    monkeypatch.setenv("PATH", f"{tools.bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_TOOL_LOG", str(tools.log))
    yield tools
    if not tools.expected:
        assert tools.calls() == [], "a launcher called an external tool"


def launch(module, argv, capsys) -> tuple[int, str, str]:
    rc = module.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def one_error_line(rc: int, err: str) -> str:
    assert rc != 0
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def commands(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.strip() and not ln.startswith("#")]


# ---------------------------------------------------------------- Cloud TPU VM pod

TPU_BASE = ["--tpu", "my-pod", "--zone", "us-central2-b", "--project", "my-proj"]
TPU_RUN = ["--config", "configs/quickstart.py", "--workdir", "gs://bucket/runs/a b"]


def tpu_dry(capsys, *extra, workers=4, coordinator="10.130.0.2"):
    argv = [*TPU_BASE, *TPU_RUN, "--dry_run", "--num_workers", workers, *extra]
    if coordinator:
        argv += ["--coordinator", coordinator]
    return launch(tpu_vm_pod, argv, capsys)


def worker_lines(out: str) -> list[tuple[int, int, str]]:
    pattern = r"#\s+worker (\d+) \(.*\): process_id=(\d+) num_processes=(\d+) coordinator_address=(\S+)$"
    found = [re.match(pattern, ln) for ln in out.splitlines()]
    rows = [m for m in found if m]
    for m in rows:
        assert m.group(1) == m.group(2)
    return [(int(m.group(2)), int(m.group(3)), m.group(4)) for m in rows]


def ssh_commands(out: str) -> list[str]:
    """The remote shell command of every ``gcloud ... ssh`` line (after checking its shape)."""
    remote = []
    for line in commands(out):
        argv = shlex.split(line)
        assert argv[:5] == ["gcloud", "compute", "tpus", "tpu-vm", argv[4]]
        if argv[4] == "ssh":
            assert argv[5] == "my-pod" and "--worker=all" in argv
            assert argv[argv.index("--zone") + 1] == "us-central2-b"
            assert argv[argv.index("--project") + 1] == "my-proj"
            remote.append(argv[argv.index("--command") + 1])
    return remote


def test_tpu_dry_run_one_process_per_worker(capsys):
    rc, out, _ = tpu_dry(capsys, workers=4)
    assert rc == 0
    rows = worker_lines(out)
    assert len(rows) == 4
    assert sorted(pid for pid, _, _ in rows) == [0, 1, 2, 3]
    assert {n for _, n, _ in rows} == {4}
    port = tpu_vm_pod.tpu_coordinator_port()
    assert {c for _, _, c in rows} == {f"10.130.0.2:{port}"}
    # every worker runs the same training command: one ssh --worker=all
    train = [c for c in ssh_commands(out) if "snnjax.main" in c]
    assert len(train) == 1
    assert "--distributed" in shlex.split(train[0])
    assert "--coordinator_address" not in train[0] and "--process_id" not in train[0]


def test_tpu_coordinator_port_override(capsys):
    rc, out, _ = tpu_dry(capsys, workers=2, coordinator="t1v-n-0:9999")
    assert rc == 0
    assert {c for _, _, c in worker_lines(out)} == {"t1v-n-0:9999"}


def test_tpu_flags_pass_through_verbatim_and_survive_the_remote_shell(capsys, tmp_path):
    fake_python = _executable(
        tmp_path / "fake python",
        f"#!{sys.executable}\nimport json, os, sys\n"
        "open(os.environ['ARGV_LOG'], 'a').write(json.dumps([os.getcwd(), *sys.argv[1:]]) + '\\n')\n",
    )
    extra = ["--config.train.num_epochs=5", TRICKY, "--mode=eval"]
    rc, out, _ = tpu_dry(
        capsys, "--python", fake_python, "--env", "XLA_FLAGS=--a b", "--sync", "none", "--no_install", *extra
    )
    assert rc == 0
    (remote,) = ssh_commands(out)
    # run the remote command the way a worker's login shell would, in a fake $HOME
    home = tmp_path / "home"
    (home / "snnjax").mkdir(parents=True)
    log = tmp_path / "argv.jsonl"
    subprocess.run(["bash", "-c", remote], cwd=home, env={**os.environ, "ARGV_LOG": str(log)}, check=True)
    cwd, *argv = json.loads(log.read_text())
    assert Path(cwd) == home / "snnjax"
    assert argv == ["-m", "snnjax.main", *TPU_RUN, *extra, "--distributed"]
    assert shlex.split(remote)[3:5] == ["env", "XLA_FLAGS=--a b"]


def test_tpu_setup_copy_then_install(capsys):
    rc, out, _ = tpu_dry(capsys)
    assert rc == 0
    lines = commands(out)
    assert len(lines) == 3
    scp = shlex.split(lines[0])
    assert scp[4] == "scp" and scp[6] == "my-pod:snnjax-src.tar.gz" and "--worker=all" in scp
    setup, train = ssh_commands(out)
    assert "tar -xzf snnjax-src.tar.gz -C snnjax" in setup
    assert "pip install -q -r requirements.txt 'jax[tpu]==" in setup and "-e . --no-deps" in setup
    assert train.startswith("cd snnjax && python3 -m snnjax.main ")


def test_tpu_setup_git_and_none(capsys):
    rc, out, _ = tpu_dry(
        capsys,
        "--sync",
        "git",
        "--repo_url",
        "https://example.org/snnjax.git",
        "--git_ref",
        "v1",
        "--no_install",
    )
    assert rc == 0
    setup, _ = ssh_commands(out)
    assert setup == (
        "git init -q snnjax && git -C snnjax fetch -q --depth 1 https://example.org/snnjax.git v1"
        " && git -C snnjax checkout -q --force FETCH_HEAD"
    )
    rc, out, _ = tpu_dry(capsys, "--sync", "none", "--no_install", "--detach", "--remote_dir", "~/my code")
    assert rc == 0
    (train,) = ssh_commands(out)
    assert train.startswith("cd ~/'my code' && nohup python3 -m snnjax.main ")
    assert train.endswith("> snnjax-train.log 2>&1 < /dev/null &")


def test_tpu_workers_from_gcloud_describe(capsys, fake_tools, monkeypatch):
    fake_tools.expected = True
    endpoints = [{"ipAddress": f"10.0.0.{i + 2}", "port": 8470} for i in range(8)]
    monkeypatch.setenv("FAKE_DESCRIBE", json.dumps({"name": "my-pod", "networkEndpoints": endpoints}))
    rc, out, _ = launch(tpu_vm_pod, [*TPU_BASE, *TPU_RUN, "--dry_run"], capsys)
    assert rc == 0
    rows = worker_lines(out)
    assert [pid for pid, _, _ in rows] == list(range(8))
    assert {c for _, _, c in rows} == {f"10.0.0.2:{tpu_vm_pod.tpu_coordinator_port()}"}
    # the read-only describe is the only thing a dry run executes
    assert [c["argv"][:4] for c in fake_tools.calls()] == [["compute", "tpus", "tpu-vm", "describe"]]


def test_tpu_real_run_against_fake_gcloud(capsys, fake_tools):
    fake_tools.expected = True
    rc, out, err = launch(tpu_vm_pod, [*TPU_BASE, *TPU_RUN, "--num_workers", 2, TRICKY], capsys)
    assert rc == 0, err
    calls = [c["argv"] for c in fake_tools.calls()]
    assert [c[3] for c in calls] == ["scp", "ssh", "ssh"]
    echoed = [ln[2:] for ln in err.splitlines() if ln.startswith("+ ")]
    assert echoed == [shlex.join(["gcloud", *c]) for c in calls]
    assert commands(out) == []  # stdout: the plan as comments
    archive = fake_tools.calls()[0]["archive"]
    assert "configs/quickstart.py" in archive and "launch/tpu_vm_pod.py" in archive
    assert not any(n.startswith((".git/", ".venv/")) or "__pycache__" in n for n in archive)
    assert not Path(calls[0][4]).exists()  # the local tarball is removed afterwards
    assert shlex.split(calls[2][calls[2].index("--command") + 1])[-2:] == [TRICKY, "--distributed"]


def test_tpu_failed_step_stops(capsys, fake_tools, monkeypatch):
    fake_tools.expected = True
    monkeypatch.setenv("FAKE_TOOL_STATUS", "3")
    rc, _, err = launch(tpu_vm_pod, [*TPU_BASE, *TPU_RUN, "--num_workers", 2, "--sync", "none"], capsys)
    assert rc == 3 and "status 3" in err
    assert len(fake_tools.calls()) == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        ([*TPU_BASE, "--workdir", "gs://b/x", "--num_workers", "2"], "--config"),
        (["--zone", "z", *TPU_RUN, "--num_workers", "2"], "--tpu"),
        ([*TPU_BASE, *TPU_RUN, "--num_workers", "0"], "--num_workers"),
        ([*TPU_BASE, *TPU_RUN, "--num_workers", "2", "--sync", "git"], "--repo_url"),
        ([*TPU_BASE, *TPU_RUN, "--num_workers", "2", "--process_id=1"], "--process_id"),
        ([*TPU_BASE, *TPU_RUN, "--num_workers", "2", "--coordinator", "a:b:c"], "--coordinator"),
        ([*TPU_BASE, *TPU_RUN, "--num_workers", "2", "stray"], "stray"),
        ([*TPU_BASE, "--config", "configs/nope.py", "--workdir", "gs://b", "--num_workers", "2"], "nope.py"),
    ],
)
def test_tpu_bad_arguments(capsys, argv, message):
    rc, out, err = launch(tpu_vm_pod, [*argv, "--dry_run"], capsys)
    assert message in one_error_line(rc, err)
    assert commands(out) == []


# ---------------------------------------------------------------- SLURM

SLURM_RUN = ["--config", "configs/quickstart.py", "--workdir", "/shared/runs/a b"]


def slurm_dry(capsys, *extra, nodes=4, gpus=4, nodelist="gpu[01-03,07]"):
    argv = ["--nodes", nodes, "--gpus_per_node", gpus, "--time", "02:00:00", "--partition", "gpu"]
    argv += ["--account", "proj42", *SLURM_RUN, "--dry_run", *extra]
    if nodelist:
        argv += ["--nodelist", nodelist]
    return launch(slurm_gpu, argv, capsys)


def sections(out: str) -> dict[str, list[str]]:
    parts: dict[str, list[str]] = {}
    name = None
    for line in out.splitlines():
        m = re.match(r"# ==== (\S+)", line)
        if m:
            name = m.group(1)
            parts[name] = []
        elif name:
            parts[name].append(line)
    return parts


def process_rows(out: str) -> list[dict]:
    """Per process: its host (from the comment line) and the parsed command line."""
    lines = sections(out)["per-process"]
    rows = []
    for comment, command in zip(lines[::2], lines[1::2], strict=True):
        m = re.fullmatch(r"# process (\d+) on (\S+) \(SLURM_PROCID=(\d+), SLURM_LOCALID=(\d+)\)", comment)
        assert m, comment
        words = shlex.split(command)
        env, argv = words[0], words[1:]
        flags = dict(w.split("=", 1) for w in argv if w.startswith(("--coordinator", "--num_p", "--process")))
        assert int(flags["--process_id"]) == int(m.group(1)) == int(m.group(3))
        rows.append(
            dict(host=m.group(2), local=int(m.group(4)), env=env, argv=argv, command=command, **flags)
        )
    return rows


def test_slurm_dry_run_one_process_per_node(capsys):
    rc, out, _ = slurm_dry(capsys, "--config.train.num_epochs=5", TRICKY)
    assert rc == 0
    rows = process_rows(out)
    assert len(rows) == 4
    assert sorted(int(r["--process_id"]) for r in rows) == [0, 1, 2, 3]
    assert [r["host"] for r in rows] == ["gpu01", "gpu02", "gpu03", "gpu07"]
    assert {r["--coordinator_address"] for r in rows} == {"gpu01:8476"}
    assert {r["--num_processes"] for r in rows} == {"4"}
    assert {r["env"] for r in rows} == {"JAX_LOCAL_DEVICE_IDS=0,1,2,3"}
    for r in rows:
        assert r["argv"][:-3] == [
            "python", "-m", "snnjax.main", *SLURM_RUN, "--config.train.num_epochs=5", TRICKY, "--distributed"
        ]  # fmt: skip
        assert r["argv"][-3:] == [
            "--coordinator_address=gpu01:8476", "--num_processes=4", f"--process_id={r['--process_id']}"
        ]  # fmt: skip
    script = "\n".join(sections(out)["sbatch"])
    for line in [
        "#SBATCH --nodes=4",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --gres=gpu:4",
        "#SBATCH --time=02:00:00",
        "#SBATCH --partition=gpu",
        "#SBATCH --account=proj42",
        'HEAD_NODE=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)',
    ]:
        assert line in script.splitlines()
    assert "srun --ntasks-per-node=1 " in script
    assert commands("\n".join(sections(out)["submit"])) == ["sbatch snnjax.sbatch"]


def test_slurm_dry_run_one_process_per_gpu(capsys):
    rc, out, _ = slurm_dry(capsys, "--per", "gpu", nodes=2, gpus=3, nodelist="node[8-9]")
    assert rc == 0
    rows = process_rows(out)
    assert [int(r["--process_id"]) for r in rows] == list(range(6))
    assert [r["host"] for r in rows] == ["node8"] * 3 + ["node9"] * 3
    assert [r["env"] for r in rows] == [f"JAX_LOCAL_DEVICE_IDS={i}" for i in (0, 1, 2, 0, 1, 2)]
    assert {r["--num_processes"] for r in rows} == {"6"}
    assert {r["--coordinator_address"] for r in rows} == {"node8:8476"}
    assert "#SBATCH --ntasks-per-node=3" in sections(out)["sbatch"]


@pytest.mark.parametrize("per", ["node", "gpu"])
def test_slurm_script_runs_the_printed_commands(capsys, tmp_path, monkeypatch, per):
    """Runs the generated script under fake scontrol/srun and compares what every task executed with
    the dry run's per-process commands: the quoting of the script and the printout agree."""
    fake_python = _executable(
        tmp_path / "python",
        f"#!{sys.executable}\nimport json, os, sys\n"
        "open(os.environ['ARGV_LOG'], 'a').write(json.dumps("
        "[os.environ['JAX_LOCAL_DEVICE_IDS'], os.environ['EXTRA'], *sys.argv[1:]]) + '\\n')\n",
    )
    nodes, gpus = 3, 2
    rc, out, _ = slurm_dry(
        capsys,
        "--per", per, "--python", fake_python, "--port", "12345", "--env", "EXTRA=a 'b'", TRICKY,
        nodes=nodes, gpus=gpus, nodelist="gpu[01-02],big7",
    )  # fmt: skip
    assert rc == 0
    script = tmp_path / "job.sbatch"
    script.write_text("\n".join(sections(out)["sbatch"]) + "\n")
    per_node = 1 if per == "node" else gpus
    fakes = tmp_path / "slurmbin"
    fakes.mkdir()
    _executable(fakes / "scontrol", "#!/bin/bash\nprintf '%s\\n' gpu01 gpu02 big7\n")
    _executable(
        fakes / "srun",
        "#!/bin/bash\nwhile [[ $1 == --* ]]; do shift; done\n"
        f"n={nodes * per_node}\nfor ((i=0; i<n; i++)); do\n"
        f'  SLURM_PROCID=$i SLURM_NTASKS=$n SLURM_LOCALID=$((i % {per_node})) "$@" || exit $?\n'
        "done\n",
    )
    log = tmp_path / "argv.jsonl"
    env = {**os.environ, "PATH": f"{fakes}{os.pathsep}{os.environ['PATH']}", "ARGV_LOG": str(log)}
    env["SLURM_JOB_NODELIST"] = "gpu[01-02],big7"
    proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    executed = [json.loads(line) for line in log.read_text().splitlines()]
    rows = process_rows(out)
    assert len(executed) == len(rows) == nodes * per_node
    for (ids, extra_env, *argv), row in zip(executed, rows, strict=True):
        assert f"JAX_LOCAL_DEVICE_IDS={ids}" == row["env"]
        assert extra_env == "a 'b'"
        assert [str(fake_python), *argv] == row["argv"]
        assert row["--coordinator_address"] == "gpu01:12345"


def test_slurm_submits_with_sbatch(capsys, tmp_path, fake_tools):
    fake_tools.expected = True
    script = tmp_path / "job.sbatch"
    rc, out, err = launch(
        slurm_gpu, ["--nodes", 2, "--gpus_per_node", 8, *SLURM_RUN, "--script", script], capsys
    )
    assert f"wrote {script}" in out
    assert rc == 0, err
    assert [c["argv"] for c in fake_tools.calls()] == [[str(script)]]
    assert "#SBATCH --nodes=2" in script.read_text()


@pytest.mark.parametrize(
    "nodelist, hosts",
    [
        ("gpu[01-03,07]", ["gpu01", "gpu02", "gpu03", "gpu07"]),
        ("node5", ["node5"]),
        ("a[1-2],b3", ["a1", "a2", "b3"]),
        ("gpu[8-10]", ["gpu8", "gpu9", "gpu10"]),
        ("gpu[098-100]", ["gpu098", "gpu099", "gpu100"]),
        ("r[1-2]-n[01-02]", ["r1-n01", "r1-n02", "r2-n01", "r2-n02"]),
        ("x[3],y", ["x3", "y"]),
    ],
)
def test_expand_nodelist(nodelist, hosts):
    assert slurm_gpu.expand_nodelist(nodelist) == hosts


@pytest.mark.parametrize("nodelist", ["gpu[03-01]", "gpu[01-", "gpu01]", "gpu[a-b]", "", "a,,b", "gpu[1-2"])
def test_expand_nodelist_rejects(nodelist):
    with pytest.raises(slurm_gpu.LauncherError):
        slurm_gpu.expand_nodelist(nodelist)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--nodes", "2", "--gpus_per_node", "4", "--workdir", "/w"], "--config"),
        (["--gpus_per_node", "4", *SLURM_RUN], "--nodes"),
        (["--nodes", "0", "--gpus_per_node", "4", *SLURM_RUN], "--nodes"),
        (["--nodes", "two", "--gpus_per_node", "4", *SLURM_RUN], "--nodes"),
        (["--nodes", "3", "--gpus_per_node", "4", *SLURM_RUN, "--nodelist", "gpu[01-04]"], "--nodes is 3"),
        (["--nodes", "2", "--gpus_per_node", "4", *SLURM_RUN, "--nodelist", "gpu[02-01]"], "backwards"),
        (["--nodes", "2", "--gpus_per_node", "4", *SLURM_RUN, "--num_processes=2"], "--num_processes"),
        (["--nodes", "2", "--gpus_per_node", "4", *SLURM_RUN, "--env", "1X=2"], "KEY=VALUE"),
        (["--nodes", "2", "--gpus_per_node", "4", *SLURM_RUN, "--port", "70000"], "--port"),
    ],
)
def test_slurm_bad_arguments(capsys, argv, message):
    rc, out, err = launch(slurm_gpu, [*argv, "--dry_run"], capsys)
    assert message in one_error_line(rc, err)
    assert out == ""


def test_nodelist_needs_dry_run(capsys):
    rc, _, err = launch(
        slurm_gpu, ["--nodes", 1, "--gpus_per_node", 1, *SLURM_RUN, "--nodelist", "a1"], capsys
    )
    assert "--dry_run" in one_error_line(rc, err)


# ---------------------------------------------------------------- as scripts


@pytest.mark.parametrize("script", ["launch/tpu_vm_pod.py", "launch/slurm_gpu.py"])
def test_script_missing_config_is_one_line(script):
    proc = subprocess.run(
        [sys.executable, script, "--workdir", "/w", "--dry_run"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert "--config" in one_error_line(proc.returncode, proc.stderr)


def test_script_dry_run_from_another_directory(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run(
        [sys.executable, REPO / "launch/slurm_gpu.py", "--nodes", "2", "--gpus_per_node", "2", *SLURM_RUN,
         "--dry_run", "--nodelist", "node[1-2]"],
        cwd=elsewhere, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "--process_id=1" in proc.stdout
    assert not list(elsewhere.iterdir())  # a dry run writes nothing


def test_pack_lists_the_working_tree(tmp_path):
    files = tpu_vm_pod.source_files(REPO)
    assert "configs/quickstart.py" in files and "snnjax/main.py" in files
    assert not any(f.startswith(".git/") or "__pycache__" in f or f.endswith(".pyc") for f in files)
    path = tmp_path / "src.tar.gz"
    tpu_vm_pod.pack(REPO, ["configs/quickstart.py"], path)
    with tarfile.open(path) as tar:
        assert tar.getnames() == ["configs/quickstart.py"]


# ---------------------------------------------------------------- a real 2-process run


@pytest.mark.skipif(
    not os.environ.get("SNNJAX_TEST_MULTIPROCESS"),
    reason="opt-in (SNNJAX_TEST_MULTIPROCESS=1): trains with 2 JAX processes on this host (~20 s)",
)
def test_slurm_script_trains_with_two_processes(capsys, tmp_path):
    """The generated sbatch script, under a fake srun that starts its 2 tasks on this host, runs a real
    2-process CPU training (2 devices per process) that ends with results and checkpoints."""
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    workdir = tmp_path / "run"
    rc, out, _ = launch(
        slurm_gpu,
        ["--nodes", 2, "--gpus_per_node", 2, "--config", "configs/quickstart.py", "--workdir", workdir,
         "--python", sys.executable, "--port", port, "--env", "JAX_PLATFORMS=cpu",
         "--env", "XLA_FLAGS=--xla_force_host_platform_device_count=2", "--dry_run",
         "--config.train.num_epochs=2", "--config.train.eval_every_epochs=1"],
        capsys,
    )  # fmt: skip
    assert rc == 0
    script = tmp_path / "job.sbatch"
    script.write_text("\n".join(sections(out)["sbatch"]) + "\n")
    fakes = tmp_path / "slurmbin"
    fakes.mkdir()
    _executable(fakes / "scontrol", "#!/bin/bash\necho localhost\necho localhost\n")
    _executable(
        fakes / "srun",
        "#!/bin/bash\nwhile [[ $1 == --* ]]; do shift; done\n"
        "for i in 0 1; do\n"
        f'  SLURM_PROCID=$i SLURM_NTASKS=2 SLURM_LOCALID=0 "$@" > {tmp_path}/task$i.log 2>&1 &\n'
        "  pids[$i]=$!\ndone\n"
        'wait "${pids[0]}" && wait "${pids[1]}"\n',
    )
    env = {
        **os.environ,
        "PATH": f"{fakes}{os.pathsep}{os.environ['PATH']}",
        "SLURM_JOB_NODELIST": "localhost",
    }
    try:
        proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=240)
    finally:
        logs = "".join(
            (tmp_path / f"task{i}.log").read_text()[-3000:]
            for i in (0, 1)
            if (tmp_path / f"task{i}.log").exists()
        )
    assert proc.returncode == 0, logs
    results = json.loads((workdir / "results.json").read_text())
    assert results["steps"] == 44 and 0.5 < results["test_accuracy"] <= 1.0
    assert (workdir / "checkpoints" / "44").is_dir()
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert len([r for r in records if "test_accuracy" in r]) == 2  # one line per evaluation, not per process
