"""The course company, Quillmoor Instruments: its records, its page texts, the generator, what the base
model already knows, and the held-out sample.

``data`` (records and verified loaders) · ``corpus`` (the whole company as one :class:`Corpus`, what the
rungs take) · ``sample`` (the held-out sample and the one scoring entry point) · ``known`` (the
known/unknown split) · ``pages``, ``world``, ``questions``, ``build`` (the generator behind
``python -m labkit data --write / --check``). Nothing here loads a model.
"""
