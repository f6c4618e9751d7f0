"""Retrieval, the RAG labs' machinery (labs 02-05): ``chunk`` (cut documents) · ``embed`` (vectors, cached) ·
``index`` (FAISS with access control) · ``qdrant`` (the same on a Qdrant database; ``open_index``) ·
``lexical`` (BM25 and hybrid fusion) · ``answer`` (retrieve, prompt, generate: the only step here that calls
the generator) · ``metrics`` (recall, MRR, nDCG) · ``sweep`` (chunk-size and search trade-offs) · ``beir``
(the external benchmark). Nothing here trains.
"""
