"""Building and deciding a proposal from a large real git range vs `git diff --numstat`.

Builds a real repository in a temporary directory (``git fast-import``): a base
commit with ``--files`` source files and an npm ``package-lock.json`` of
``--packages`` packages, then ``--commits`` commits on a branch that together
change every source file, the last of which bumps every package of the
lockfile (a lockfile diff of about 20 MB at the default size) and adds
``--binaries`` PNG images of ``--binary-kib`` KiB each (random pixels, written
with zlib; binary files, whose new bytes Charter scans for credentials). Then, on that
range, in the same run:

- baseline: ``git diff --numstat base head`` (git's own diff of the range), and
  ``git diff base head`` (the whole patch, whose size is reported);
- Charter: ``charter.facts.proposal.build_from_git`` (files, patches, commits,
  dependency changes, schema validation) then ``charter.facts.decide.decide``
  (reconcile + evaluate against the shipped constitution), as ``charter check
  --git`` does, each run in a fresh child process. Memory: the child's peak
  resident size (``VmHWM``) over the whole build + decide, above its resident
  size before the work (interpreter, Charter, the compiled constitution); the
  build's and the decision's own peaks are shown under it. Time: wall clock,
  and CPU seconds (the child's and its git processes') against git's CPU
  seconds — the steadier figure on a shared machine.

Targets: build + decide ≤ 3x git's own time; memory ≤ 2x the patch size.
``--baseline-src`` runs another Charter tree (a worktree of an older commit)
alike, interleaved, for a before/after in one run. ``--no-huge-pages`` runs the children
with ``MIMALLOC_ALLOW_THP=0`` (regorus' allocator without transparent huge pages, whose
faults make the decision's time alternate from one fresh process to the next on some
machines, docs/benchmarks.md): steadier before/after figures, not Charter's default.

    .venv/bin/python bench/bench_proposal.py [--commits 1000] [--files 5000]
        [--packages 40000] [--binaries 0] [--binary-kib 256] [--runs 3] [--python-heap]
        [--baseline-src DIR] [--no-huge-pages] [--quick]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
EPOCH = 1_764_000_000  # fixed commit times: the same repository every run
GIT_ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    "LC_ALL": "C",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}

# The child: build + decide once (as `charter check --git` does: build_from_git, then
# facts.decide.decide = reconcile + evaluate), report times, CPU and memory as one JSON line.
CHILD = r"""
import json, resource, sys, time, tracemalloc
from pathlib import Path

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise SystemExit(f"no {field} in /proc/self/status")

def cpu():
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

def reset_peak():
    # Linux: writing 5 to clear_refs resets VmHWM to the current resident size.
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False

from charter.facts.identities import IdentityMap
from charter.facts.proposal import GitRange, build_from_git
from charter.policy.stack import load_stack
try:
    from charter.facts.decide import decide
    from charter.facts.reconcile import Facts
    def decide_built(compiled, document):
        return decide(compiled, None, Facts(built=document)).decision
except ImportError:  # a Charter from before facts.decide
    from charter.policy.decision import evaluate
    def decide_built(compiled, document):
        return evaluate(compiled, document)

repo, base, head, trace = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
compiled = load_stack().compile()
before = status("VmRSS")
if trace:
    tracemalloc.start()
start, cpu_start = time.perf_counter(), cpu()
document = build_from_git(GitRange(Path(repo), base, head, kind="push"), IdentityMap())
built, cpu_built = time.perf_counter(), cpu()
build_peak = status("VmHWM") - before
separate = reset_peak()
decision = decide_built(compiled, document)
decided, cpu_end = time.perf_counter(), cpu()
decide_peak = status("VmHWM") - before
print(json.dumps({
    "build_s": built - start,
    "decide_s": decided - built,
    "cpu_s": cpu_end - cpu_start,
    "decide_cpu_s": cpu_end - cpu_built,
    # The whole build + decide: the larger of the two phases' peaks (VmHWM was reset
    # between them only to tell them apart) above the resident size before.
    "peak_rss_above_start": max(build_peak, decide_peak),
    "build_peak": build_peak,
    "decide_peak": decide_peak if separate else None,
    "python_peak": tracemalloc.get_traced_memory()[1] if trace else None,
    "verdict": str(decision.verdict),
    "files": len(document["files"]),
    "patch_chars": sum(len(f["patch"] or "") for f in document["files"]),
    "omitted": sum("patch_omitted" in f for f in document["files"]),
    "binary": sum(f.get("patch_omitted") == "binary" for f in document["files"]),
    "dependency_changes": len(document["dependencies"]["changes"]),
    "commits": len(document["commits"]),
}))
"""


def _data(payload: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(payload), payload)


def source_file(i: int, revision: int) -> bytes:
    lines = [f'"""Module {i}: generated for bench_proposal."""', "", "import math", ""]
    for k in range(12):
        lines.append(f"def f{k}(x: float) -> float:")
        lines.append(f"    return math.sqrt(x) * {k + revision} + {i}")
        lines.append("")
    if revision:
        lines.append(f"LIMIT = {revision * 1000 + i}  # revised in commit {revision}")
    return ("\n".join(lines) + "\n").encode()


def lockfile(packages: int, bumped: bool) -> bytes:
    """An npm package-lock.json (lockfileVersion 3); ``bumped``: every package +1 patch."""
    patch = 1 if bumped else 0
    entries: dict[str, object] = {
        "": {
            "name": "bench-app",
            "version": "1.0.0",
            "dependencies": {f"pkg-{n:05d}": f"^1.0.{patch}" for n in range(0, packages, 40)},
        }
    }
    for n in range(packages):
        name = f"pkg-{n:05d}"
        version = f"1.0.{patch}"
        digest = hashlib.sha512(f"{name}@{version}".encode()).digest()
        entries[f"node_modules/{name}"] = {
            "version": version,
            "resolved": f"https://registry.npmjs.org/{name}/-/{name}-{version}.tgz",
            "integrity": "sha512-" + base64.b64encode(digest).decode(),
            "license": "MIT",
        }
    document = {"name": "bench-app", "version": "1.0.0", "lockfileVersion": 3,
                "requires": True, "packages": entries}  # fmt: skip
    return (json.dumps(document, indent=2) + "\n").encode()


def package_json(packages: int, bumped: bool) -> bytes:
    patch = 1 if bumped else 0
    deps = {f"pkg-{n:05d}": f"^1.0.{patch}" for n in range(0, packages, 40)}
    return (json.dumps({"name": "bench-app", "version": "1.0.0", "dependencies": deps},
                       indent=2) + "\n").encode()  # fmt: skip


def png(i: int, kib: int) -> bytes:
    """A PNG image of random pixels, about ``kib`` KiB (zlib cannot shrink them)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
        )

    width = 256
    rows = max(1, kib * 1024 // (width * 3))
    pixels = random.Random(i).randbytes(width * 3 * rows)  # noqa: S311 - not security
    raw = b"".join(b"\x00" + pixels[r * width * 3 : (r + 1) * width * 3] for r in range(rows))
    header = width.to_bytes(4, "big") + rows.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )  # fmt: skip


def stream(
    commits: int, files: int, packages: int, binaries: int = 0, kib: int = 256
) -> Iterator[bytes]:
    """A git fast-import stream: main (base) and feature (the range's head)."""
    who = b"Dev One <dev1@example.com> %d +0000\n"
    yield b"commit refs/heads/main\nmark :1\n"
    yield b"author " + who % EPOCH + b"committer " + who % EPOCH
    yield _data(b"base")
    for i in range(files):
        yield b"M 100644 inline src/pkg%03d/mod_%05d.py\n" % (i // 100, i) + _data(
            source_file(i, 0)
        )
    yield b"M 100644 inline package.json\n" + _data(package_json(packages, False))
    yield b"M 100644 inline package-lock.json\n" + _data(lockfile(packages, False))
    per_commit = max(1, -(-files // commits))
    for c in range(1, commits + 1):
        yield b"commit refs/heads/feature\nmark :%d\n" % (c + 1)
        author = b"Agent Seven <agent-7@bots.example.com> %d +0000\n" % (EPOCH + c)
        yield b"author " + author + b"committer " + author
        yield _data(b"change %d\n\nAgent: agent-7" % c)
        yield b"from :%d\n" % c
        for i in range((c - 1) * per_commit, min(files, c * per_commit)):
            yield b"M 100644 inline src/pkg%03d/mod_%05d.py\n" % (i // 100, i) + _data(
                source_file(i, c)
            )
        if c == commits:
            yield b"M 100644 inline package.json\n" + _data(package_json(packages, True))
            yield b"M 100644 inline package-lock.json\n" + _data(lockfile(packages, True))
            for i in range(binaries):
                yield b"M 100644 inline assets/img_%04d.png\n" % i + _data(png(i, kib))
    yield b"done\n"


def git(repo: Path, *args: str) -> bytes:
    return subprocess.run(
        ["git", *args], cwd=repo, env=GIT_ENV, check=True, capture_output=True
    ).stdout


def build_repository(
    path: Path, commits: int, files: int, packages: int, binaries: int = 0, kib: int = 256
) -> None:
    git(path, "init", "-q", "-b", "main")
    importer = subprocess.Popen(
        ["git", "fast-import", "--quiet", "--done"], cwd=path, env=GIT_ENV, stdin=subprocess.PIPE
    )
    assert importer.stdin is not None  # noqa: S101 - stdin=PIPE
    for chunk in stream(commits, files, packages, binaries, kib):
        importer.stdin.write(chunk)
    importer.stdin.close()
    if importer.wait() != 0:
        raise SystemExit("git fast-import failed")
    git(path, "checkout", "-q", "feature")


def timed(argv: list[str], cwd: Path) -> tuple[float, float, int]:
    """Seconds, CPU seconds and stdout bytes of one run of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=GIT_ENV, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu, len(done.stdout)


def run_child(
    repo: Path, trace: bool, src: Path = ROOT / "src", huge_pages: bool = True
) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    if not huge_pages:
        env["MIMALLOC_ALLOW_THP"] = "0"  # read by regorus' mimalloc when it is loaded
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(repo), "main", "feature", "1" if trace else "0"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _median(runs: list[dict[str, object]], key: str) -> float:
    return statistics.median(float(str(r[key])) for r in runs)


def _mb(value: float) -> str:
    return f"{value / 1e6:.1f}"


def _charter_rows(
    table: Table, label: str, runs: list[dict[str, object]], git: tuple[float, float], patch: int
) -> None:
    git_s, git_cpu = git
    build, decide = _median(runs, "build_s"), _median(runs, "decide_s")
    total, cpu = build + decide, _median(runs, "cpu_s")
    table.add_row(f"{label}: build_from_git (s)", f"{build:.2f}", f"{build / git_s:.2f}x", "")
    table.add_row(f"{label}: decide (s)", f"{decide:.2f}", f"{decide / git_s:.2f}x", "")
    decide_cpu = _median(runs, "decide_cpu_s")
    table.add_row(
        f"{label}: decide, CPU (s)", f"{decide_cpu:.2f}", f"{decide_cpu / git_cpu:.2f}x", ""
    )
    table.add_row(f"{label}: build + decide (s)", f"{total:.2f}", f"{total / git_s:.2f}x", "≤ 3x")
    table.add_row(
        f"{label}: build + decide, CPU (s, with its git)", f"{cpu:.2f}", f"{cpu / git_cpu:.2f}x", ""
    )
    peak = _median(runs, "peak_rss_above_start")
    table.add_row(
        f"{label}: peak RSS above start, build + decide (MB)",
        _mb(peak),
        f"{peak / patch:.2f}x the patch",
        "≤ 2x the patch",
    )
    table.add_row(
        f"{label}:   peak during the build (MB)",
        _mb(_median(runs, "build_peak")),
        f"{_median(runs, 'build_peak') / patch:.2f}x the patch",
        "",
    )
    if all(r["decide_peak"] is not None for r in runs):
        table.add_row(
            f"{label}:   peak during the decision (MB)",
            _mb(_median(runs, "decide_peak")),
            f"{_median(runs, 'decide_peak') / patch:.2f}x the patch",
            "",
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--packages", type=int, default=40000, help="packages in the lockfile")
    parser.add_argument("--binaries", type=int, default=0, help="PNG images the head adds")
    parser.add_argument("--binary-kib", type=int, default=256, help="size of each image (KiB)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--python-heap", action="store_true", help="also one run under tracemalloc (slow)"
    )
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="another Charter src/ tree (e.g. a git worktree of an older commit) timed alike, "
        "its runs interleaved with this tree's",
    )
    parser.add_argument(
        "--no-huge-pages",
        action="store_true",
        help="children with MIMALLOC_ALLOW_THP=0: regorus' heap without transparent huge pages "
        "(steadier decision times on some machines; not Charter's default)",
    )
    parser.add_argument("--quick", action="store_true", help="20 commits, 100 files, 500 packages")
    args = parser.parse_args()
    if args.quick:
        args.commits, args.files, args.packages, args.runs = 20, 100, 500, 1
    console = Console(width=max(Console().width, 110))
    numstat: list[tuple[float, float, int]] = []
    full: list[tuple[float, float, int]] = []
    runs: list[dict[str, object]] = []
    baseline: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="charter-bench-proposal-") as tmp:
        repo = Path(tmp)
        start = time.perf_counter()
        build_repository(
            repo, args.commits, args.files, args.packages, args.binaries, args.binary_kib
        )
        console.print(f"repository built in {time.perf_counter() - start:.1f} s ({repo})")
        lock_bytes = len(git(repo, "diff", "main", "feature", "--", "package-lock.json"))
        # Interleaved, so that a change in the machine's load touches every measure alike;
        # the two trees take turns going first, so neither always runs right after git.
        trees = [(runs, ROOT / "src")]
        if args.baseline_src:
            trees.append((baseline, args.baseline_src))
        for round_ in range(args.runs):
            numstat.append(timed(["git", "diff", "--numstat", "main", "feature"], repo))
            full.append(timed(["git", "diff", "main", "feature"], repo))
            for results, src in trees[:: -1 if round_ % 2 else 1]:
                results.append(run_child(repo, False, src, not args.no_huge_pages))
        traced = (
            run_child(repo, True, huge_pages=not args.no_huge_pages) if args.python_heap else None
        )
    patch_bytes = full[0][2]
    git_s = statistics.median(t for t, _, _ in numstat)
    git_cpu = statistics.median(c for _, c, _ in numstat)
    full_s = statistics.median(t for t, _, _ in full)
    first = runs[0]
    table = Table(
        title=f"{first['commits']} commits, {first['files']} files, "
        f"{first['dependency_changes']} dependency changes; patch {patch_bytes / 1e6:.1f} MB "
        f"(package-lock.json {lock_bytes / 1e6:.1f} MB); medians of {args.runs} runs"
    )
    for col in ("measure", "value", "vs git diff --numstat", "target"):
        table.add_column(col, justify="right")
    table.add_row("git diff --numstat (s)", f"{git_s:.2f}", "1.00x", "")
    table.add_row("git diff --numstat, CPU (s)", f"{git_cpu:.2f}", "1.00x", "")
    table.add_row("git diff, whole patch (s)", f"{full_s:.2f}", f"{full_s / git_s:.2f}x", "")
    _charter_rows(table, "charter", runs, (git_s, git_cpu), patch_bytes)
    if traced is not None:
        heap = int(str(traced["python_peak"]))
        table.add_row(
            "charter: Python heap peak, build + decide (MB, tracemalloc run)",
            _mb(heap),
            f"{heap / patch_bytes:.2f}x the patch",
            "",
        )
    if baseline:
        _charter_rows(table, "before", baseline, (git_s, git_cpu), patch_bytes)
    console.print(table)
    if baseline:
        console.print(f"before = the Charter tree {args.baseline_src}")
    if args.no_huge_pages:
        console.print("children ran with MIMALLOC_ALLOW_THP=0 (--no-huge-pages)")
    console.print(
        f"verdict {first['verdict']}; patches kept {int(str(first['patch_chars'])) / 1e6:.1f} MB, "
        f"{first['omitted']} omitted (over the per-file or total budget, or binary: "
        f"{first['binary']} binary files found holding nothing)"
    )
    if baseline and baseline[0]["verdict"] != first["verdict"]:
        console.print(f"[red]baseline verdict differs: {baseline[0]['verdict']}[/red]")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
