"""Cut documents into chunks: the pieces that get embedded, indexed and cited.

Three chunkers, each a small pure function from one document to a list of
:class:`Chunk`, plus :func:`chunk_whole` (the whole document as one chunk):

- :func:`chunk_window`: fixed windows of ``max_tokens`` tokens that overlap by ``overlap``;
- :func:`chunk_sentences`: whole sentences packed greedily up to ``max_tokens``;
- :func:`chunk_markdown`: one section per Markdown heading, each cut like
  :func:`chunk_sentences`, every chunk remembering its heading path.

Sizes are counted in tokens of the embedder's tokenizer (all-MiniLM-L6-v2 reads
at most 256 word pieces, so the default of 200 leaves room). A *tokenizer* is
either a Hugging Face tokenizer or any callable that returns the tokens of a text
as substrings of it, in order; ``str.split`` is one, which keeps examples readable.

A chunk's text is an exact slice of the document, so a citation can be shown as
it was written. An empty (or whitespace-only) document gives no chunks.

>>> from types import SimpleNamespace as Doc
>>> doc = Doc(doc_id="faq", text="one two three four five", access="public", doc_version=1)
>>> [c.text for c in chunk_window(doc, str.split, max_tokens=3, overlap=1)]
['one two three', 'three four five']
>>> chunk_window(doc, str.split, max_tokens=3, overlap=1)[1].chunk_id
'faq#1'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Protocol

from labkit.errors import LabkitError, require_text
from labkit.models import model_source
from labkit.runtime import get_profile, progress_off, quiet_import, say_once


class DocumentLike(Protocol):
    """What a chunker needs from a document (``labkit.course.data.Document`` has these and more)."""

    doc_id: str
    text: str
    access: str
    doc_version: Any


@dataclass(frozen=True)
class Chunk:
    """One piece of one document, with everything needed to filter and cite it.

    >>> c = Chunk("refunds#0", "refunds", 2, "public", 0, ("Refunds", "Cards"), "Within 30 days.")
    >>> c.searchable_text
    'Refunds > Cards\\nWithin 30 days.'
    """

    chunk_id: str  # "{doc_id}#{position}"
    doc_id: str
    doc_version: Any
    access: str  # the access label: who may read it (see labkit.retrieval.index.AccessPolicy)
    position: int  # 0, 1, 2 ... within its document
    heading_path: tuple[str, ...]  # Markdown headings above it, outermost first
    text: str  # an exact slice of the document's text

    @property
    def searchable_text(self) -> str:
        """What gets embedded and BM25-indexed: the heading path, then the text."""
        if not self.heading_path:
            return self.text
        return " > ".join(self.heading_path) + "\n" + self.text


Tokenizer = Any  # a Hugging Face tokenizer, or a callable: text -> its tokens as substrings, in order


@dataclass(frozen=True)
class ChunkConfig:
    """How :func:`chunk_documents` cuts: ``method`` is "window", "sentences", "markdown" or "whole"."""

    method: str = "sentences"
    max_tokens: int = 200  # MiniLM reads 256 word pieces at most, its two markers included
    overlap: int = 40  # tokens shared by neighbouring windows ("window" only)


# ---------------------------------------------------------------------------
# tokens as character spans


def token_spans(text: str, tokenizer: Tokenizer) -> list[tuple[int, int]]:
    """The (start, end) character span of every token of ``text``.

    >>> token_spans("to be  or", str.split)
    [(0, 2), (3, 5), (7, 9)]
    """
    if hasattr(tokenizer, "convert_ids_to_tokens"):  # a Hugging Face tokenizer
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [tuple(span) for span in encoded["offset_mapping"] if span[1] > span[0]]
    spans, cursor = [], 0
    for token in tokenizer(text):
        start = text.find(token, cursor)
        if start < 0:
            raise LabkitError(
                f"the tokenizer returned {token!r}, which is not in the text after position {cursor}",
                "pass a Hugging Face tokenizer, or a callable that returns substrings of the text in order "
                "(str.split is one)",
            )
        spans.append((start, start + len(token)))
        cursor = start + len(token)
    return spans


# ---------------------------------------------------------------------------
# the chunkers


def chunk_window(doc: DocumentLike, tokenizer: Tokenizer, max_tokens: int = 200,
                 overlap: int = 40) -> list[Chunk]:
    """Windows of ``max_tokens`` tokens, each starting ``max_tokens - overlap`` tokens after the last.

    >>> from types import SimpleNamespace as Doc
    >>> doc = Doc(doc_id="d", text="a b c d e f g", access="staff", doc_version=1)
    >>> [c.text for c in chunk_window(doc, str.split, max_tokens=4, overlap=2)]
    ['a b c d', 'c d e f', 'e f g']
    """
    if not 0 <= overlap < max_tokens:
        raise LabkitError(f"overlap={overlap} with max_tokens={max_tokens}: windows would not move forward",
                          "use 0 <= overlap < max_tokens, for example max_tokens=200, overlap=40")
    text = _text_of(doc)
    return _make_chunks(doc, [((), span) for span in _windows(text, tokenizer, max_tokens, overlap)])


def chunk_sentences(doc: DocumentLike, tokenizer: Tokenizer, max_tokens: int = 200) -> list[Chunk]:
    """Whole sentences packed greedily, up to ``max_tokens`` tokens per chunk.

    A sentence longer than ``max_tokens`` on its own is cut into windows (no overlap).
    Sentences end at ``.``, ``!`` or ``?`` followed by space, and at blank lines.

    >>> from types import SimpleNamespace as Doc
    >>> doc = Doc(doc_id="d", text="Short one. Then a longer second one! Third?", access="public", doc_version=1)
    >>> [c.text for c in chunk_sentences(doc, str.split, max_tokens=6)]
    ['Short one.', 'Then a longer second one! Third?']
    """
    text = _text_of(doc)
    return _make_chunks(doc, [((), span) for span in _pack_sentences(text, 0, len(text), tokenizer, max_tokens)])


def chunk_markdown(doc: DocumentLike, tokenizer: Tokenizer, max_tokens: int = 200) -> list[Chunk]:
    """One or more chunks per Markdown section, each keeping the headings above it.

    Headings are lines starting with 1 to 6 ``#``; those inside ``` fences are text.
    A heading with nothing under it gives no chunk (its title lives on in its
    subsections' ``heading_path``). Sections are cut like :func:`chunk_sentences`.

    >>> from types import SimpleNamespace as Doc
    >>> md = "# Refunds\\nAsk within 30 days.\\n## Cards\\nBack in 5 days."
    >>> doc = Doc(doc_id="refunds", text=md, access="public", doc_version=2)
    >>> [(c.heading_path, c.text) for c in chunk_markdown(doc, str.split)]
    [(('Refunds',), 'Ask within 30 days.'), (('Refunds', 'Cards'), 'Back in 5 days.')]
    """
    text = _text_of(doc)
    pieces = []
    for path, start, end in markdown_sections(text):
        pieces += [(path, span) for span in _pack_sentences(text, start, end, tokenizer, max_tokens)]
    return _make_chunks(doc, pieces)


def chunk_whole(doc: DocumentLike, with_title: bool = True) -> list[Chunk]:
    """The whole document as one chunk (``title + " " + text`` when it has a title).

    The embedder reads only its first ``max_seq_length`` word pieces (256 for
    MiniLM); :class:`labkit.retrieval.embed.Embedder` says so once when that happens.

    >>> from types import SimpleNamespace as Doc
    >>> doc = Doc(doc_id="d", title="Hours", text="Open 9-5.", access="public", doc_version=1)
    >>> chunk_whole(doc)[0].text
    'Hours Open 9-5.'
    """
    text = _text_of(doc)
    title = getattr(doc, "title", "") if with_title else ""
    if not text.strip() and not (title or "").strip():
        return []
    full = f"{title} {text}".strip() if title else text
    return [Chunk(f"{doc.doc_id}#0", doc.doc_id, doc.doc_version, doc.access, 0, (), full)]


def chunk_documents(docs: Iterable[DocumentLike], config: ChunkConfig = ChunkConfig(),
                    tokenizer: Tokenizer | None = None, progress: bool = True) -> list[Chunk]:
    """Chunk a whole corpus with one :class:`ChunkConfig`; doc ids must be unique.

    ``tokenizer`` defaults to the profile's embedder tokenizer. Empty documents give
    no chunks and are counted in one message.

    >>> from types import SimpleNamespace as Doc
    >>> docs = [Doc(doc_id=i, text=t, access="public", doc_version=1) for i, t in [("a", "x. y."), ("b", "")]]
    >>> [c.chunk_id for c in chunk_documents(docs, ChunkConfig("sentences", 1), str.split, progress=False)]
    ['a#0', 'a#1']
    """
    from tqdm.auto import tqdm

    chunkers = {"window": lambda d: chunk_window(d, tokenizer, config.max_tokens, config.overlap),
                "sentences": lambda d: chunk_sentences(d, tokenizer, config.max_tokens),
                "markdown": lambda d: chunk_markdown(d, tokenizer, config.max_tokens),
                "whole": chunk_whole}
    if config.method not in chunkers:
        raise LabkitError(f"unknown chunking method {config.method!r}", f"use one of: {', '.join(chunkers)}")
    if tokenizer is None and config.method != "whole":
        tokenizer = default_tokenizer()
    chunks, seen, empty = [], set(), []
    for doc in tqdm(list(docs), desc="chunking", unit="doc", disable=progress_off() or not progress):
        if doc.doc_id in seen:
            raise LabkitError(f"two documents have the id {doc.doc_id!r}",
                              "give every document its own doc_id (a new version replaces the old one: "
                              "keep only the latest, or put the version in the id)")
        seen.add(doc.doc_id)
        pieces = chunkers[config.method](doc)
        chunks += pieces
        if not pieces:
            empty.append(doc.doc_id)
    if empty:
        say_once(f"labkit: {len(empty)} empty document(s) gave no chunks: {', '.join(map(str, empty[:5]))}"
                 + (" ..." if len(empty) > 5 else ""))
    return chunks


def default_tokenizer(model_key: str | None = None):
    """The tokenizer of an embedder (the profile's by default), loaded without the model."""
    transformers = quiet_import("transformers")
    return transformers.AutoTokenizer.from_pretrained(model_source(model_key or get_profile().embedder))


# ---------------------------------------------------------------------------
# helpers

_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n\s*\n")
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _text_of(doc: DocumentLike) -> str:
    return require_text(doc.text, f"document {doc.doc_id!r}")


def _make_chunks(doc: DocumentLike, pieces: list[tuple[tuple[str, ...], tuple[int, int]]]) -> list[Chunk]:
    return [Chunk(f"{doc.doc_id}#{i}", doc.doc_id, doc.doc_version, doc.access, i, path, doc.text[a:b])
            for i, (path, (a, b)) in enumerate(pieces)]


def _windows(text: str, tokenizer: Tokenizer, max_tokens: int, overlap: int,
             offset: int = 0) -> list[tuple[int, int]]:
    """Token windows as character spans; they start and end between words where they can
    (a word piece such as ``##kit`` never starts a window), so a window holds at most
    ``max_tokens`` tokens and neighbours share at most ``overlap``."""
    spans = token_spans(text, tokenizer)
    n = len(spans)
    inside_word = [i > 0 and spans[i][0] == spans[i - 1][1] and text[spans[i][0]].isalnum()
                   and text[spans[i][0] - 1].isalnum() for i in range(n)]
    out, first = [], 0
    while first < n:
        end = min(first + max_tokens, n)  # exclusive
        cut = end
        while cut < n and cut > first + 1 and inside_word[cut]:
            cut -= 1  # do not end in the middle of a word ...
        if cut < n and inside_word[cut]:
            cut = end  # ... unless one word is longer than the whole window
        out.append((offset + spans[first][0], offset + spans[cut - 1][1]))
        if cut >= n:
            break
        first = max(first + 1, cut - overlap)
        while first < cut and inside_word[first]:
            first += 1
    return out


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans of the sentences of ``text[start:end]`` (stripped of surrounding space).

    >>> text = "It works. Does it?  Yes"
    >>> [text[a:b] for a, b in sentence_spans(text)]
    ['It works.', 'Does it?', 'Yes']
    """
    end = len(text) if end is None else end
    spans, cursor = [], start
    for br in _SENTENCE_BREAK.finditer(text, start, end):
        spans.append((cursor, br.start()))
        cursor = br.end()
    spans.append((cursor, end))
    out = []
    for a, b in spans:
        piece = text[a:b]
        if piece.strip():
            out.append((a + len(piece) - len(piece.lstrip()), b - (len(piece) - len(piece.rstrip()))))
    return out


def _pack_sentences(text: str, start: int, end: int, tokenizer: Tokenizer,
                    max_tokens: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    current, used = None, 0
    for a, b in sentence_spans(text, start, end):
        n = len(token_spans(text[a:b], tokenizer))
        if n > max_tokens:  # a sentence too long on its own: windows, no overlap
            if current:
                out.append(current)
            out += _windows(text[a:b], tokenizer, max_tokens, 0, offset=a)
            current, used = None, 0
        elif current and used + n <= max_tokens:
            current, used = (current[0], b), used + n
        else:
            if current:
                out.append(current)
            current, used = (a, b), n
    if current:
        out.append(current)
    return out


def markdown_sections(text: str) -> list[tuple[tuple[str, ...], int, int]]:
    """``(heading_path, start, end)`` of every Markdown section body, in order.

    >>> md = "intro\\n# A\\nbody a\\n## B\\nbody b"
    >>> [(path, md[a:b].strip()) for path, a, b in markdown_sections(md)]
    [((), 'intro'), (('A',), 'body a'), (('A', 'B'), 'body b')]
    """
    sections, stack = [], []  # stack: (level, title)
    body_start, in_fence, pos = 0, False, 0
    for line in text.splitlines(keepends=True):
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(line.rstrip("\r\n"))
        if heading:
            sections.append((tuple(t for _, t in stack), body_start, pos))
            level = len(heading.group(1))
            stack = [(lv, t) for lv, t in stack if lv < level] + [(level, heading.group(2).strip())]
            body_start = pos + len(line)
        pos += len(line)
    sections.append((tuple(t for _, t in stack), body_start, len(text)))
    return [(path, a, b) for path, a, b in sections if text[a:b].strip()]
