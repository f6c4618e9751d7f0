"""labkit: the package behind the RAG-vs-fine-tuning course.

Every piece of logic the notebooks use lives here, in layers that read in the ladder's climbing order.
A module imports only from its own layer or the layers below it, never in a circle (tests/test_layers.py
reads every import and keeps these rules):

1. ``errors storage runtime prompts evals stats scoreboard models constrain generate doctor hints``: the kit's base
2. ``course/``: the fictional company, its records, generator and held-out sample (loads no model)
3. ``retrieval/``: chunk, embed, index, search, answer from passages (labs 02-05; never trains)
4. ``tuning/``: the memory planner, LoRA/QLoRA training, the adapter cache, RAFT sets (labs 06-08)
5. ``ladder/``: the rungs ``prompt rag ft both``, the runner ``run``, the decision ``decide``, the ``claims``
6. ``checks labs grade demo cli``: exercise checkers, notebook generation, grading a class, the command line
   (nothing imports the CLI)
"""

from labkit.hints import hint  # noqa: E402,F401 (a lab asks for an exercise's second hint: labkit.hint("04.1", 2))

__version__ = "0.1.0"

LAYERS = (  # (name, modules and packages in it), lowest first: what tests/test_layers.py enforces
    ("base", ("labkit.errors", "labkit.storage", "labkit.runtime", "labkit.prompts", "labkit.evals", "labkit.stats",
              "labkit.scoreboard", "labkit.models", "labkit.constrain", "labkit.generate", "labkit.doctor", "labkit.hints")),
    ("course", ("labkit.course",)),
    ("retrieval", ("labkit.retrieval",)),
    ("tuning", ("labkit.tuning",)),
    ("ladder", ("labkit.ladder",)),
    ("top", ("labkit.checks", "labkit.labs", "labkit.grade", "labkit.demo", "labkit.cli", "labkit.__main__", "labkit")),
)
