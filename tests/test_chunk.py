"""labkit.retrieval.chunk: windows, sentences, Markdown sections, and the documents that break them."""

from dataclasses import FrozenInstanceError
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.retrieval.chunk import (Chunk, ChunkConfig, chunk_documents, chunk_markdown, chunk_sentences, chunk_whole,
                          chunk_window, markdown_sections, sentence_spans, token_spans)
from labkit.errors import LabkitError


def doc(text, doc_id="d", access="public", version=1, **extra):
    return SimpleNamespace(doc_id=doc_id, text=text, access=access, doc_version=version, **extra)


def words(n):
    return " ".join(f"w{i}" for i in range(n))


def test_window_sizes_overlap_and_metadata():
    chunks = chunk_window(doc(words(10), "policy", "staff", 3), str.split, max_tokens=4, overlap=1)
    assert [c.text for c in chunks] == ["w0 w1 w2 w3", "w3 w4 w5 w6", "w6 w7 w8 w9"]
    assert [c.chunk_id for c in chunks] == ["policy#0", "policy#1", "policy#2"]
    assert {(c.doc_id, c.access, c.doc_version) for c in chunks} == {("policy", "staff", 3)}
    assert [c.position for c in chunks] == [0, 1, 2]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 60), size=st.integers(1, 12), data=st.data())
def test_windows_cover_every_token_and_respect_the_size(n, size, data):
    overlap = data.draw(st.integers(0, size - 1))
    chunks = chunk_window(doc(words(n)), str.split, max_tokens=size, overlap=overlap)
    assert all(len(c.text.split()) <= size for c in chunks)
    covered = {w for c in chunks for w in c.text.split()}
    assert covered == set(words(n).split())
    for a, b in zip(chunks, chunks[1:]):  # neighbours share exactly `overlap` tokens
        assert a.text.split()[len(a.text.split()) - overlap:] == b.text.split()[:overlap]


def test_window_rejects_an_overlap_that_never_moves():
    with pytest.raises(LabkitError, match="overlap"):
        chunk_window(doc("a b c"), str.split, max_tokens=3, overlap=3)


def test_chunk_text_is_an_exact_slice_of_the_document():
    text = "Alpha  beta,\n gamma.   Delta!"
    for chunk in chunk_window(doc(text), str.split, 2, 1) + chunk_sentences(doc(text), str.split, 3):
        assert chunk.text in text


def test_sentences_are_never_split_when_they_fit():
    text = "One two three. Four five. Six seven eight nine. Ten."
    chunks = chunk_sentences(doc(text), str.split, max_tokens=5)
    assert [c.text for c in chunks] == ["One two three. Four five.", "Six seven eight nine. Ten."]


def test_a_sentence_longer_than_the_limit_falls_back_to_windows():
    text = "Short. " + words(9) + "."
    chunks = chunk_sentences(doc(text), str.split, max_tokens=4)
    assert chunks[0].text == "Short."
    assert all(len(c.text.split()) <= 4 for c in chunks)
    assert "".join(c.text for c in chunks[1:]).replace(" ", "") == (words(9) + ".").replace(" ", "")


def test_sentence_spans_split_on_punctuation_and_blank_lines():
    text = "First line\n\nSecond? Third!  Fourth"
    assert [text[a:b] for a, b in sentence_spans(text)] == ["First line", "Second?", "Third!", "Fourth"]


def test_markdown_heading_paths_nest_and_reset():
    md = "Intro text.\n# Billing\nPay monthly.\n## Refunds\nWithin 30 days.\n### Cards\nFive days.\n# Support\nCall us."
    chunks = chunk_markdown(doc(md), str.split, max_tokens=50)
    assert [(c.heading_path, c.text) for c in chunks] == [
        ((), "Intro text."),
        (("Billing",), "Pay monthly."),
        (("Billing", "Refunds"), "Within 30 days."),
        (("Billing", "Refunds", "Cards"), "Five days."),
        (("Support",), "Call us."),
    ]
    assert chunks[3].searchable_text == "Billing > Refunds > Cards\nFive days."


def test_markdown_ignores_hashes_in_code_fences_and_skips_empty_sections():
    md = "# Setup\n## Linux\n```\n# not a heading\n```\n# Empty\n"
    sections = markdown_sections(md)
    assert [path for path, _, _ in sections] == [("Setup", "Linux")]
    assert "# not a heading" in md[sections[0][1]:sections[0][2]]


def test_long_markdown_sections_are_cut_but_keep_their_path():
    md = "# Big\n" + ". ".join(words(5) for _ in range(6)) + "."
    chunks = chunk_markdown(doc(md), str.split, max_tokens=12)
    assert len(chunks) > 1 and all(c.heading_path == ("Big",) for c in chunks)


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_documents_give_no_chunks(text):
    d = doc(text)
    assert chunk_window(d, str.split) == []
    assert chunk_sentences(d, str.split) == []
    assert chunk_markdown(d, str.split) == []
    assert chunk_whole(d) == []


def test_bytes_are_refused_with_a_fix():
    with pytest.raises(LabkitError, match="bytes") as err:
        chunk_sentences(doc(b"caf\xe9"), str.split)
    assert "decode" in err.value.fix


def test_whole_document_prepends_the_title():
    assert chunk_whole(doc("Open 9-5.", title="Hours"))[0].text == "Hours Open 9-5."
    assert chunk_whole(doc("Open 9-5."))[0].text == "Open 9-5."


def test_chunk_is_frozen():
    chunk = Chunk("d#0", "d", 1, "public", 0, (), "x")
    with pytest.raises(FrozenInstanceError):
        chunk.text = "changed"


def test_chunk_documents_rejects_duplicate_ids_and_counts_empties(monkeypatch):
    said = []
    monkeypatch.setattr("labkit.retrieval.chunk.say_once", said.append)
    docs = [doc("a. b.", "x"), doc("", "empty")]
    chunks = chunk_documents(docs, ChunkConfig("sentences", max_tokens=1), str.split, progress=False)
    assert [c.chunk_id for c in chunks] == ["x#0", "x#1"]
    assert said and "1 empty document" in said[0]
    with pytest.raises(LabkitError, match="two documents have the id 'x'"):
        chunk_documents([doc("a", "x"), doc("b", "x")], ChunkConfig("window"), str.split, progress=False)
    with pytest.raises(LabkitError, match="unknown chunking method"):
        chunk_documents(docs, ChunkConfig("paragraphs"), str.split, progress=False)


def test_callable_tokenizer_must_return_substrings():
    with pytest.raises(LabkitError, match="not in the text"):
        token_spans("Hello", lambda t: [t.lower()])


def test_hugging_face_tokenizer_counts_word_pieces():
    from labkit.retrieval.chunk import default_tokenizer

    tokenizer = default_tokenizer("minilm-l6")
    text = "Tokenization splits unfamiliar words: labkit, QLoRA. " * 30
    chunks = chunk_window(doc(text), tokenizer, max_tokens=50, overlap=10)
    for chunk in chunks:
        assert len(tokenizer(chunk.text, add_special_tokens=False)["input_ids"]) <= 50
    assert len(chunks) == pytest.approx(len(token_spans(text, tokenizer)) / 40, abs=1.5)


def test_a_document_longer_than_the_model_window_is_cut_to_fit_it():
    from labkit.retrieval.chunk import default_tokenizer

    tokenizer = default_tokenizer("minilm-l6")
    long_doc = doc(" ".join(f"Sentence {i} mentions firmware QX-{i} and the refund rules." for i in range(300)))
    assert len(token_spans(long_doc.text, tokenizer)) > 10 * 256
    for chunks in (chunk_documents([long_doc], ChunkConfig(), tokenizer, progress=False),
                   chunk_documents([long_doc], ChunkConfig("window"), tokenizer, progress=False)):
        assert all(len(tokenizer(c.text)["input_ids"]) <= 256 for c in chunks)  # fits MiniLM, markers included
        assert chunks[0].text.startswith("Sentence 0 ") and chunks[-1].text.endswith("QX-299 and the refund rules.")
