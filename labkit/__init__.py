"""labkit: the package behind the RAG-vs-fine-tuning course.

Every piece of logic the notebooks use lives here, one job per module:
``runtime`` (device, profiles, seeding, doctor), ``models`` (embedded defaults),
``labs`` (solution -> lab notebooks), ``checks`` (exercise checkers), ``cli``.
"""

__version__ = "0.1.0"
