"""Tests for labkit.course.data: determinism, counts, gold answers, access labels, validation."""
import hashlib
import json
import random
import re
import shutil

import jsonschema
import pytest

from labkit import evals
from labkit.errors import LabkitError
from labkit.course import build, data, known, pages

DATA = data.DEFAULT_DATA_DIR


@pytest.fixture(scope="module")
def corpus():
    return {v: {d.doc_id: d for d in data.load_corpus(v, DATA)} for v in ("v1", "v2")}


@pytest.fixture(scope="module")
def qa():
    return {name: data.load_qa(name, DATA) for name in data.QA_FILES}


def _copy(tmp_path):
    dst = tmp_path / "data"
    shutil.copytree(DATA, dst)
    return dst


def _rewrite(folder, rel, content: bytes, update_manifest: bool):
    (folder / rel).write_bytes(content)
    if update_manifest:
        manifest = json.loads((folder / "MANIFEST.json").read_text())
        manifest["files"][rel]["sha256"] = hashlib.sha256(content).hexdigest()
        (folder / "MANIFEST.json").write_text(json.dumps(manifest))


# ---- determinism and sync -------------------------------------------------------------------
def test_generate_twice_is_byte_identical(tmp_path):
    a, b = build.generate(tmp_path / "a"), build.generate(tmp_path / "b")
    assert a == b
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) > 20
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert not list(tmp_path.glob(".*")), "temporary sibling folder left behind"


def test_committed_data_is_in_sync():
    assert build.check(DATA) == []


def test_check_names_differences(tmp_path):
    folder = build.generate(tmp_path / "d") and tmp_path / "d"
    (folder / "qa_facts.jsonl").write_text("{}\n")
    (folder / "pages" / "v1" / "wiki-returns.md").unlink()
    (folder / "stray.txt").write_text("x")
    diffs = build.check(folder)
    assert "differs: qa_facts.jsonl" in diffs
    assert "missing: pages/v1/wiki-returns.md" in diffs
    assert "unexpected: stray.txt" in diffs


def test_snapshot_is_small_and_utf8():
    files = [p for p in DATA.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 2_000_000
    for p in files:
        raw = p.read_bytes()
        raw.decode("utf-8")
        assert b"\r\n" not in raw and raw.endswith(b"\n"), p


# ---- counts, identifiers --------------------------------------------------------------------
def test_counts_meet_minimums(corpus, qa):
    docs = list(corpus["v1"].values())
    kinds = [d.kind for d in docs]
    assert 12 <= kinds.count("wiki") <= 20
    assert kinds.count("style") == 1
    assert kinds.count("product") >= 40
    assert kinds.count("ticket") >= 150
    assert len(data.load_changelog(DATA)) >= 30
    assert len({r.extra["fact_id"] for r in qa["facts"]}) >= 300
    assert len(qa["updates"]) >= 30
    assert len(qa["unanswerable"]) >= 40
    assert len(qa["restricted"]) >= 20
    assert len(qa["format_tasks"]) >= 150
    assert len(qa["general"]) >= 100
    assert any(r.extra["field"] == "ticket_id" for r in qa["facts"])


def test_ids_unique_and_patterns(corpus, qa):
    for version in ("v1", "v2"):
        assert len(corpus[version]) == len(data.load_corpus(version, DATA))
    assert list(corpus["v1"]) == list(corpus["v2"])
    all_ids = [r.id for recs in qa.values() for r in recs]
    assert len(all_ids) == len(set(all_ids))
    tickets = [d for d in corpus["v1"].values() if d.kind == "ticket"]
    for d in tickets:
        assert re.fullmatch(data.TICKET_ID_PATTERN, d.meta["ticket_id"])
        assert d.doc_id == f"ticket-{d.meta['ticket_id']}"
    for d in corpus["v1"].values():
        if d.kind == "product":
            assert re.fullmatch(data.PRODUCT_CODE_PATTERN, d.meta["product_code"])
        assert d.text.startswith(f"# {d.title}\n") and "\n## " in d.text
    for task in data.load_format_tasks(DATA):
        assert re.fullmatch(data.TICKET_ID_PATTERN, task.ticket_id)
        assert f"ticket-{task.ticket_id}" not in corpus["v1"]   # new incoming tickets
    # every identifier in the corpus text follows the one pattern
    text = "\n".join(d.text for d in tickets)
    assert set(re.findall(r"TCK-[\d-]+", text)) == set(re.findall(data.TICKET_ID_PATTERN, text))


def test_every_label_used_and_restricted_only_facts_exist(corpus):
    labels = {d.access for d in corpus["v1"].values()}
    assert labels == set(data.ACCESS_LABELS)


# ---- gold answers ---------------------------------------------------------------------------
def _gold_in_docs(golds, doc_ids, docs):
    return any(evals.answer_matches(docs[d].text, golds) for d in doc_ids)


@pytest.mark.parametrize("name", ["facts", "restricted"])
def test_gold_answers_occur_in_gold_docs(name, qa, corpus):
    for r in qa[name]:
        assert r.gold_doc_ids, r.id
        assert _gold_in_docs([r.canonical], r.gold_doc_ids, corpus[r.corpus_version]), r.id


def test_fact_answers_hold_in_both_versions(qa, corpus):
    for r in qa["facts"]:
        assert _gold_in_docs([r.canonical], r.gold_doc_ids, corpus["v2"]), r.id


def test_fact_questions_identify_one_doc(qa, corpus):
    """Ticket-ID questions name a product and a symptom that only one ticket has."""
    for r in qa["facts"]:
        if r.extra["field"] == "ticket_id" and r.extra["phrasing"] == 0:
            symptom, code = re.fullmatch(r"Which ticket reported (.+) on the (QM-\d{4})\?", r.question).groups()
            hits = [d for d in corpus["v1"].values() if d.kind == "ticket" and d.title.endswith(f"{symptom} on {code}")]
            assert [d.doc_id for d in hits] == list(r.gold_doc_ids), r.id


def test_update_answers(qa, corpus):
    changes = {c.change_id: c for c in data.load_changelog(DATA)}
    assert len(changes) == len(qa["updates"])
    for r in qa["updates"]:
        (doc,) = r.gold_doc_ids
        assert list(r.answers) == r.extra["answers_v2"]
        assert _gold_in_docs(r.extra["answers_v1"][:1], [doc], corpus["v1"]), r.id
        assert _gold_in_docs(r.extra["answers_v2"][:1], [doc], corpus["v2"]), r.id
        assert not _gold_in_docs(r.extra["answers_v1"][:1], [doc], corpus["v2"]), r.id
        c = changes[r.extra["change_id"]]
        assert (c.old_value, c.new_value) == (r.extra["answers_v1"][0], r.extra["answers_v2"][0])


def test_v2_is_v1_with_changes_applied(corpus):
    changed = {c.doc_id for c in data.load_changelog(DATA)}
    for doc_id, d1 in corpus["v1"].items():
        d2 = corpus["v2"][doc_id]
        if doc_id in changed:
            assert d2.text != d1.text and d2.doc_version == d1.doc_version + 1
            assert d2.effective_date > d1.effective_date
        else:
            assert d2 == d1
    for c in data.load_changelog(DATA):
        assert corpus["v2"][c.doc_id].effective_date >= c.date


def test_probe_terms_occur_nowhere(qa, corpus):
    text = "\n".join(d.title + "\n" + d.text for v in corpus.values() for d in v.values()).lower()
    for r in qa["unanswerable"]:
        assert r.answers == ("abstain",) and r.answer_type == "abstain" and r.gold_doc_ids == ()
        for term in r.extra["probe_terms"]:
            assert term.lower() not in text, (r.id, term)


def test_restricted_labels(qa, corpus):
    roles = {u.role: u for u in data.load_users(DATA)}
    normalized = {(v, d.doc_id): (d.access, f" {evals.normalize_answer(d.text)} ")
                  for v in corpus for d in corpus[v].values()}
    for r in qa["restricted"]:
        assert r.extra["denied_roles"] and r.extra["allowed_roles"]
        for doc_id in r.gold_doc_ids:
            label = corpus[r.corpus_version][doc_id].access
            assert label in data.RESTRICTED_LABELS
            assert all(not roles[x].can_read(label) for x in r.extra["denied_roles"]), r.id
            assert all(roles[x].can_read(label) for x in r.extra["allowed_roles"]), r.id
        # the answer is nowhere a denied role can read, in either version
        visible = {label for x in r.extra["denied_roles"] for label in roles[x].labels}
        gold = f" {evals.normalize_answer(r.canonical)} "
        assert not [d for d, (label, text) in normalized.items() if label in visible and gold in text], r.id
    # restricted facts are not asked in the open fact set
    open_labels = {corpus["v1"][d].access for r in qa["facts"] for d in r.gold_doc_ids}
    assert open_labels <= {"public", "staff"}


def test_format_targets_follow_house_style(corpus):
    schema = data.load_reply_schema(DATA)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema == pages.reply_schema()
    tasks = data.load_format_tasks(DATA)
    for t in tasks:
        jsonschema.validate(t.target, schema)
        assert t.target["sign_off"] == data.SIGN_OFF and t.target["ticket_id"] == t.ticket_id
        reply = json.dumps(t.target).lower()
        assert not [p for p in data.FORBIDDEN_PHRASES if p in reply], t.id
        assert f"prod-{t.product_code}" in corpus["v1"]
    assert len({t.message for t in tasks}) == len(tasks)
    heldout = sum(t.split == "heldout" for t in tasks) / len(tasks)
    assert 0.25 <= heldout <= 0.35
    style = corpus["v1"]["style-guide"]
    assert data.SIGN_OFF in style.text and all(p in style.text for p in data.FORBIDDEN_PHRASES)


def test_fact_split(qa):
    facts = qa["facts"]
    by_fact = {}
    for r in facts:
        by_fact.setdefault(r.extra["fact_id"], []).append(r)
    assert all(sorted(x.extra["phrasing"] for x in rs) == [0, 1, 2] for rs in by_fact.values())
    trained = {r.extra["fact_id"] for r in facts if r.extra["split"] == "train"}
    paraphrase = {r.extra["fact_id"] for r in facts if r.extra["split"] == "heldout_paraphrase"}
    unseen = {r.extra["fact_id"] for r in facts if r.extra["split"] == "heldout_unseen"}
    assert paraphrase == trained and not unseen & trained
    assert trained | unseen == set(by_fact)
    assert 0.55 <= len(trained) / len(by_fact) <= 0.65
    for r in facts:
        if r.extra["split"] == "heldout_paraphrase":
            assert r.extra["phrasing"] == 2


def test_general_has_no_known_field(qa):
    assert all("known" not in r.extra for r in qa["general"])
    assert all(r.answer_type == "value" for r in qa["general"])


def test_users(tmp_path):
    users = data.load_users(DATA)
    assert {u.role for u in users} == set(data.ROLE_LABELS)
    admin = next(u for u in users if u.role == "admin")
    assert set(admin.labels) == set(data.ACCESS_LABELS)
    customer = next(u for u in users if u.role == "customer")
    assert customer.labels == ("public",)


# ---- normalisation and split_known ----------------------------------------------------------
def test_answer_matches():
    assert evals.normalize_answer("The  Price: $1,249.00!") == "price 1249 00"
    assert evals.answer_matches("It costs $149.00 now.", ["$149.00"])
    assert evals.answer_matches("149 dollars", ["$149.00", "149"])
    assert not evals.answer_matches("1149 dollars", ["149"])
    assert evals.answer_matches("Firmware v4.2.1", ["4.2.1", "v4.2.1"])
    assert not evals.answer_matches("4.2.10", ["4.2.1"])
    assert evals.answer_matches("ticket tck-2024-00417.", ["TCK-2024-00417"])
    assert not evals.answer_matches("anything", [""])


def test_split_known_with_fake_model():
    records = [{"id": i, "question": q, "answers": ["yes"]} for i, q in
               (("a", "always"), ("b", "greedy-mostly"), ("c", "greedy-rarely"), ("d", "samples-only"), ("e", "never"))]

    def answer(question, sample, rng):
        if question == "always":
            return "yes"
        if question == "greedy-mostly":
            return "no" if sample and rng.random() < 0.25 else "yes"
        if question == "greedy-rarely":
            return "no" if sample and rng.random() < 0.9 else "yes"
        if question == "samples-only":
            return "yes" if sample and rng.random() < 0.5 else "no"
        return "no"

    out = known.split_known(records, answer, 40, random.Random(0))
    recs = out["records"]
    assert [recs[k]["category"] for k in "abcde"] == [
        "HighlyKnown", "MaybeKnown", "MaybeKnown", "WeaklyKnown", "Unknown"]
    assert [recs[k]["known"] for k in "abcde"] == [True, True, False, False, False]
    assert out["n_known"] == 2 and sum(out["counts"].values()) == 5
    again = known.split_known(records, answer, 40, random.Random(0))
    assert again == out
    json.dumps(out)   # storable


def test_general_known_roundtrip(tmp_path):
    folder = tmp_path / "data"
    build.generate(folder)  # a fresh generation has no measurement yet
    assert data.load_general_known(folder) is None
    measured = known.split_known(data.load_qa("general", folder)[:3], lambda q, s, r: "no", 2, random.Random(1))
    build.write_general_known(measured, folder)
    assert data.load_general_known(folder) == measured
    assert "general_known.json" in json.loads((folder / "MANIFEST.json").read_text())["files"]
    assert "general_known.json" in (folder / "README.md").read_text()
    assert build.check(folder) == []              # kept, never regenerated
    build.generate(folder)
    assert data.load_general_known(folder) == measured


# ---- validation of a damaged data folder ----------------------------------------------------
def test_corrupted_line_names_file_line_and_field(tmp_path):
    folder = _copy(tmp_path)
    lines = (folder / "qa_facts.jsonl").read_text().splitlines(keepends=True)
    rec = json.loads(lines[16])
    rec["answers"] = []
    lines[16] = json.dumps(rec) + "\n"
    _rewrite(folder, "qa_facts.jsonl", "".join(lines).encode(), update_manifest=True)
    with pytest.raises(data.DataError, match=r"qa_facts\.jsonl line 17: field 'answers' must be a non-empty list"):
        data.load_qa("facts", folder)


def test_invalid_json_and_nested_field(tmp_path):
    folder = _copy(tmp_path)
    lines = (folder / "format_tasks.jsonl").read_text().splitlines(keepends=True)
    rec = json.loads(lines[2])
    del rec["input"]["ticket_id"]
    lines[2] = json.dumps(rec) + "\n"
    lines[4] = lines[4][:40] + "\n"
    _rewrite(folder, "format_tasks.jsonl", "".join(lines).encode(), update_manifest=True)
    with pytest.raises(data.DataError, match=r"line 3: field 'input\.ticket_id' is missing"):
        data.load_format_tasks(folder)
    lines[2] = json.dumps(json.loads(lines[1])) + "\n"  # fix line 3, keep broken line 5 (and a duplicate id)
    _rewrite(folder, "format_tasks.jsonl", "".join(lines).encode(), update_manifest=True)
    with pytest.raises(data.DataError, match=r"format_tasks\.jsonl line 3: field 'id' repeats line 2"):
        data.load_format_tasks(folder)


def test_changed_bytes_are_detected(tmp_path):
    folder = _copy(tmp_path)
    content = (folder / "corpus_v2.jsonl").read_bytes()
    _rewrite(folder, "corpus_v2.jsonl", content[: len(content) // 2], update_manifest=False)
    with pytest.raises(data.DataError, match=r"corpus_v2\.jsonl does not match MANIFEST\.json") as err:
        data.load_corpus("v2", folder)
    fix = str(err.value)
    assert "python -m labkit data --write" in fix and "git checkout labkit/course/quillmoor/" in fix
    assert data.load_corpus("v1", folder)       # an intact file still loads
    with pytest.raises(data.DataError, match="corpus_v2.jsonl"):
        data.verify(folder)


def test_missing_file_and_manifest_are_named(tmp_path):
    folder = _copy(tmp_path)
    (folder / "changelog.jsonl").unlink()
    with pytest.raises(data.DataError, match=r"changelog\.jsonl is missing"):
        data.load_changelog(folder)
    (folder / "MANIFEST.json").unlink()
    with pytest.raises(data.DataError, match=r"MANIFEST\.json is missing"):
        data.load_users(folder)


def test_env_var_and_unknown_names(tmp_path, monkeypatch):
    folder = _copy(tmp_path)
    monkeypatch.setenv("LABKIT_DATA_DIR", str(folder))
    assert data.resolve_data_dir() == folder
    assert data.load_qa("qa_unanswerable.jsonl")[0].set_name == "unanswerable"
    with pytest.raises(data.DataError, match="unknown QA set"):
        data.load_qa("trivia")
    with pytest.raises(data.DataError, match="unknown corpus version"):
        data.load_corpus("v3")


# ---- the corpus as one value ------------------------------------------------------------------
def test_the_course_corpus_is_the_data_folder_as_one_value(corpus, qa):
    from labkit.course.corpus import course_corpus

    course = course_corpus()
    assert course is course_corpus(DATA)  # read once per folder
    assert [d.doc_id for d in course.documents("v1")] == list(corpus["v1"])
    assert course.documents("v2") == list(corpus["v2"].values())
    for name in ("facts", "updates", "unanswerable", "restricted", "general"):
        assert [r.id for r in course.questions(name)] == [r.id for r in qa[name]], name
    assert set(course.changed_doc_ids) == {c.doc_id for c in data.load_changelog(DATA)}
    assert [d.text for d in course.changed_documents()] == [corpus["v2"][d].text for d in course.changed_doc_ids]
    assert len(course.tasks()) == len(qa["format_tasks"]) and {t.split for t in course.tasks("heldout")} == {"heldout"}
    ticket = next(d for d in corpus["v1"].values() if d.kind == "ticket").meta["ticket_id"]
    assert ticket in course.known_ids and "TCK-2099-99999" not in course.known_ids
    with pytest.raises(LabkitError, match="no version"):
        course.documents("v3")
    with pytest.raises(LabkitError, match="unknown question set"):
        course.questions("trivia")


def test_a_record_is_answerable_unless_its_right_reply_is_to_abstain(qa):
    for name, records in qa.items():
        if name == "format_tasks":
            continue
        assert all(r.answerable == (r.set_name != "unanswerable") for r in records), name
        assert all(r.answerable == (r.answer_type != "abstain") for r in records), name
    assert not any(r.answerable for r in qa["unanswerable"]) and all(r.answerable for r in qa["facts"])
