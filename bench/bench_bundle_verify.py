"""Bundle verification cost: Charter's verify-before-extract vs ``sha256sum``.

Generates a signed bundle of 1,000 rule files (plus a manifest and data), then
times, in the same run, (a) ``charter.policy.bundle.verify_tarball`` on the archive
bytes — gunzip, safe in-memory tar read, JWT check, every file hash — and (b)
``sha256sum`` over the same 1,000 files on disk. Prints medians and the ratio
(target: at most 3x).

    .venv/bin/python bench/bench_bundle_verify.py [--files 1000] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from charter.policy.bundle import SIGNATURES, build_tarball, verify_tarball
from charter.trust import keys, signing

RULE = """# METADATA
# title: Generated rule {n}
# description: Benchmark rule number {n}.
# custom:
#   id: BENCH-RULE-{n:04d}
#   severity: medium
#   category: process
package charter.overlay.bench.r{n:04d}

import rego.v1

deny contains {{"rule": "BENCH-RULE-{n:04d}", "msg": "rule {n} matched"}} if {{
	input.kind == "push"
	input.labels[_] == "bench-{n}"
}}
"""


def generate(count: int) -> dict[str, bytes]:
    manifest = {
        "revision": "1",
        "roots": ["charter/overlay"],
        "rego_version": 1,
        "metadata": {"charter": {"layer": "overlay", "name": "bench", "version": "1.0.0"}},
    }
    files = {".manifest": json.dumps(manifest).encode()}
    files["charter/overlay/data.json"] = json.dumps({"parameters": {}}).encode()
    for n in range(count):
        files[f"charter/overlay/bench/r{n:04d}/rule.rego"] = RULE.format(n=n).encode()
    return files


def median_time(fn: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    key = keys.generate("ed25519")
    files = generate(args.files)
    signed = dict(files)
    signed[SIGNATURES] = signing.sign_files(files, key, scope="overlay")
    archive = build_tarball(signed)
    trusted = [key.public_key()]

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bundle_path = root / "bench.tar.gz"
        bundle_path.write_bytes(archive)
        paths = []
        for name, data in files.items():
            path = root / "tree" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            paths.append(str(path))
        rule_paths = [p for p in paths if p.endswith(".rego")]

        def charter_verify() -> None:
            verify_tarball(bundle_path.read_bytes(), trusted, layer="overlay")

        def sha256sum() -> None:
            subprocess.run(["sha256sum", *rule_paths], check=True, stdout=subprocess.DEVNULL)

        charter_verify()  # warm imports and caches for both sides alike
        sha256sum()
        charter_s = median_time(charter_verify, args.runs)
        sha_s = median_time(sha256sum, args.runs)

    ratio = charter_s / sha_s
    size = sum(len(d) for d in files.values())
    print(f"bundle: {len(files)} files ({args.files} rule files), {size / 1024:.0f} KiB, "
          f"archive {len(archive) / 1024:.0f} KiB; median of {args.runs} runs")  # fmt: skip
    print(f"{'method':<44} {'median ms':>10}")
    print(f"{'-' * 44} {'-' * 10}")
    print(f"{'charter verify_tarball (gunzip+tar+JWT+hash)':<44} {charter_s * 1000:>10.2f}")
    print(f"{'sha256sum over the same rule files':<44} {sha_s * 1000:>10.2f}")
    print(f"{'ratio charter / sha256sum':<44} {ratio:>10.2f}x  (target <= 3x)")


if __name__ == "__main__":
    main()
