"""The ladder's rungs, in climbing order: ``prompt``, ``rag``, ``ft``, ``both``; then ``run`` (the runner,
which only the command line imports) and ``decide`` (which rung to reach for, from the measured headlines).

Each rung is a function that takes the model, the corpus it measures (:class:`labkit.course.corpus.Corpus`),
the held-out sample and the profile, and returns its own scoreboard rows.
"""
