"""Run every benchmark and print one markdown report (the figures README quotes).

    python bench/run_all.py [--quick]

Each benchmark runs in its own process, side by side with its baseline, and prints its
own table and goal lines; this script collects them and ends with a summary of the goals.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BENCHES = (
    ("Ack latency", "ack_latency.py", [], ["--rounds", "1"]),
    ("Delivery lag and polling cost", "polling.py", [], ["--jobs", "10", "--scale", "20"]),
    ("Memory: download", "download_memory.py", [], ["--mb", "50"]),
    ("Memory: delivery into Slack", "delivery_memory.py", [], ["--mb", "50"]),
    ("Scale", "scale.py", [], ["--jobs", "200"]),
    ("HTTP mode under a flood", "http_flood.py", [], ["--requests", "50"]),
    ("Cards under load", "cards_under_load.py", [], ["--quick"]),
    ("Store backends", "store_backends.py", [], ["--jobs", "100"]),
    ("A pool of backends: throughput", "pool_throughput.py", [], ["--jobs", "16"]),
    ("A pool of backends: failover", "pool_failover.py", [], ["--jobs", "12"]),
)
GOAL = re.compile(r"(goal[^\n]*?(PASS|FAIL))", re.I)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a smoke test")
    parser.add_argument("--only", nargs="*", help="benchmark file names to run")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    goals: list[tuple[str, str, str]] = []
    print(f"# sora-slack benchmarks ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores)\n")
    for title, script, full, quick in BENCHES:
        if args.only and script not in args.only:
            continue
        if not (HERE / script).exists():
            print(f"## {title}\n\n(missing: bench/{script})\n")
            goals.append((title, "missing", "FAIL"))
            continue
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, str(HERE / script), *(quick if args.quick else full)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        elapsed = time.monotonic() - started
        output = result.stdout.strip()
        print(output if output.startswith("#") else f"## {title}\n\n{output}")
        print(f"\n_{script}: {elapsed:.0f} s_\n")
        if result.returncode != 0:
            print(f"```\n{result.stderr.strip()[-2000:]}\n```\n")
            goals.append((title, f"exited {result.returncode}", "FAIL"))
        for line, verdict in GOAL.findall(output):
            goals.append((title, line.strip(), verdict.upper()))
    print("## Goals\n\n| benchmark | goal | verdict |\n|---|---|---|")
    for title, line, verdict in goals:
        print(f"| {title} | {line.replace('|', '/')} | {verdict} |")
    return 0 if all(v == "PASS" for _, _, v in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
