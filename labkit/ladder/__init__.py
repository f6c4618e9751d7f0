"""The ladder's rungs, in climbing order: ``prompt``, ``rag``, ``ft``, ``both``; then ``run`` (the runner,
which only the command line imports), ``decide`` (which rung to reach for, from the measured headlines, and
whether one rung beats another beyond its interval) and ``claims`` (the course's claims as relations, checked
on the measured rows).

Each rung is a function that takes the model, the corpus it measures (:class:`labkit.course.corpus.Corpus`),
the held-out sample and the profile, and returns its own scoreboard rows.
"""
