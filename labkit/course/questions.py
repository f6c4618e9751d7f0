"""The course's question sets, drawn from a world's facts: facts, updates, unanswerable, restricted,
format tasks and the general-knowledge set.

Each ``build_*`` returns plain records (dicts) that :mod:`labkit.course.build` writes as JSONL;
:mod:`labkit.course.data` reads them back as :class:`labkit.course.data.QARecord`.

>>> from labkit.course.world import DataConfig, all_facts, build_worlds
>>> v1, _, changes, values = build_worlds(DataConfig())
>>> records = build_qa_facts(DataConfig(), select_facts(DataConfig(), all_facts(v1), set()))
>>> sorted({r["split"] for r in records})
['heldout_paraphrase', 'heldout_unseen', 'train']
>>> len(build_general(DataConfig())) > 100
True
"""

from __future__ import annotations

import json
import random
from typing import Any

from labkit.course.data import RESTRICTED_LABELS, ROLE_LABELS, SIGN_OFF, Change, Document
from labkit.course.world import SYMPTOMS, DataConfig, Fact, Symptom, rng_for
from labkit.evals import normalize_answer


# --------------------------------------------------------------------------------------------
# QA sets
# --------------------------------------------------------------------------------------------
FACT_QUOTAS = {"price": 30, "firmware": 30, "release_date": 25, "stock": 40, "ticket_id": 60,
               "team": 45, "opened": 25, "closed": 20, "resolution": 25}   # plus every open wiki fact


def _qa(rid: str, question: str, answers: list[str], answer_type: str, gold: list[str],
        version: str, **extra: Any) -> dict:
    return {"id": rid, "question": question, "answers": answers, "answer_type": answer_type,
            "gold_doc_ids": gold, "corpus_version": version, **extra}


def select_facts(config: DataConfig, facts: list[Fact], changed_keys: set[str]) -> list[Fact]:
    """Open (public/staff) facts that the change log leaves alone: every wiki fact plus quotas."""
    rng = rng_for(config, "facts")
    pool = [f for f in facts if f.access in ("public", "staff") and f.key not in changed_keys]
    chosen = [f for f in pool if f.doc_id.startswith(("wiki-", "style-"))]
    for fld, quota in FACT_QUOTAS.items():
        group = [f for f in pool if f.field == fld and not f.doc_id.startswith("wiki-")]
        chosen += rng.sample(group, min(quota, len(group)))
    return chosen


def build_qa_facts(config: DataConfig, chosen: list[Fact]) -> list[dict]:
    rng = rng_for(config, "split")
    order = rng.sample(range(len(chosen)), len(chosen))
    trained = set(order[: round(config.trained_fraction * len(chosen))])
    records = []
    for i, f in enumerate(chosen):
        fact_id = f"fact-{i + 1:04d}"
        for phr, question in enumerate(f.questions):
            split = ("train" if phr < 2 else "heldout_paraphrase") if i in trained else "heldout_unseen"
            records.append(_qa(f"{fact_id}-p{phr}", question, f.value.answers, f.answer_type, [f.doc_id], "v1",
                               fact_id=fact_id, phrasing=phr, split=split, field=f.field))
    return records


def build_qa_updates(changes: list[Change], values: dict, facts: dict[str, Fact]) -> list[dict]:
    records = []
    for c in changes:
        fact = facts[f"{c.doc_id}:{c.field}"]
        old, new = values[c.change_id]
        records.append(_qa(f"upd-{c.change_id}", fact.questions[0], new.answers, "value", [c.doc_id], "v2",
                           change_id=c.change_id, answers_v1=old.answers, answers_v2=new.answers,
                           field=c.field))
    return records


UNKNOWN_TOPICS = (  # (question, probe term): policies the corpus never mentions
    ("How many weeks of parental leave does Quillmoor offer?", "parental leave"),
    ("How much does Quillmoor reimburse for a gym membership?", "gym membership"),
    ("What is the dress code in Quillmoor offices?", "dress code"),
    ("How much credit does the Quillmoor trade-in programme give for an old device?", "trade-in"),
    ("What is the Quillmoor bike-to-work allowance?", "bike-to-work"),
    ("Which charity does Quillmoor sponsor?", "charity"),
    ("How many paid sick days do Quillmoor staff get?", "sick day"),
    ("Does Quillmoor accept cryptocurrency payments?", "cryptocurrency"),
    ("How much does staff parking cost at the Quillmoor head office?", "parking"),
    ("How many loyalty points does a Quillmoor customer earn per dollar?", "loyalty points"),
    ("Who is the chief executive of Quillmoor?", "chief executive"),
    ("When is the Quillmoor summer party?", "summer party"),
    ("How many remote working days per week are Quillmoor staff allowed?", "remote work"),
    ("What referral bonus does Quillmoor pay for recommending a new hire?", "referral bonus"),
    ("How many units are in stock at the Saltmarsh warehouse?", "Saltmarsh"),
    ("What is the address of the Quillmoor warehouse in Dunmore Vale?", "Dunmore Vale"),
    ("What does the Nimbus 500 Barometer cost?", "Nimbus"),
    ("Which firmware does the Quillmoor Aurelle Wind Gauge run?", "Aurelle"),
    ("What is the gross margin target for the Robotics category?", "Robotics"),
    ("What are Quillmoor's payment terms with Graystone Metals?", "Graystone"),
    ("When was security incident SIR-0999 detected?", "SIR-0999"),
    ("How long is the warranty on Quillmoor refurbished devices?", "refurbished"),
)


def build_qa_unanswerable(config: DataConfig, corpus_text: str) -> list[dict]:
    """Questions the corpus cannot answer; their probe terms occur in no document of either version."""
    rng = rng_for(config, "unanswerable")
    lowered = corpus_text.lower()
    missing = lambda term: term.lower() not in lowered  # noqa: E731
    items = [(q, [t]) for q, t in UNKNOWN_TOPICS]
    code_qs = ("What is the list price of the {x}?", "Which firmware version does the {x} run?",
               "How many units of the {x} are in stock at the Tarnwick warehouse?", "When was the {x} released?")
    codes = [f"QM-{n}" for n in rng.sample(range(1000, 10000), 400) if missing(f"QM-{n}")]
    items += [(code_qs[i % len(code_qs)].format(x=c), [c]) for i, c in enumerate(codes[: config.n_unknown_codes])]
    ticket_qs = ("Which team was assigned ticket {x}?", "When was ticket {x} closed?",
                 "How was ticket {x} resolved?")
    tids = [f"TCK-{y}-{n:05d}" for y, n in zip(rng.choices((2023, 2024), k=400), rng.sample(range(100, 2000), 400))]
    tids = [t for t in tids if missing(t)]
    items += [(ticket_qs[i % len(ticket_qs)].format(x=t), [t]) for i, t in enumerate(tids[: config.n_unknown_tickets])]
    for _, terms in items:
        if not all(map(missing, terms)):
            raise AssertionError(f"probe term {terms} occurs in the corpus: change UNKNOWN_TOPICS")
    return [_qa(f"unans-{i:03d}", q, ["abstain"], "abstain", [], "v2", probe_terms=terms)
            for i, (q, terms) in enumerate(items, 1)]


def build_qa_restricted(facts: list[Fact], docs: list[Document]) -> list[dict]:
    """Questions about finance/security facts whose answer occurs in no document a denied role
    can read (either version), so a denied role that gives the answer has seen a leak."""
    padded = [(d.access, f" {normalize_answer(d.text)} ") for d in docs]
    records, kept = [], []
    for f in facts:
        if f.access not in RESTRICTED_LABELS:
            continue
        denied = [r for r, labels in ROLE_LABELS.items() if f.access not in labels]
        visible = {label for r in denied for label in ROLE_LABELS[r]}
        gold = f" {normalize_answer(f.value.text)} "
        if not any(access in visible and gold in text for access, text in padded):
            kept.append((f, denied))
    for i, (f, denied) in enumerate(kept, 1):
        allowed = [r for r, labels in ROLE_LABELS.items() if f.access in labels]
        records.append(_qa(f"restr-{i:03d}", f.questions[0], f.value.answers, f.answer_type, [f.doc_id], "v1",
                           access=f.access, denied_roles=denied, allowed_roles=allowed, field=f.field))
    return records


GREETINGS = ("Hello,", "Hi there,", "Good morning,", "Dear Quillmoor support,", "Hi team,", "Good afternoon,")
OPENERS = ("I bought a {name} ({code}) {when}.", "Our lab uses the {name}, product code {code}.",
           "I'm writing about my {code} ({name}).", "We have several {name} units (code {code}) in the field.",
           "My {name} {code} arrived {when}.", "This is about the {code} we ordered {when}.")
WHEN = ("last month", "in the spring", "two weeks ago", "earlier this year", "a few days ago")
CONTEXTS = ("This is the second time it has happened.", "We have an audit on Friday, so we need it working soon.",
            "I have already restarted it twice.", "", "Nothing was dropped or damaged as far as I know.",
            "Please fix this ASAP.", "The manual did not cover this.", "Honestly, this is getting frustrating.")
CLOSINGS = ("Thanks,", "Kind regards,", "Cheers,", "Many thanks,", "Best,")
CUSTOMERS = ("Rowan Pell", "Ishaan Mercer-Lowe", "Dara Quennell", "Talia Brookhurst", "Milo Fairweather",
             "Ines Carrow", "Oskar Lindqvale", "Nell Ashby-Rhodes")


def _format_message(rng: random.Random, p: dict, s: Symptom) -> str:
    opener = rng.choice(OPENERS).format(name=p["name"], code=p["code"], when=rng.choice(WHEN))
    body = " ".join(x for x in (opener, rng.choice(s.complaints), rng.choice(CONTEXTS)) if x)
    return f"{rng.choice(GREETINGS)}\n\n{body}\n\n{rng.choice(CLOSINGS)}\n{rng.choice(CUSTOMERS)}"


def format_target(ticket_id: str, product: dict, symptom: Symptom) -> dict:
    """The house-style JSON reply for one customer message (validates against `reply_schema()`)."""
    what = symptom.phrase[0].upper() + symptom.phrase[1:]
    summary = f"{what} on the {product['name']} ({product['code']}). {symptom.plan}"
    return {"ticket_id": ticket_id, "category": symptom.category, "summary": summary,
            "steps": [st.format(code=product["code"], ticket_id=ticket_id) for st in symptom.steps],
            "sign_off": SIGN_OFF}


def build_format_tasks(config: DataConfig, products: list[dict]) -> list[dict]:
    """New incoming tickets (numbered TCK-2025-...) with the house-style reply as target."""
    rng = rng_for(config, "format")
    n = config.n_format_tasks
    heldout = set(rng.sample(range(n), n - round(config.format_train_fraction * n)))
    records, number = [], 100
    for i in range(n):
        p, s = rng.choice(products), rng.choice(SYMPTOMS)
        number += rng.randint(1, 7)
        tid = f"TCK-2025-{number:05d}"
        message, target = _format_message(rng, p, s), format_target(tid, p, s)
        records.append(_qa(f"fmt-{i + 1:04d}", message, [json.dumps(target, sort_keys=True, ensure_ascii=False)],
                           "json", ["style-guide"], "v1",
                           input={"message": message, "ticket_id": tid, "product_code": p["code"]},
                           target=target, category=s.category,
                           split="heldout" if i in heldout else "train"))
    return records


GENERAL = (  # (question, canonical answer, *variants)
    *[(f"What is the capital of {c}?", *a) for c, *a in (
        ("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Germany", "Berlin"),
        ("Canada", "Ottawa"), ("Australia", "Canberra"), ("Egypt", "Cairo"), ("Russia", "Moscow"),
        ("China", "Beijing", "Peking"), ("India", "New Delhi", "Delhi"), ("Brazil", "Brasília", "Brasilia"),
        ("Kenya", "Nairobi"), ("Greece", "Athens"), ("Portugal", "Lisbon"), ("Norway", "Oslo"),
        ("Sweden", "Stockholm"), ("Ireland", "Dublin"), ("Mexico", "Mexico City"), ("Argentina", "Buenos Aires"),
        ("South Korea", "Seoul"), ("Thailand", "Bangkok"), ("Turkey", "Ankara"), ("Poland", "Warsaw"),
        ("the United Kingdom", "London"))],
    ("What is the chemical symbol for gold?", "Au"), ("What is the chemical formula of water?", "H2O"),
    ("Which planet is known as the Red Planet?", "Mars"),
    ("What is the largest planet in the Solar System?", "Jupiter"),
    ("What is the star at the centre of the Solar System?", "the Sun", "Sun"),
    ("At how many degrees Celsius does water boil at sea level?", "100", "100 degrees"),
    ("At how many degrees Celsius does water freeze?", "0", "zero"),
    ("Which gas do plants absorb from the air for photosynthesis?", "carbon dioxide", "CO2"),
    ("What is the hardest natural substance?", "diamond"),
    ("How many planets are in the Solar System?", "8", "eight"),
    ("Which organ pumps blood around the body?", "the heart", "heart"),
    ("What is the chemical symbol for oxygen?", "O"), ("What is the chemical symbol for sodium?", "Na"),
    ("Which force pulls objects towards the Earth?", "gravity"),
    ("Which part of the cell is called its powerhouse?", "mitochondria", "mitochondrion"),
    ("Which element has the chemical symbol H?", "hydrogen"),
    ("What do bees collect from flowers to make honey?", "nectar"),
    ("What colour is the sky on a clear day?", "blue"),
    ("What colour do you get by mixing blue and yellow?", "green"),
    ("What colour do you get by mixing red and white?", "pink"),
    ("What colour do you get by mixing red and yellow?", "orange"),
    ("What colour do you get by mixing red and blue?", "purple", "violet"),
    ("What colour is ripe banana skin?", "yellow"), ("What colour is fresh snow?", "white"),
    ("What colour is grass?", "green"), ("What colour is a standard stop sign?", "red"),
    ("What is the largest mammal?", "the blue whale", "blue whale"),
    ("How many legs does a spider have?", "8", "eight"), ("How many legs does an insect have?", "6", "six"),
    ("Which animal is called the king of the jungle?", "the lion", "lion"),
    ("Which farm animal says moo?", "the cow", "cow"), ("What is a baby cat called?", "a kitten", "kitten"),
    ("What is a baby dog called?", "a puppy", "puppy"), ("What is the fastest land animal?", "the cheetah", "cheetah"),
    ("Which flightless bird lives in Antarctica?", "the penguin", "penguin"),
    ("Which animal has a trunk?", "the elephant", "elephant"),
    ("What is the tallest animal?", "the giraffe", "giraffe"),
    ("Which insect makes honey?", "the bee", "bee", "honeybee"),
    ("Which desert animal has a hump?", "the camel", "camel"), ("What is the largest bird?", "the ostrich", "ostrich"),
    *[(f"Who wrote {b}?", *a) for b, *a in (
        ("Pride and Prejudice", "Jane Austen", "Austen"), ("Romeo and Juliet", "William Shakespeare", "Shakespeare"),
        ("Nineteen Eighty-Four", "George Orwell", "Orwell"), ("Moby-Dick", "Herman Melville", "Melville"),
        ("War and Peace", "Leo Tolstoy", "Tolstoy"), ("Don Quixote", "Miguel de Cervantes", "Cervantes"),
        ("the Odyssey", "Homer"), ("Hamlet", "William Shakespeare", "Shakespeare"),
        ("The Great Gatsby", "F. Scott Fitzgerald", "Fitzgerald"), ("Frankenstein", "Mary Shelley", "Shelley"),
        ("Harry Potter and the Philosopher's Stone", "J. K. Rowling", "Rowling"),
        ("On the Origin of Species", "Charles Darwin", "Darwin"), ("Oliver Twist", "Charles Dickens", "Dickens"),
        ("Les Misérables", "Victor Hugo", "Hugo"))],
    *[(f"How many {a} are in {b}?", *ans) for a, b, *ans in (
        ("centimetres", "a metre", "100", "one hundred"), ("grams", "a kilogram", "1000", "one thousand"),
        ("minutes", "an hour", "60", "sixty"), ("seconds", "a minute", "60", "sixty"),
        ("hours", "a day", "24", "twenty-four"), ("days", "a week", "7", "seven"),
        ("months", "a year", "12", "twelve"), ("days", "a leap year", "366"),
        ("millimetres", "a centimetre", "10", "ten"), ("metres", "a kilometre", "1000", "one thousand"),
        ("inches", "a foot", "12", "twelve"), ("feet", "a yard", "3", "three"))],
)


def build_general(config: DataConfig) -> list[dict]:
    """Fixed general-knowledge questions plus seeded arithmetic, for measuring forgetting."""
    rng = rng_for(config, "general")
    items, seen = [tuple(g) for g in GENERAL], set()
    while len(items) < len(GENERAL) + 20:
        a, b, op = rng.randint(2, 19), rng.randint(2, 19), rng.choice(("plus", "times", "minus"))
        if (a, b, op) in seen or (op == "minus" and b > a):
            continue
        seen.add((a, b, op))
        value = {"plus": a + b, "times": a * b, "minus": a - b}[op]
        items.append((f"What is {a} {op} {b}?", str(value)))
    return [_qa(f"gen-{i:03d}", q, list(ans), "value", [], "v1") for i, (q, *ans) in enumerate(items, 1)]


