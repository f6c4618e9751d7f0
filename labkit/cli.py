"""``python -m labkit …``: the kit's commands.

    python -m labkit doctor           check this machine, say what to fix
    python -m labkit prepare          convert/verify the embedded models once
    python -m labkit demo             doctor, then embed -> retrieve -> answer one question
    python -m labkit labs [--check]   generate labs/ from solutions/ (or check they are in sync)
    python -m labkit grade DIR [--out report]   run the notebooks a class handed in, report each exercise
    python -m labkit data --check     regenerate the course data in a temporary folder and compare
    python -m labkit data --write     regenerate the course data (labkit/course/quillmoor/)
    python -m labkit ladder           run the ladder's rungs and write the scoreboard, plot and decision
    python -m labkit ladder --corpus DOCS --questions Q.jsonl [--update DOCS2] [--roles R.json]
                                      the same on your own documents
    python -m labkit questions --template DOCS [--out FILE]   a starter questions file for your documents
    python -m labkit train EXAMPLES.jsonl --out DIR   train a LoRA adapter (also under accelerate launch)
    python -m labkit bench retrieval --beir DIR [--method dense|bm25|hybrid|all]
"""

from __future__ import annotations

import argparse
import sys

from labkit.errors import LabkitError
from labkit.scoreboard import RUNGS

# Each subcommand imports what it needs when it runs (the allowlist of tests/test_layers.py): `--help` and
# `doctor` must start fast and work even when a heavy dependency is broken.


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
    grade = commands.add_parser("grade", help="run every notebook under DIR (copies) and report each exercise")
    grade.add_argument("folder", metavar="DIR", help="the folder of notebooks handed in (searched recursively)")
    grade.add_argument("--out", default="report", help="folder for report.csv and report.html (default: report)")
    grade.add_argument("--timeout", type=int, default=900, help="seconds a cell may run before it is interrupted")
    data = commands.add_parser("data", help="the course data: check, write, measure what the model knows")
    action = data.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", action="store_true", help="fail if the course data differs from a fresh generation")
    action.add_argument("--write", action="store_true", help="regenerate the course data (labkit/course/quillmoor/, atomically)")
    action.add_argument("--measure-known", action="store_true",
                        help="ask the base model the general set and store which questions it knows")
    ladder = commands.add_parser("ladder", help="run rungs of the ladder, write scoreboard.json and ladder.png")
    ladder.add_argument("--rungs", default=",".join(RUNGS), help="comma-separated, e.g. prompt,rag")
    ladder.add_argument("--out", default=None,
                        help="folder for scoreboard.json, ladder.png and decision.txt (default: results/ladder, "
                             "or results/NAME for --corpus NAME)")
    ladder.add_argument("--seed", type=int, default=0, help="draws the sample (and trains, unless --seeds)")
    ladder.add_argument("--seeds", default=None, metavar="0,1,2",
                        help="train the ft and both rungs once per seed and report the spread (the sample stays --seed's)")
    ladder.add_argument("--sample", type=int, default=None,
                        help="score at most N questions per set: a quick run (trained adapters come from the cache)")
    ladder.add_argument("--full", action="store_true",
                        help="score every held-out question instead of the course's sample (slower, tighter intervals)")
    ladder.add_argument("--index", default="faiss", metavar="SPEC",
                        help="the dense index: faiss (default), qdrant:PATH (Qdrant on disk) or qdrant+http://HOST:PORT")
    ladder.add_argument("--raft-on", choices=("corpus", "course"), default="corpus",
                        help="the both rung's RAFT set: the corpus measured (default), or the course's (its cached reader)")
    own = ladder.add_argument_group("your own documents (instead of the course company)")
    own.add_argument("--corpus", metavar="DOCS", help="a folder of .md/.txt files, or a JSONL file of documents")
    own.add_argument("--questions", metavar="Q.jsonl", help="your questions (python -m labkit questions --template DOCS)")
    own.add_argument("--update", metavar="DOCS2", help="changed and new documents: the update the ladder absorbs")
    own.add_argument("--roles", metavar="R.json", help='who may read what: {"role": ["access label", ...]}')
    own.add_argument("--role", default=None, help="the role that asks the questions (default: the one that reads most)")
    own.add_argument("--id-pattern", action="append", default=[], metavar="REGEX",
                     help=r"a regex of your identifiers, to catch invented ones (e.g. '\bWO-\d{4}\b'); repeatable")
    bench = commands.add_parser("bench", help="benchmarks: bench retrieval --beir DIR [--method ...]")
    bench.add_argument("what", choices=["retrieval"])
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="options of that benchmark (--help for them)")
    questions = commands.add_parser("questions", help="your own documents: write a starter questions file to fill in")
    questions.add_argument("--template", required=True, metavar="DOCS",
                           help="your documents: a folder of .md/.txt files, or a JSONL file of them")
    questions.add_argument("--out", default="questions.jsonl", metavar="FILE",
                           help="the questions file to write (never overwritten; default: questions.jsonl)")
    train = commands.add_parser("train", help="train a LoRA/QLoRA adapter on examples; runs under accelerate launch too")
    what = train.add_mutually_exclusive_group(required=True)
    what.add_argument("examples", nargs="?", metavar="EXAMPLES.jsonl",
                      help='one example a line: {"prompt": ..., "completion": ...} or {"messages": [...], "completion": ...}')
    what.add_argument("--course", choices=("format",), help="the course's examples instead (format: the format fine-tune's)")
    train.add_argument("--out", required=True, metavar="DIR", help="the adapter folder to write (atomically, with checksums)")
    train.add_argument("--model", default=None, metavar="KEY|DIR",
                       help="a generator key of labkit.models or a model folder (default: the profile's)")
    for flag, kind, meaning in (("--epochs", float, "passes over the examples"), ("--max-steps", int, "a cap on optimizer steps"),
                                ("--batch-size", int, "sequences per optimizer step, over all processes"),
                                ("--learning-rate", float, "the peak learning rate"), ("--lora-r", int, "the adapters' rank"),
                                ("--max-seq-len", int, "tokens per example (longer prompts are cut from the left)"),
                                ("--seed", int, "the adapters' init and the batches' order")):
        train.add_argument(flag, type=kind, default=None, help=meaning)
    train.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default=None,
                       help="the compute dtype (default: bf16 where it is fast, fp16 on other GPUs, else fp32)")
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except LabkitError as exc:
        print(f"labkit: {exc}", file=sys.stderr)
        return 2


def _doctor(args) -> int:
    from labkit.doctor import doctor

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


def _grade(args) -> int:
    from labkit.grade import GradeConfig, format_report, grade_folder, write_report

    verdicts = grade_folder(args.folder, GradeConfig(cell_timeout_s=args.timeout),
                            after_each=lambda so_far: write_report(so_far, args.out))
    print(format_report(verdicts))
    csv_path, html_path = write_report(verdicts, args.out)
    print(f"wrote {csv_path} and {html_path}")
    return 0


def _data(args) -> int:
    from labkit.course import build
    from labkit.course.data import DEFAULT_DATA_DIR

    if args.check:
        differences = build.check()
        for line in differences:
            print(line)
        if differences:
            print("the course data differs from a fresh generation\n  fix: python -m labkit data --write "
                  "(or git checkout labkit/course/quillmoor/)")
            return 1
        print("the course data matches a fresh generation (and its manifest).")
    elif args.write:
        manifest = build.generate(DEFAULT_DATA_DIR)
        print(f"wrote {len(manifest['files'])} files into {DEFAULT_DATA_DIR}")
    else:
        from labkit.course.corpus import course_corpus
        from labkit.ladder.prompt import measure_known
        from labkit.models import load_generator

        known = measure_known(*load_generator("smollm2-135m"), course_corpus())
        print(f"known: {known['n_known']} of {sum(known['counts'].values())}; {known['counts']}")
        print(f"wrote {build.write_general_known(known)}")
    return 0


def seed_list(text: str) -> tuple[int, ...]:
    """``--seeds``: comma-separated whole numbers, each once.

    >>> seed_list("0, 1,2")
    (0, 1, 2)
    >>> seed_list("0,x")
    Traceback (most recent call last):
    labkit.errors.LabkitError: --seeds '0,x' is not a list of seeds
      fix: give different whole numbers >= 0, separated by commas: --seeds 0,1,2
    """
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts) or len(set(map(int, parts))) != len(parts):
        raise LabkitError(f"--seeds {text!r} is not a list of seeds",
                          "give different whole numbers >= 0, separated by commas: --seeds 0,1,2")
    return tuple(int(p) for p in parts)


def _ladder(args) -> int:
    from pathlib import Path

    from labkit.ladder.run import LadderConfig, run_ladder

    rungs = tuple(r.strip() for r in args.rungs.split(",") if r.strip())
    corpus, out = None, args.out or "results/ladder"
    if args.corpus is None:
        given = [f"--{name.replace('_', '-')}" for name in ("questions", "update", "roles", "role") if getattr(args, name)]
        if given or args.id_pattern:
            raise LabkitError(f"{', '.join(given or ['--id-pattern'])} describe your own documents, but --corpus is missing",
                              "add --corpus DOCS (a folder of .md/.txt files), or leave them out to run the course")
    else:
        from labkit.course.own import OwnConfig, own_corpus

        if args.questions is None:
            raise LabkitError("--corpus needs --questions: the ladder scores answers to your questions",
                              f"write a starter file with: python -m labkit questions --template {args.corpus}")
        corpus = own_corpus(args.corpus, args.questions, args.roles, args.update,
                            OwnConfig(seed=args.seed, id_patterns=tuple(args.id_pattern), asker=args.role))
        out = args.out or f"results/{corpus.name}"
    from labkit.retrieval.qdrant import parse_spec

    parse_spec(args.index)  # a malformed --index stops here, before any model loads
    run_ladder(LadderConfig(rungs=rungs, out=Path(out), seed=args.seed, sample=args.sample, full=args.full,
                            train_seeds=None if args.seeds is None else seed_list(args.seeds), index=args.index,
                            raft_on=args.raft_on), corpus)
    return 0


def _bench(args) -> int:
    from labkit.retrieval.beir import main_bench

    return main_bench(args.rest)


def _questions(args) -> int:
    from labkit.course.own import write_question_template

    path = write_question_template(args.template, args.out)
    print(f"wrote {path}: write a question on each line and fill its answers (or set \"answerable\": false), "
          f"then run: python -m labkit ladder --corpus {args.template} --questions {path}")
    return 0


def _train(args) -> int:
    from dataclasses import replace

    from labkit.tuning.fit import train_and_save
    from labkit.tuning.parallel import processes
    from labkit.tuning.train import TrainConfig, describe, read_examples

    if args.course:
        from labkit.course.corpus import course_corpus
        from labkit.ladder.ft import FORMAT_TRAINING, format_training_examples

        examples, config = format_training_examples(course_corpus()), FORMAT_TRAINING
    else:
        examples, config = read_examples(args.examples), TrainConfig()
    given = {name: getattr(args, name) for name in ("epochs", "max_steps", "batch_size", "learning_rate", "lora_r",
                                                    "max_seq_len", "seed", "dtype")}
    config = replace(config, **{name: value for name, value in given.items() if value is not None},
                     lora_alpha=2 * args.lora_r if args.lora_r else config.lora_alpha)
    together = processes()
    _, _, result, adapter_mb = train_and_save(args.model, examples, config, args.out)
    if together.is_main:
        print(f"{describe(result)}\nadapter: {args.out} ({adapter_mb:.1f} MB; {len(examples)} examples, "
              f"{together.count} process{'es' if together.count > 1 else ''})")
    return 0


COMMANDS = {"bench": _bench, "doctor": _doctor, "prepare": _prepare, "demo": _demo, "labs": _labs, "grade": _grade, "data": _data, "ladder": _ladder, "questions": _questions, "train": _train}
