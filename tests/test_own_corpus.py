"""Tests for labkit.course.own: a learner's own documents as a Corpus (here, a bicycle-repair shop's wiki)."""
import json
import random

import pytest

from labkit.cli import main
from labkit.course.own import EVERYONE, OwnConfig, own_corpus, question_template, read_documents
from labkit.course.sample import heldout_sample
from labkit.errors import LabkitError
from labkit.ladder.ft import FactsConfig, fact_sets
from labkit.tuning.raft import training_records

WIKI = {
    "services/brake-bleed.md": "---\ntitle: Hydraulic brake bleed\naccess: public\nversion: 1\n"
                               "effective: 2024-03-01\n---\nA hydraulic brake bleed costs 45 euros and takes "
                               "40 minutes per brake.",
    "services/wheel-truing.md": "# Wheel truing\n\nTruing a wheel costs 18 euros. A broken spoke is replaced for "
                                "4 euros a spoke.",
    "policies/warranty.md": "# Workshop warranty\nLabour is guaranteed for 90 days. Keep work order WO-1042 "
                            "style receipts.",
    "hours.txt": "The shop opens at 9:00 on weekdays and at 10:00 on Saturdays.",
    "staff/opening-checklist.md": "---\naccess: staff\n---\n# Opening checklist\nDrain the compressor every "
                                  "Friday. The alarm panel is behind the tyre rack.",
    "staff/suppliers.txt": "---\naccess: staff\nowner: Mara\n---\nOur tyre supplier is Velotra. Orders placed "
                           "before 14:00 arrive the next day.",
}
UPDATE = {
    "services/brake-bleed.md": "---\nversion: 2\neffective: 2025-01-15\n---\nA hydraulic brake bleed now costs "
                               "50 euros and takes 40 minutes per brake.",
    "services/e-bike-diagnostics.md": "# E-bike diagnostics\nA motor and battery check costs 30 euros.",
}
ROLES = {"customer": ["public"], "mechanic": ["public", "staff"], "owner": ["public", "staff"]}
QUESTIONS = [
    {"id": "bleed-price", "question": "What does a brake bleed cost?", "answers": ["45 euros", "45"],
     "answers_after_update": ["50 euros", "50"], "doc_id": "services/brake-bleed"},
    {"id": "bleed-time", "question": "How long does a brake bleed take?", "answers": ["40 minutes"],
     "doc_id": "services/brake-bleed", "paraphrases": ["How many minutes is one brake bled for?"]},
    {"question": "What does truing a wheel cost?", "answers": ["18 euros", "18"], "doc_id": "services/wheel-truing",
     "paraphrases": ["How much is a wheel true?"]},
    {"question": "What does a replacement spoke cost?", "answers": ["4 euros"], "doc_id": "services/wheel-truing",
     "paraphrases": ["How much is one new spoke?"]},
    {"question": "How long is labour guaranteed?", "answers": ["90 days"], "doc_id": "policies/warranty",
     "paraphrases": ["For how many days is the workshop's labour under warranty?"]},
    {"question": "When does the shop open on Saturdays?", "answers": ["10:00"], "doc_id": "hours",
     "paraphrases": ["What time do you open on a Saturday?"]},
    {"question": "When does the shop open on weekdays?", "answers": ["9:00"], "doc_id": "hours",
     "paraphrases": ["What is the weekday opening time?"]},
    {"question": "When is the compressor drained?", "answers": ["Friday"], "doc_id": "staff/opening-checklist",
     "role": "mechanic", "paraphrases": ["Which day do we drain the compressor?"]},
    {"question": "Who supplies our tyres?", "answers": ["Velotra"], "doc_id": "staff/suppliers",
     "paraphrases": ["Which company do tyres come from?"]},
    {"question": "What is the order cut-off for next-day tyres?", "answers": ["14:00"], "doc_id": "staff/suppliers",
     "paraphrases": ["By when must a tyre order be placed to arrive tomorrow?"]},
    {"question": "Do you sell unicycles?", "answerable": False},
    {"question": "What is the owner's birthday?", "answerable": False, "role": "customer"},
]


def write_tree(root, files: dict):
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def shop(tmp_path):
    """Paths of the whole example: documents, questions, roles, update."""
    write_tree(tmp_path / "spokewise", WIKI)
    write_tree(tmp_path / "update", UPDATE)
    (tmp_path / "roles.json").write_text(json.dumps(ROLES))
    write_jsonl(tmp_path / "questions.jsonl", QUESTIONS)
    return {"docs": tmp_path / "spokewise", "questions": tmp_path / "questions.jsonl",
            "roles": tmp_path / "roles.json", "update": tmp_path / "update"}


@pytest.fixture
def corpus(shop):
    return own_corpus(**shop, config=OwnConfig(id_patterns=(r"\bWO-\d{4}\b",)))


def error_of(call, *args, **kwargs) -> str:
    with pytest.raises(LabkitError) as caught:
        call(*args, **kwargs)
    assert caught.value.fix, "every error says how to fix it"
    return caught.value.problem


# --- the happy path -------------------------------------------------------------------------------------------


def test_documents_get_ids_titles_access_and_versions(corpus):
    docs = {d.doc_id: d for d in corpus.documents("v1")}
    assert corpus.name == "spokewise"
    assert sorted(docs) == ["hours", "policies/warranty", "services/brake-bleed", "services/wheel-truing",
                            "staff/opening-checklist", "staff/suppliers"]
    bleed = docs["services/brake-bleed"]
    assert (bleed.title, bleed.access, bleed.doc_version, bleed.effective_date) == (
        "Hydraulic brake bleed", "public", 1, "2024-03-01")
    assert not bleed.text.startswith("---"), "the front matter is not part of the text"
    assert docs["services/wheel-truing"].title == "Wheel truing"  # the first heading
    assert docs["hours"].title == "hours"  # no heading: the stem
    assert docs["staff/suppliers"].access == "staff" and docs["staff/suppliers"].meta["owner"] == "Mara"
    assert docs["staff/suppliers"].meta["source"].endswith("suppliers.txt")


def test_the_update_makes_v2_and_keeps_what_a_changed_document_does_not_say(corpus):
    v2 = {d.doc_id: d for d in corpus.documents("v2")}
    assert corpus.changed_doc_ids == ("services/brake-bleed", "services/e-bike-diagnostics")
    bleed = v2["services/brake-bleed"]
    assert "50 euros" in bleed.text and bleed.doc_version == 2 and bleed.effective_date == "2025-01-15"
    assert (bleed.title, bleed.access) == ("Hydraulic brake bleed", "public")  # kept from v1
    assert len(v2) == len(corpus.documents("v1")) + 1
    assert [d.doc_id for d in corpus.changed_documents()] == list(corpus.changed_doc_ids)
    assert "45 euros" in {d.doc_id: d for d in corpus.documents("v1")}["services/brake-bleed"].text


def test_roles_and_the_question_sets(corpus):
    assert corpus.roles == {"customer": ("public",), "mechanic": ("public", "staff"), "owner": ("public", "staff")}
    facts, updates = corpus.questions("facts"), corpus.questions("updates")
    assert len([r for r in facts if r.extra["phrasing"] == 0]) == 9
    assert len(facts) == 18  # each fact with one paraphrase
    assert [r.id for r in updates] == ["bleed-price"] and "bleed-price" not in {r.extra["fact_id"] for r in facts}
    (update,) = updates
    assert update.answers == ("50 euros", "50") and update.extra["answers_v1"] == ["45 euros", "45"]
    assert update.corpus_version == "v2" and update.gold_doc_ids == ("services/brake-bleed",)
    assert "45 euros" in corpus.competing(update)
    unanswerable = corpus.questions("unanswerable")
    assert [r.answerable for r in unanswerable] == [False, False] and unanswerable[1].extra["role"] == "customer"
    assert [r.id for r in corpus.questions("restricted")] == ["q008-restricted", "q009-restricted", "q010-restricted"]
    assert all(r.extra["denied_roles"] == ["customer"] for r in corpus.questions("restricted"))
    assert "WO-1042" in corpus.known_ids


def test_the_split_is_seeded_and_never_mixes_a_fact(shop):
    def split(seed):
        corpus = own_corpus(**shop, config=OwnConfig(seed=seed))
        return {r.id: r.extra["split"] for r in corpus.questions("facts")}, corpus

    first, corpus = split(0)
    assert first == split(0)[0], "the same seed draws the same split"
    assert any(split(seed)[0] != first for seed in range(1, 6)), "another seed draws another split"
    by_fact = {}
    for r in corpus.questions("facts"):
        by_fact.setdefault(r.extra["fact_id"], set()).add((r.extra["phrasing"], r.extra["split"]))
    for phrasings in by_fact.values():
        assert phrasings in ({(0, "train"), (1, "heldout_paraphrase")},
                             {(0, "heldout_unseen"), (1, "heldout_unseen")})
    trained = [f for f, p in by_fact.items() if (0, "train") in p]
    assert len(trained) == 5  # half of 9 facts, rounded up
    assert all(r.extra["field"] == r.extra["fact_id"] for r in corpus.questions("facts"))


def test_the_ladder_reads_what_it_needs(corpus):
    held = heldout_sample(corpus, 8, random.Random(0))
    assert {r.extra["split"] for r in held.facts} == {"heldout_unseen", "heldout_paraphrase"}
    assert len(held.facts) == 8 and len(held.unanswerable) == 2 and held.format_tasks == []
    mechanic, customer = corpus.train_facts("mechanic"), corpus.train_facts("customer")
    assert len(mechanic) == 5 and {r.extra["split"] for r in mechanic} == {"train"}
    assert customer == [r for r in mechanic if not r.gold_doc_ids[0].startswith("staff/")]
    sets = fact_sets(corpus, FactsConfig(ticket_facts=0, other_facts=3, known_in_training=0, per_set=1),
                     random.Random(0))
    assert len(sets.examples) == 3 + 1  # three trained facts, the update's v1 value
    split_of = {r.id: r.extra["split"] for r in corpus.questions("facts")}
    assert [split_of[r.id] for r in sets.trained + sets.paraphrased + sets.unseen] == [
        "train", "heldout_paraphrase", "heldout_unseen"]
    assert {r.extra["fact_id"] for r in sets.trained + sets.paraphrased}.isdisjoint(
        r.extra["fact_id"] for r in sets.unseen)
    records = training_records(corpus, random.Random(0), 5, role="mechanic")
    assert {r.extra["split"] for r in records} == {"train"} and len({r.id for r in records}) == 5


def test_without_roles_one_role_reads_every_label_and_jsonl_documents_load(tmp_path):
    docs = write_jsonl(tmp_path / "docs.jsonl", [{"id": "a", "title": "A", "text": "alpha"},
                                                 {"id": "b", "text": "# Bee\nbeta", "access": "staff"}])
    corpus = own_corpus(docs)
    assert corpus.name == "docs" and corpus.roles == {EVERYONE: ("public", "staff")}
    assert [(d.doc_id, d.title, d.access) for d in corpus.documents()] == [("a", "A", "public"), ("b", "Bee", "staff")]
    assert corpus.questions("facts") == [] and "v2" not in corpus.versions


def test_a_large_file_is_read_whole(tmp_path):
    write_tree(tmp_path / "big", {"manual.md": "# Manual\n" + "Tighten to 5 Nm. " * 200_000})
    (doc,) = read_documents(tmp_path / "big")
    assert len(doc.text) > 3_000_000


# --- bad input: a LabkitError naming the file (and line) and the problem --------------------------------------


def test_bad_document_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    assert "is empty" in error_of(read_documents, tmp_path / "empty")
    write_tree(tmp_path / "pdfs", {"manual.pdf": "%PDF"})
    assert "holds no .md or .txt files (found: .pdf)" in error_of(read_documents, tmp_path / "pdfs")
    assert "does not exist" in error_of(read_documents, tmp_path / "nowhere")
    write_tree(tmp_path / "blank", {"a.md": "ok", "b.md": ""})
    problem = error_of(read_documents, tmp_path / "blank")
    assert "b.md is empty" in problem
    write_tree(tmp_path / "only-front", {"a.md": "---\naccess: staff\n---\n\n"})
    assert "a.md: document 'a' has no text" in error_of(read_documents, tmp_path / "only-front")
    (tmp_path / "latin").mkdir()
    (tmp_path / "latin" / "menu.txt").write_bytes("Caf\u00e9 cr\u00e8me".encode("latin-1"))
    assert "menu.txt is not UTF-8 text (byte 3" in error_of(read_documents, tmp_path / "latin")
    write_tree(tmp_path / "twice", {"brakes.md": "one", "brakes.txt": "two"})
    problem = error_of(read_documents, tmp_path / "twice")
    assert "brakes.txt: document id 'brakes' repeats" in problem and "brakes.md" in problem


def test_bad_front_matter(tmp_path):
    write_tree(tmp_path / "open", {"a.md": "---\ntitle: A\nno end"})
    problem = error_of(read_documents, tmp_path / "open")
    assert "a.md: the front matter opened by '---' on line 1 is never closed" in problem
    write_tree(tmp_path / "junk", {"a.md": "---\ntitle: A\njust words\n---\ntext"})
    assert "a.md line 3: front matter line 'just words' is not 'key: value'" in error_of(
        read_documents, tmp_path / "junk")
    write_tree(tmp_path / "version", {"a.md": "---\nversion: two\n---\ntext"})
    assert "version 'two' is not a whole number" in error_of(read_documents, tmp_path / "version")
    write_tree(tmp_path / "date", {"a.md": "---\neffective: 1 March\n---\ntext"})
    assert "effective date '1 March' is not YYYY-MM-DD" in error_of(read_documents, tmp_path / "date")


def test_bad_jsonl_lines(tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"id": "a", "text": "alpha"}\n{"id": "b", "text": "be\n')
    assert f"{docs} line 2: not valid JSON" in error_of(read_documents, docs)
    docs.write_text('{"id": "a", "text": "alpha"}\n\n["a", "list"]\n')
    assert f"{docs} line 3: a line must be a JSON object" in error_of(read_documents, docs)
    docs.write_text('{"id": "a", "text": "alpha"}\n{"id": "a", "text": "again"}\n')
    assert f"{docs} line 2: document id 'a' repeats {docs} line 1" in error_of(read_documents, docs)
    docs.write_text('{"id": "a"}\n')
    assert f"{docs} line 1: 'text' must be non-empty text" in error_of(read_documents, docs)
    docs.write_text("\n\n")
    assert "is empty" in error_of(read_documents, docs)


def test_bad_questions(shop):
    def problem(*rows, **paths):
        write_jsonl(shop["questions"], [QUESTIONS[1], *rows])
        return error_of(own_corpus, **{**shop, **paths})

    where = f"{shop['questions']} line 2"
    assert f"{where}: doc_id 'services/tyres' names no document" in problem(
        {"question": "Tyres?", "answers": ["yes"], "doc_id": "services/tyres"})
    assert f"{where}: role 'boss' is not a role of this corpus" in problem(
        {"question": "Tyres?", "answers": ["yes"], "role": "boss"})
    assert f"{where}: an answerable question needs at least one value in 'answers'" in problem(
        {"question": "Tyres?", "answers": []})
    assert f"{where}: 'answers' must be a list of texts" in problem({"question": "Tyres?", "answers": "yes"})
    assert f"{where}: 'question' must be non-empty text" in problem({"answers": ["yes"]})
    assert f"{where}: 'answerable' must be true or false" in problem({"question": "Tyres?", "answerable": "no"})
    assert f"{where}: 'answers_after_update' is given, but there is no update" in problem(
        {"question": "Tyres?", "answers": ["a"], "answers_after_update": ["b"]}, update=None)
    assert f"{where}: question id 'bleed-time' repeats {shop['questions']} line 1" in problem(QUESTIONS[1])
    shop["questions"].write_text(json.dumps(QUESTIONS[1]) + "\n" + json.dumps(QUESTIONS[2])[:30] + "\n")
    assert f"{where}: not valid JSON" in error_of(own_corpus, **shop)
    shop["questions"].write_text("")
    assert f"{shop['questions']} is empty" in error_of(own_corpus, **shop)


def test_bad_roles(shop):
    for text in ('["customer", "staff"]', '{"customer": "public"}', "{}", '{"customer": [1]}'):
        shop["roles"].write_text(text)
        assert f"{shop['roles']}: must be a JSON object of lists" in error_of(own_corpus, **shop)
    shop["roles"].write_text('{"customer": ["public"],')
    assert f"{shop['roles']}: not valid JSON" in error_of(own_corpus, **shop)
    shop["roles"].write_text('{"customer": ["public"]}')
    problem = error_of(own_corpus, **shop)
    assert "has access 'staff', which no role in" in problem and "opening-checklist.md" in problem


def test_bad_config():
    assert "train_share 0 is not a share" in error_of(OwnConfig, train_share=0)
    assert "is not a regular expression" in error_of(OwnConfig, id_patterns=("WO-(",))


# --- python -m labkit questions --template DOCS ---------------------------------------------------------------


def test_the_template_command_writes_a_starter_file_once(shop, tmp_path, capsys):
    out = tmp_path / "mine" / "questions.jsonl"
    assert main(["questions", "--template", str(shop["docs"]), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(WIKI) + 1 and rows[-1]["answerable"] is False
    assert '"Hydraulic brake bleed"' in rows[[r.get("doc_id") for r in rows].index("services/brake-bleed")]["question"]
    assert out.read_text() == question_template(shop["docs"])
    assert "line 1: an answerable question needs at least one value" in error_of(own_corpus, shop["docs"], out)

    before = out.read_text()
    assert main(["questions", "--template", str(shop["docs"]), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"labkit: {out} already exists") and "fix:" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 2  # the problem, then the fix
    assert out.read_text() == before, "an existing file is never overwritten"


def test_the_template_command_writes_nothing_for_bad_documents(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "questions.jsonl"
    assert main(["questions", "--template", str(tmp_path / "empty"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is empty" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == [tmp_path / "empty"], "no file, not even a temporary one"
