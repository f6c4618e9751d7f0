"""``python -m labkit …``: the kit's commands.

    python -m labkit doctor           check this machine, say what to fix
    python -m labkit prepare          convert/verify the embedded models once
    python -m labkit demo             doctor, then embed -> retrieve -> answer one question
    python -m labkit labs [--check]   generate labs/ from solutions/ (or check they are in sync)
"""

from __future__ import annotations

import argparse
import sys

from labkit.errors import LabkitError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit", description="The RAG vs fine-tuning lab kit.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("doctor", help="check this machine and say what to fix")
    commands.add_parser("prepare", help="verify and convert the embedded models once")
    commands.add_parser("demo", help="doctor, then a tiny embed -> retrieve -> answer run")
    labs = commands.add_parser("labs", help="generate labs/ from solutions/")
    labs.add_argument("--check", action="store_true", help="fail if a lab is out of date")
    labs.add_argument("--execute", nargs="+", metavar="NOTEBOOK",
                      help="first re-run these solution notebooks to refresh their stored outputs")
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except LabkitError as exc:
        print(f"labkit: {exc}", file=sys.stderr)
        return 2


def _doctor(args) -> int:
    from labkit.runtime import doctor

    report = doctor()
    print(report)
    return 0 if report.all_clear else 1


def _prepare(args) -> int:
    from labkit.models import MODELS, ensure_converted, load_embedder

    for spec in MODELS.values():
        if spec.embedded and spec.kind == "generator":
            print(f"{spec.key}: {ensure_converted(spec)}")
        elif spec.embedded:
            load_embedder(spec.key)
            print(f"{spec.key}: loads")
    return 0


def _demo(args) -> int:
    from labkit.demo import run_demo

    status = _doctor(args)
    result = run_demo()
    print(f"\nquestion: {result['question']}")
    print(f"retrieved: {result['passage']}  (cosine {result['score']:.2f})")
    print(f"answer:   {result['answer']}")
    print("the generator answered correctly." if result["correct"] else "the answer missed the expected word.")
    return status or (0 if result["correct"] else 1)


def _labs(args) -> int:
    from pathlib import Path

    from labkit.labs import execute_solution, sync_labs

    for notebook in args.execute or []:
        print(f"executing {notebook} ...")
        execute_solution(Path(notebook))
    stale = sync_labs(check=args.check)
    if args.check:
        if stale:
            print("out of date: " + ", ".join(stale) + "\n  fix: python -m labkit labs")
            return 1
        print("labs/ is in sync with solutions/.")
    else:
        print("wrote " + (", ".join(stale) if stale else "nothing (already in sync)"))
    return 0


COMMANDS = {"doctor": _doctor, "prepare": _prepare, "demo": _demo, "labs": _labs}
