"""Fine-tuning, the labs 06-08 machinery: ``plan`` (the memory planner; it loads no model) · ``train``
(LoRA on a CPU, QLoRA on a GPU: loading, batching, the loop, adapters) · ``fit`` (the content-keyed adapter
cache and its child process) · ``raft`` (RAFT training sets built from the corpus, no key).
"""
