"""The GPU check of ragchat's ExLlamaV2 backend: one command, offline, time-boxed.

  python3 benchmarks/gpu/check.py --out OUT [--budget 560] [--wheels .whl] [--model EXL2]

Steps, each with a time box inside the overall budget; the results file in OUT is rewritten
after every step, so whatever ran is kept if a later step fails or time runs out:

  env          GPU, driver, torch, CUDA, compilers, cores, disk
  install      the wheels of --wheels (fetch_wheels.sh) into a private folder; skipped without
  build        exllamav2's CUDA extension for this GPU only, all cores (in the background...)
  model        ...while a random-weight Qwen2 test model and reference logits are made
  logits       the fp16 test model in ExLlamaV2, as installed and with ragchat's causal-mask
               fix, against transformers
  convert      the test model to EXL2 at 4.25 bpw (short calibration rows)
  measure      speed, cache reuse and n-gram drafting through ragchat's own backend
  logits_exl2  the EXL2 model against the same reference
  pytest       the tests marked `gpu`

With --model (a real EXL2 folder) the test-model steps are left out and measure and pytest
run on it. Output: OUT/gpu-<gpu>-<day>.json (written by benchmarks/common.py's save_results:
date, commit, machine and command line first, then the headline figures, then every step's
status and report) and OUT/logs.tgz (each step's log).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))

from common import save_results  # noqa: E402

RESERVE_S = 5  # kept back for the final write


@dataclass
class Step:
    name: str
    argv: list[str]
    cap_s: int  # the most this step may take
    needs: tuple[str, ...] = ()
    background: bool = False  # the next step starts at once; a step that needs it waits
    report: Path | None = None  # a JSON file the step writes, kept in the results
    env: dict[str, str] = field(default_factory=dict)
    min_s: int = 15  # not started with less time than this left
    ok_codes: tuple[int, ...] = (0,)


class Runner:
    """Runs steps in order within a deadline; writes the results after every step."""

    def __init__(self, out: Path, work: Path, deadline: float, results: dict) -> None:
        self.out, self.work, self.deadline = out, work, deadline
        self.results = results
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.running: dict[str, tuple[Step, subprocess.Popen, float]] = {}

    @property
    def status(self) -> dict[str, dict]:
        return self.results.setdefault("steps", {})

    def ok(self, name: str) -> bool:
        return self.status.get(name, {}).get("status") == "ok"

    def run(self, steps: list[Step]) -> None:
        for step in steps:
            for need in step.needs:
                if need in self.running:
                    self.finish(need)
            missing = [n for n in step.needs if not self.ok(n)]
            left = self.deadline - time.monotonic()
            if missing:
                self.record(step, "skipped", 0.0, f"needs {', '.join(missing)}")
            elif left < step.min_s:
                self.record(step, "skipped", 0.0, f"out of time ({left:.0f} s left)")
            else:
                self.start(step)
                if not step.background:
                    self.finish(step.name)
        for name in list(self.running):
            self.finish(name)

    def start(self, step: Step) -> None:
        log = open(self.logs / f"{step.name}.log", "w")  # noqa: SIM115 - closed in finish()
        env = {**os.environ, **step.env}
        proc = subprocess.Popen(step.argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                cwd=str(REPO), start_new_session=True)
        proc.log = log  # type: ignore[attr-defined]
        self.running[step.name] = (step, proc, time.monotonic())
        print(f"[{time.strftime('%H:%M:%S')}] {step.name} started", flush=True)

    def finish(self, name: str) -> None:
        step, proc, started = self.running.pop(name)
        limit = min(started + step.cap_s, self.deadline - RESERVE_S)
        try:
            code = proc.wait(timeout=max(limit - time.monotonic(), 0.1))
            status = "ok" if code in step.ok_codes else "failed"
            note = "" if status == "ok" else f"exit {code}, see logs/{name}.log"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            status, note = "timeout", f"stopped after {time.monotonic() - started:.0f} s"
        proc.log.close()  # type: ignore[attr-defined]
        self.record(step, status, time.monotonic() - started, note)

    def record(self, step: Step, status: str, seconds: float, note: str) -> None:
        self.status[step.name] = {"status": status, "seconds": round(seconds, 1), "note": note}
        if step.report is not None and step.report.is_file():
            try:
                self.results[step.name] = json.loads(step.report.read_text(encoding="utf-8"))
            except ValueError as exc:
                self.results[step.name] = {"error": f"unreadable report: {exc}"}
        print(f"[{time.strftime('%H:%M:%S')}] {step.name}: {status} {seconds:.0f} s {note}",
              flush=True)
        self.save()

    def save(self) -> None:
        found = headline(self.results)
        self.results.update({k: v for k, v in found.items()
                             if v is not None or self.results.get(k) is None})
        save_results(results_name(self.results), order(self.results), self.out)
        with tarfile.open(self.out / "logs.tgz", "w:gz") as tar:
            tar.add(self.logs, arcname="logs")


HEADLINE = ("gpu", "engine", "attention_path", "build_s", "decode_tps", "prefill_tps",
            "bandwidth_bound_tps", "decode_share_of_bound", "turn3_cached_share",
            "turn3_ttft_cold_over_warm", "ngram_speedup", "ngram_same_output", "logits_pass", "logits_pass_as_installed")


def dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def headline(results: dict) -> dict:
    """The figures the issue and the docs quote, from the steps' reports."""
    measure = results.get("measure") or {}
    logits = [r for step in ("logits", "logits_exl2")
              for r in dig(results, step, "results") or [] if "with_fix" in r]
    return {
        "gpu": dig(results, "env", "gpu") or measure.get("gpu"),
        "engine": measure.get("engine") or dig(results, "env", "exllamav2"),
        "attention_path": measure.get("attention_path") or dig(results, "env", "attention_path"),
        "build_s": dig(results, "build", "build_s"),
        "decode_tps": dig(measure, "decode", "short", "decode_tps"),
        "prefill_tps": {k: v.get("prefill_tps") for k, v in (measure.get("prefill") or {}).items()
                        if isinstance(v, dict)} or None,
        "bandwidth_bound_tps": dig(measure, "bound", "tokens_per_s"),
        "decode_share_of_bound": dig(measure, "bound", "decode_share_of_bound"),
        "turn3_cached_share": dig(measure, "cache", "turn3_cached_share"),
        "turn3_ttft_cold_over_warm": dig(measure, "cache", "turn3_ttft_cold_over_warm"),
        "ngram_speedup": dig(measure, "ngram", "speedup"),
        "ngram_same_output": dig(measure, "ngram", "same_output"),
        "logits_pass": all(r["with_fix"]["pass"] for r in logits) if logits else None,
        "logits_pass_as_installed": all(r["as_installed"]["pass"] for r in logits)
        if logits else None,
    }


def order(results: dict) -> dict:
    return {**{k: results.get(k) for k in HEADLINE}, **results}


def results_name(results: dict) -> str:
    from ragchat.bench.bandwidth import device_slug

    return f"gpu-{device_slug(results.get('gpu') or 'unknown')}-{results['day']}"


# ---------------------------------------------------------------- the steps


def plan(args: argparse.Namespace, work: Path) -> list[Step]:
    py, me = sys.executable, str(Path(__file__).resolve())
    models, site = work / "models", work / "site"
    fp16, exl2, ref = models / "fp16", Path(args.model) if args.model else models / "exl2", \
        models / "ref.pt"
    steps = [Step("env", [py, me, "env", "--out", str(work / "env.json")], 60,
                  report=work / "env.json")]
    if args.wheels:
        wheels = sorted(glob.glob(str(Path(args.wheels) / "*.whl")))
        steps.append(Step("install", [py, "-m", "pip", "install", "-q", "--no-index",
                                      "--no-deps", "--no-compile", "--no-cache-dir", "--upgrade",
                                      "--target", str(site), *wheels], 120))
    built = ("build",)
    steps.append(Step("build", [py, me, "build", "--out", str(work / "build.json")], 420,
                      needs=tuple(s.name for s in steps[1:]), background=True,
                      report=work / "build.json"))
    if not args.model:
        steps += [
            Step("model", [py, str(HERE / "testmodel.py"), "--out", str(fp16), "--reference",
                           str(ref)], 150),
            Step("logits", [py, str(HERE / "measure.py"), "logits", "--model", str(fp16),
                            "--reference", str(ref), "--out", str(work / "logits.json")], 120,
                 needs=("build", "model"), report=work / "logits.json", ok_codes=(0, 1)),
            Step("convert", [py, me, "convert", "--out", str(exl2), "--fp16", str(fp16)], 240,
                 needs=("build", "model"), min_s=60),
        ]
        built = ("build", "convert")
    steps.append(Step("measure", [py, str(HERE / "measure.py"), "backend", "--model", str(exl2),
                                  "--out", str(work / "measure.json")], 200, needs=built,
                      report=work / "measure.json", min_s=30))
    if not args.model:
        steps.append(Step("logits_exl2", [py, str(HERE / "measure.py"), "logits", "--model",
                                          str(exl2), "--reference", str(ref), "--out",
                                          str(work / "logits_exl2.json")], 90, needs=built,
                          report=work / "logits_exl2.json", ok_codes=(0, 1)))
    steps.append(Step("pytest", [py, "-m", "pytest", "-m", "gpu", "-q", "-rA", "-p",
                                 "no:cacheprovider", "tests/llm/test_contract.py",
                                 "tests/bench/test_gpu.py", "--junitxml",
                                 str(work / "logs" / "pytest.xml")], 150, needs=built,
                      env={"EXL2_TEST_MODEL": str(exl2)}, min_s=30))
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(site), str(REPO),
                                                       os.environ.get("PYTHONPATH", "")])),
           "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           **build_env(work)}
    for step in steps:
        step.env = {**env, **step.env}
    return steps


# ---------------------------------------------------------------- env and build steps


def env_report() -> dict:
    import platform
    import shutil
    from importlib.metadata import PackageNotFoundError, version

    import torch

    def tool(name: str) -> str | None:
        path = shutil.which(name)
        if not path:
            return None
        out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
        return (out.strip().splitlines() or [""])[-1]

    def package(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    cuda = torch.cuda.is_available()
    report = {"gpu": torch.cuda.get_device_name(0) if cuda else None,
              "capability": ".".join(map(str, torch.cuda.get_device_capability(0)))
              if cuda else None, "python": platform.python_version(),
              "torch": torch.__version__, "cuda": torch.version.cuda, "cpus": os.cpu_count(),
              "nvcc": tool("nvcc"), "gcc": tool("gcc"), "ninja": tool("ninja"),
              "disk_free_gb": round(shutil.disk_usage(str(REPO)).free / 1e9, 1)}
    for name in ("exllamav2", "flash-attn", "xformers", "transformers", "langgraph"):
        report[name] = package(name)
    if report["exllamav2"]:
        from ragchat.llm.exl2_attention import attention_path

        report["attention_path"] = attention_path()
    smi = shutil.which("nvidia-smi")
    if smi:
        report["nvidia_smi"] = subprocess.run(
            [smi, "--query-gpu=name,driver_version,memory.total,clocks.max.memory",
             "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
    return report


def build_report() -> dict:
    """Compile exllamav2's extension: its first import is the build (torch's JIT, ninja)."""
    started = time.perf_counter()
    import exllamav2.ext as ext

    return {"build_s": round(time.perf_counter() - started, 1),
            **{k: os.environ.get(k) for k in BUILD_VARS},
            "extension": getattr(ext.exllamav2_ext, "__file__", None)}


# ---------------------------------------------------------------- the build's environment

# Every step gets the same values: torch's JIT writes them into the extension's ninja file,
# and a later process with other values would rebuild the whole extension.
BUILD_VARS = ("TORCH_CUDA_ARCH_LIST", "MAX_JOBS", "CUDA_INC_PATH", "TORCH_EXTENSIONS_DIR")
CUDA_HEADERS = ("cuda_runtime.h", "cublas_v2.h", "cusparse.h", "cusolverDn.h", "curand_kernel.h")


def build_env(work: Path, env: dict[str, str] | None = None,
              site_dirs: list[Path] | None = None) -> dict[str, str]:
    """TORCH_CUDA_ARCH_LIST = this GPU only, MAX_JOBS = cores, and CUDA_INC_PATH where the
    CUDA headers that torch's CUDA headers include are only in nvidia-* wheels."""
    env = dict(os.environ if env is None else env)
    out = {"MAX_JOBS": env.get("MAX_JOBS") or str(os.cpu_count() or 4),
           "TORCH_EXTENSIONS_DIR": str(work / "torch_extensions")}
    arch = env.get("TORCH_CUDA_ARCH_LIST") or gpu_arch()
    if arch:
        out["TORCH_CUDA_ARCH_LIST"] = arch
    include = cuda_include_path(work, cuda_home(env), site_dirs)
    if include:
        out["CUDA_INC_PATH"] = include
    return out


def gpu_arch() -> str | None:
    """The first GPU's compute capability from nvidia-smi (no torch import), e.g. "9.0"."""
    import shutil

    smi = shutil.which("nvidia-smi")
    if not smi:
        return None
    proc = subprocess.run([smi, "--query-gpu=compute_cap", "--format=csv,noheader"],
                          capture_output=True, text=True)
    first = (proc.stdout.strip().splitlines() or [""])[0].strip()
    return first if proc.returncode == 0 and first.replace(".", "").isdigit() else None


def cuda_home(env: dict[str, str]) -> Path | None:
    """As torch finds it: CUDA_HOME / CUDA_PATH, the folder above nvcc, /usr/local/cuda."""
    import shutil

    for key in ("CUDA_HOME", "CUDA_PATH"):
        if env.get(key):
            return Path(env[key])
    nvcc = shutil.which("nvcc", path=env.get("PATH"))
    if nvcc:
        return Path(nvcc).resolve().parent.parent
    return Path("/usr/local/cuda") if Path("/usr/local/cuda").exists() else None


def cuda_include_path(work: Path, home: Path | None,
                      site_dirs: list[Path] | None = None) -> str | None:
    """A folder linking the include folders of the nvidia-* wheels, when $CUDA_HOME/include
    lacks a header the build needs; None when it has them all."""
    if home is not None and all((home / "include" / h).is_file() for h in CUDA_HEADERS):
        return None
    if site_dirs is None:
        import site

        site_dirs = [Path(p) for p in site.getsitepackages() + sys.path
                     if p.endswith("-packages")]
    dirs = [d for root in site_dirs for pattern in ("nvidia/*/include", "nvidia/*/*/include")
            for d in sorted(Path(root).glob(pattern)) if d.is_dir()]
    if not dirs:
        return None
    merged = work / "cuda-include"
    merged.mkdir(parents=True, exist_ok=True)
    for folder in dirs:  # the first folder to have a name wins
        for entry in sorted(folder.iterdir()):
            link = merged / entry.name
            if not link.exists() and not link.is_symlink():
                link.symlink_to(entry.resolve())
    return str(merged)


def convert(fp16: Path, out: Path, bpw: str = "4.25") -> int:
    """exllamav2's converter with short calibration rows (-l/-ml; -r/-mr do nothing with its
    built-in calibration set). It exits 0 on some of its own errors: the output decides."""
    work = out.parent / "convert-work"
    work.mkdir(parents=True, exist_ok=True)
    code = subprocess.call([sys.executable, "-m", "exllamav2.conversion.convert_exl2",
                            "-i", str(fp16), "-o", str(work), "-cf", str(out), "-b", bpw,
                            "-hb", "6", "-l", "256", "-ml", "256"])
    config = out / "config.json"
    quant = json.loads(config.read_text()).get("quantization_config") or {} if config.is_file() else {}
    done = quant.get("quant_method") == "exl2" and any(out.glob("*.safetensors"))
    print(f"converter exit {code}; EXL2 model {'written' if done else 'missing'} in {out}")
    return 0 if done else 1


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("step", nargs="?", choices=("env", "build", "convert"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--fp16", help=argparse.SUPPRESS)
    parser.add_argument("--out", required=True, help="folder for the results and logs")
    parser.add_argument("--budget", type=int, default=560, help="seconds in all [560]")
    parser.add_argument("--wheels", help="folder of wheels to install first (offline machines)")
    parser.add_argument("--model", help="a real EXL2 model folder instead of the test model")
    parser.add_argument("--work", help="work folder [a new one under /tmp]")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    if args.step == "convert":
        return convert(Path(args.fp16), out)
    if args.step:  # a step run by the runner in its own process
        report = env_report() if args.step == "env" else build_report()
        out.write_text(json.dumps(report, indent=2), encoding="utf-8")
        return 0
    deadline = time.monotonic() + args.budget
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work or f"/tmp/ragchat-gpu-check-{os.getpid()}")
    sys.path.insert(0, str(REPO))
    results = {"day": date.today().isoformat(), "budget_s": args.budget,
               "model": args.model or "random-weight Qwen2.5-0.5B shape, EXL2 4.25 bpw"}
    runner = Runner(out, work, deadline, results)
    runner.run(plan(args, work))
    print(json.dumps({k: results.get(k) for k in HEADLINE}, indent=2))
    return 0 if results.get("logits_pass") is not False and runner.ok("measure") else 1


if __name__ == "__main__":
    sys.exit(main())
