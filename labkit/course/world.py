"""The course company as structured state, rendered into documents: products, tickets, pages, the change log.

:func:`build_worlds` makes the v1 world (seeded by :class:`DataConfig`, one ``random.Random`` per part),
applies the dated changes that turn it into v2, and returns both with the change log.
:func:`all_facts` lists every question-worthy value of a world with three phrasings.

>>> v1, v2, changes, _ = build_worlds(DataConfig())
>>> len(v1.products), len(changes), changes[0].change_id
(44, 38, 'CHG-001')
>>> sum(d.text != e.text for d, e in zip(v1.render(), v2.render())) > 0
True
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from labkit.course.data import COMPANY, FORBIDDEN_PHRASES, SIGN_OFF, Change, Document
from labkit.course.pages import (WAREHOUSES, PageSpec, Val, firmware, money, on_date, page_specs, phrasings,
                                 reply_schema, txt, unit)


@dataclass(frozen=True)
class DataConfig:
    """Seed and sizes of the generated course data (the defaults are the committed snapshot)."""
    seed: int = 417
    n_products: int = 44
    n_tickets: int = 172            # ordinary tickets, labelled `staff`
    n_security_tickets: int = 8     # tickets labelled `security`
    n_price_changes: int = 12
    n_firmware_changes: int = 8
    n_stock_changes: int = 6
    n_format_tasks: int = 160
    n_unknown_codes: int = 14       # unanswerable questions about product codes that do not exist
    n_unknown_tickets: int = 12     # ... and about ticket IDs that do not exist
    trained_fraction: float = 0.6
    format_train_fraction: float = 0.7


# --------------------------------------------------------------------------------------------
# Products and tickets: tables + seeded sampling
# --------------------------------------------------------------------------------------------
CATEGORIES = {  # category: (device types, (min price, max price))
    "Sensors": (("Hygrometer", "Thermo Probe", "Gas Sniffer", "Light Sensor"), (39, 249)),
    "Loggers": (("Data Logger", "Field Recorder", "Cold-Chain Tag"), (59, 399)),
    "Meters": (("Multimeter", "Clamp Meter", "Sound Meter", "pH Meter"), (49, 349)),
    "Calibrators": (("Pressure Calibrator", "Loop Calibrator", "Thermal Bath"), (299, 949)),
    "Analyzers": (("Spectrum Analyzer", "Power Analyzer", "Water Analyzer"), (399, 989)),
    "Accessories": (("Probe Hub", "Charging Dock", "Wireless Bridge", "Remote Display"), (29, 149)),
}
SERIES = ("Veyra", "Tolvan", "Corrix", "Mirelle", "Quentor", "Baskel", "Oruna", "Feldar", "Skarn",
          "Pellion", "Lumeth", "Zarvo", "Kestrine", "Brevik", "Halden", "Sorrel")


@dataclass(frozen=True)
class Symptom:
    phrase: str            # noun phrase: "battery swelling"
    category: str          # reply category
    team: str              # team a ticket goes to
    resolution: str        # what the team did (answer of resolution questions)
    plan: str              # one sentence for reply summaries
    steps: tuple[str, ...]  # reply steps, with {code} and {ticket_id} placeholders
    complaints: tuple[str, str]  # how a customer describes it


SYMPTOMS = (
    Symptom("battery swelling", "hardware", "Hardware Repairs", "replaced the battery pack",
            "Stop using the device; we will replace the battery free of charge.",
            ("Stop using the {code} and unplug the charger.",
             "Keep the device on a non-flammable surface away from heat.",
             "Pack it in the prepaid box we send for ticket {ticket_id}."),
            ("The battery has swollen and the back cover is bulging.", "The case bulges where the battery sits.")),
    Symptom("display flicker", "hardware", "Hardware Repairs", "replaced the display ribbon cable",
            "We will check the firmware first, then repair the display if needed.",
            ("Update the {code} to the latest firmware through Relay.",
             "Lower the screen brightness and check whether the flicker stops.",
             "If it continues, reply to ticket {ticket_id} with a short video."),
            ("The screen keeps flickering.", "The display flickers every few seconds.")),
    Symptom("calibration drift", "calibration", "Calibration Lab",
            "recalibrated the sensor against the reference standard",
            "A zero check will confirm the drift before we recalibrate.",
            ("Check the calibration date on the {code} label.",
             "Run the zero check from the Tools menu.",
             "Book a recalibration with the Calibration Lab quoting {ticket_id}."),
            ("The readings have drifted away from our reference.",
             "Its measurements no longer agree with our reference instrument.")),
    Symptom("a Bluetooth pairing failure", "firmware", "Firmware Team", "shipped a patch for the pairing stack",
            "A firmware update fixes most pairing problems.",
            ("Update the {code} to the latest firmware through Relay.",
             "Remove the device from your phone's Bluetooth list.",
             "Pair it again while holding the power button for 5 seconds."),
            ("It will not pair with my phone over Bluetooth.", "Bluetooth pairing fails every time.")),
    Symptom("a stalled firmware update", "firmware", "Firmware Team", "reflashed the firmware over USB",
            "The update can be completed over USB.",
            ("Connect the {code} to a computer with the supplied USB cable.",
             "Open the Relay desktop tool and choose Recover.",
             "Leave the device connected until the tool reports success."),
            ("The firmware update stops at 80% and never finishes.", "Every firmware update hangs halfway.")),
    Symptom("a cracked housing", "hardware", "Hardware Repairs", "replaced the front housing",
            "We will replace the housing under warranty where it applies.",
            ("Take two photos of the crack on the {code}.",
             "Reply to ticket {ticket_id} with the photos attached.",
             "We will send a prepaid label for the repair."),
            ("The housing has cracked along one side.", "There is a crack in the front case.")),
    Symptom("frozen readings", "firmware", "Firmware Team", "cleared the sample buffer and updated the firmware",
            "Clearing the sample buffer and updating the firmware resolves this.",
            ("Export any data you need from the {code}.",
             "Clear the sample buffer from the Settings menu.",
             "Update to the latest firmware through Relay."),
            ("The readings freeze and stop updating.", "The value on screen is stuck and never changes.")),
    Symptom("a USB port that will not charge", "hardware", "Hardware Repairs", "replaced the USB-C port",
            "We will test the cable and charger first, then repair the port.",
            ("Try a different USB-C cable and wall charger.",
             "Check the port on the {code} for dust or debris.",
             "If it still will not charge, reply to ticket {ticket_id} and we will repair it."),
            ("It no longer charges through the USB port.", "Plugging in the charger does nothing.")),
    Symptom("clock resets after power loss", "hardware", "Hardware Repairs", "replaced the backup coin cell",
            "The backup cell keeps the clock running and can be replaced.",
            ("Set the clock again from the Settings menu.",
             "Keep the {code} charged while we arrange the repair.",
             "We will replace the backup cell under ticket {ticket_id}."),
            ("The clock resets whenever the battery runs flat.", "After every power cut the date and time are wrong.")),
    Symptom("a sensor stuck at zero", "calibration", "Calibration Lab", "replaced the sensing element",
            "A sensor self-test tells us whether the element needs replacing.",
            ("Run the sensor self-test from the Tools menu on the {code}.",
             "Note the result code shown at the end.",
             "Reply to ticket {ticket_id} with the result code."),
            ("The sensor shows zero all the time.", "Every reading comes back as zero.")),
    Symptom("a failing CSV export", "firmware", "Firmware Team", "fixed the export path in the companion app",
            "An app update fixes the export path.",
            ("Update the Quillmoor companion app.",
             "Choose a local folder as the export destination.",
             "Export again from the {code} data screen."),
            ("Exporting my data to CSV fails with an error.", "The CSV export never produces a file.")),
    Symptom("an unresponsive touchscreen", "hardware", "Hardware Repairs", "replaced the touch digitiser",
            "We will try a recalibration before repairing the screen.",
            ("Restart the {code} while holding the menu key.",
             "Run the touch calibration wizard.",
             "If the screen still ignores touches, reply to ticket {ticket_id}."),
            ("The touchscreen does not respond to taps.", "Touching the screen has no effect.")),
    Symptom("overheating during logging", "hardware", "Field Service", "cleaned the vents and replaced the fan",
            "Clear vents and a shorter logging interval should stop the overheating.",
            ("Make sure the vents on the {code} are not covered.",
             "Increase the logging interval to at least 10 seconds.",
             "If it still gets hot, a Field Service visit can be booked under ticket {ticket_id}."),
            ("It gets very hot during long logging sessions.", "The unit overheats after an hour of logging.")),
    Symptom("a frayed probe cable", "hardware", "Field Service", "supplied a new probe cable",
            "We will send a replacement probe cable.",
            ("Stop using the damaged cable with the {code}.",
             "Confirm your delivery address on ticket {ticket_id}.",
             "Fit the new cable when it arrives and run the self-test."),
            ("The probe cable is fraying near the plug.", "The insulation on the probe cable is coming apart.")),
    Symptom("a parcel damaged on arrival", "shipping", "Logistics Desk", "sent a replacement unit",
            "We will send a replacement and collect the damaged parcel.",
            ("Keep the damaged parcel and packaging.",
             "Reply to ticket {ticket_id} with photos of the box and the {code}.",
             "Our courier will collect it when the replacement is delivered."),
            ("The parcel arrived crushed and the device is damaged.",
             "The box was dented and the unit inside is broken.")),
    Symptom("a missing accessory", "shipping", "Logistics Desk", "dispatched the missing accessory",
            "We will dispatch the missing part.",
            ("Check the inner tray of the {code} box once more.",
             "Reply to ticket {ticket_id} with the name of the missing part."),
            ("An accessory listed on the box is missing.", "The box arrived without the charging cable.")),
    Symptom("a duplicate card charge", "billing", "Customer Care", "refunded the duplicate charge",
            "We will refund the duplicate payment.",
            ("Send us the invoice number shown on both charges.",
             "We will refund the second charge to the original card within 7 business days."),
            ("I was charged twice for the same order.", "My card shows two identical payments.")),
    Symptom("an invoice with the wrong tax line", "billing", "Customer Care", "issued a corrected invoice",
            "We will issue a corrected invoice.",
            ("Reply to ticket {ticket_id} with your company tax number.",
             "We will email a corrected invoice for the {code} order."),
            ("The invoice shows the wrong tax amount.", "The tax line on my invoice is incorrect.")),
    Symptom("a portal login lockout", "account", "Customer Care", "reset the portal account",
            "We will unlock your portal account.",
            ("Wait 15 minutes after the last failed attempt.",
             "Use the reset link on the portal sign-in page.",
             "If the link does not arrive, reply to ticket {ticket_id}."),
            ("I am locked out of the customer portal.", "The portal says my account is locked.")),
    Symptom("a rejected licence key", "account", "Customer Care", "issued a new licence key",
            "We will issue a new licence key.",
            ("Check that the key is entered without spaces.",
             "Make sure the {code} is on the latest firmware.",
             "We will email a new key under ticket {ticket_id} if it is still rejected."),
            ("The software licence key is rejected.", "My licence key says it is invalid.")),
)
SECURITY_SYMPTOMS = (  # (phrase, resolution) for tickets labelled `security`
    ("suspicious login alerts", "revoked all active sessions and enforced two-factor sign-in"),
    ("a firmware signature warning", "confirmed a tampered image and reflashed signed firmware"),
    ("an unknown device in the fleet console", "removed the rogue device and rotated the fleet keys"),
    ("a leaked API token", "revoked the token and issued a replacement"),
)
CLOSING_NOTES = ("The customer confirmed the fix.", "No recurrence was seen at the follow-up check.",
                 "The case was closed after the customer's confirmation.")


def rng_for(config: DataConfig, part: str) -> random.Random:
    """A separate, seeded stream per part, so changing one part does not shift the others."""
    return random.Random(f"{config.seed}/{part}")  # str seeds are hashed with sha512: stable


def _rand_date(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randint(0, (end - start).days))


def _make_products(config: DataConfig) -> list[dict]:
    rng = rng_for(config, "products")
    codes = rng.sample(range(1000, 10000), config.n_products)
    combos = [(s, c, t) for c, (types, _) in CATEGORIES.items() for t in types for s in SERIES]
    products = []
    for code, (series, cat, dtype) in zip(codes, rng.sample(combos, config.n_products)):
        lo, hi = CATEGORIES[cat][1]
        release = _rand_date(rng, date(2020, 1, 1), date(2024, 6, 30))
        products.append({
            "code": f"QM-{code}", "name": f"{series} {rng.choice(range(100, 1000, 100))} {dtype}",
            "category": cat, "price": rng.randint(lo, hi),
            "firmware": f"{rng.randint(1, 5)}.{rng.randint(0, 9)}.{rng.randint(0, 12)}",
            "release": release.isoformat(),
            "stock": {w[0]: rng.randint(0, 240) for w in WAREHOUSES},
            "version": rng.randint(1, 4),
            "effective": max(release, _rand_date(rng, date(2024, 1, 2), date(2024, 8, 30))).isoformat(),
        })
    return products


def _make_tickets(config: DataConfig, products: list[dict]) -> list[dict]:
    """Tickets with unique (product, symptom) pairs, numbered in date order within each year."""
    rng = rng_for(config, "tickets")
    pairs = [(p, s) for p in products for s in SYMPTOMS]
    sec_pairs = [(p, s) for p in products for s in SECURITY_SYMPTOMS]
    raw = [(p, s.phrase, s.team, s.resolution, "staff", rng.choice(s.complaints))
           for p, s in rng.sample(pairs, config.n_tickets)]
    raw += [(p, phrase, "Security Desk", res, "security",
             "The customer forwarded the alert to us.") for p, (phrase, res) in
            rng.sample(sec_pairs, config.n_security_tickets)]
    dated = sorted(((_rand_date(rng, date(2023, 1, 3), date(2024, 8, 15)), i, r) for i, r in enumerate(raw)),
                   key=lambda x: (x[0], x[1]))
    tickets, counters = [], {}
    for opened, _, (p, phrase, team, res, access, complaint) in dated:
        counters[opened.year] = counters.get(opened.year, 100) + rng.randint(1, 9)
        closed = opened + timedelta(days=rng.randint(1, 21))
        tickets.append({
            "id": f"TCK-{opened.year}-{counters[opened.year]:05d}", "code": p["code"], "name": p["name"],
            "symptom": phrase, "team": team, "resolution": res, "access": access,
            "complaint": complaint, "note": rng.choice(CLOSING_NOTES),
            "opened": opened.isoformat(), "closed": closed.isoformat(),
        })
    return tickets


# --------------------------------------------------------------------------------------------
# Rendering: structured state -> Markdown documents
# --------------------------------------------------------------------------------------------
def _header(title: str, version: int, effective: str, access: str) -> str:
    return f"# {title}\n\n_{COMPANY} · version {version} · effective {effective} · access: {access}_\n"


def _render_page(spec: PageSpec, values: dict[str, Val], version: int, effective: str) -> Document:
    ctx = {k: v.text for k, v in values.items()}
    ctx.update(forbidden_list="\n".join(f"- \"{p}\"" for p in FORBIDDEN_PHRASES), sign_off=SIGN_OFF,
               schema_json=json.dumps(reply_schema(), indent=2, sort_keys=True, ensure_ascii=False))
    parts = [_header(spec.title, version, effective, spec.access)]
    parts += [f"\n## {heading}\n\n{body.format(**ctx)}\n" for heading, body in spec.sections]
    return Document(spec.doc_id, spec.title, spec.kind, spec.access, version, effective,
                    "".join(parts), {"slug": spec.slug})


def _render_product(p: dict) -> Document:
    title = f"{p['name']} ({p['code']})"
    rows = "\n".join(f"| {name} ({wcode}) | {p['stock'][name]} units |" for name, wcode, _, _ in WAREHOUSES)
    text = (_header(title, p["version"], p["effective"], "public")
            + f"\n## Overview\n\nThe {p['name']} is part of the {p['category']} range of {COMPANY}. "
              f"Product code: {p['code']}. Released on {p['release']}.\n"
            + f"\n## Price\n\nList price: ${p['price']}.00 (excluding tax).\n"
            + f"\n## Firmware\n\nCurrent firmware version: {p['firmware']}.\n"
            + f"\n## Stock by warehouse\n\n| Warehouse | Stock |\n| --- | --- |\n{rows}\n")
    return Document(f"prod-{p['code']}", title, "product", "public", p["version"], p["effective"], text,
                    {"product_code": p["code"], "category": p["category"]})


def _render_ticket(t: dict) -> Document:
    title = f"Ticket {t['id']}: {t['symptom']} on {t['code']}"
    text = (_header(title, 1, t["closed"], t["access"])
            + "\n## Details\n\n| Field | Value |\n| --- | --- |\n"
            + f"| Ticket | {t['id']} |\n| Product | {t['name']} ({t['code']}) |\n"
            + f"| Opened | {t['opened']} |\n| Closed | {t['closed']} |\n| Assigned team | {t['team']} |\n"
            + f"\n## Symptom\n\nThe customer reported {t['symptom']} on their {t['name']}. {t['complaint']}\n"
            + f"\n## Resolution\n\n{t['team']} {t['resolution']}. {t['note']}\n")
    return Document(f"ticket-{t['id']}", title, "ticket", t["access"], 1, t["closed"], text,
                    {"ticket_id": t["id"], "product_code": t["code"]})


@dataclass
class World:
    """The structured state the corpus is rendered from (one per corpus version)."""
    pages: list[PageSpec]
    page_values: dict[str, dict[str, Val]]    # doc_id -> slot -> value
    page_meta: dict[str, tuple[int, str]]     # doc_id -> (version, effective date)
    products: list[dict]
    tickets: list[dict]

    def render(self) -> list[Document]:
        docs = [_render_page(s, self.page_values[s.doc_id], *self.page_meta[s.doc_id]) for s in self.pages]
        return docs + [_render_product(p) for p in self.products] + [_render_ticket(t) for t in self.tickets]


def _make_world(config: DataConfig) -> World:
    rng = rng_for(config, "pages")
    pages = page_specs()
    meta = {s.doc_id: (rng.randint(1, 5), _rand_date(rng, date(2023, 1, 9), date(2024, 8, 30)).isoformat())
            for s in pages}
    products = _make_products(config)
    return World(pages, {s.doc_id: {f.key: f.v1 for f in s.facts} for s in pages}, meta, products,
                 _make_tickets(config, products))


# --------------------------------------------------------------------------------------------
# Facts: every question-worthy value in the corpus, with three phrasings
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fact:
    key: str                      # "<doc_id>:<field>"
    doc_id: str
    access: str
    field: str                    # price, firmware, stock, ticket_id, team, a wiki slot, ...
    questions: tuple[str, str, str]
    value: Val
    answer_type: str = "value"


def _page_facts(world: World) -> list[Fact]:
    return [Fact(f"{s.doc_id}:{f.key}", s.doc_id, s.access, f.key, f.questions, f.v1)
            for s in world.pages for f in s.facts]


def _product_facts(p: dict) -> list[Fact]:
    doc, n, c = f"prod-{p['code']}", p["name"], p["code"]
    facts = [
        Fact(f"{doc}:price", doc, "public", "price", phrasings(
            f"What is the list price of the {n} ({c})?", f"How much does the {c} cost?",
            f"What does {COMPANY} charge for the {n}?"), money(p["price"])),
        Fact(f"{doc}:firmware", doc, "public", "firmware", phrasings(
            f"Which firmware version does the {n} ({c}) run?", f"What is the current firmware of the {c}?",
            f"The {n} is on which firmware version?"), firmware(p["firmware"])),
        Fact(f"{doc}:release", doc, "public", "release_date", phrasings(
            f"When was the {n} ({c}) released?", f"On what date did the {c} come out?",
            f"What is the release date of the {n}?"), on_date(date.fromisoformat(p["release"]))),
    ]
    for w in WAREHOUSES:
        facts.append(Fact(f"{doc}:stock.{w[0]}", doc, "public", "stock", phrasings(
            f"How many units of the {n} ({c}) are in stock at the {w[0]} warehouse?",
            f"What is the {w[0]} stock level for the {c}?",
            f"How many {n} units does the {w[0]} warehouse hold?"), unit(p["stock"][w[0]], "units")))
    return facts


def _ticket_facts(t: dict) -> list[Fact]:
    doc, tid, c, s = f"ticket-{t['id']}", t["id"], t["code"], t["symptom"]
    opened, closed = date.fromisoformat(t["opened"]), date.fromisoformat(t["closed"])
    return [
        Fact(f"{doc}:ticket_id", doc, t["access"], "ticket_id", phrasings(
            f"Which ticket reported {s} on the {c}?", f"Which ticket ID was logged for {s} on the {c}?",
            f"Give the ticket number of the report about {s} on the {t['name']} ({c})."), txt(tid)),
        Fact(f"{doc}:team", doc, t["access"], "team", phrasings(
            f"Which team was assigned ticket {tid}?", f"Ticket {tid} was handled by which team?",
            f"Name the team that took ticket {tid}."), txt(t["team"])),
        Fact(f"{doc}:opened", doc, t["access"], "opened", phrasings(
            f"On what date was ticket {tid} opened?", f"When was {tid} opened?",
            f"What is the opening date of ticket {tid}?"), on_date(opened)),
        Fact(f"{doc}:closed", doc, t["access"], "closed", phrasings(
            f"On what date was ticket {tid} closed?", f"When was {tid} closed?",
            f"What is the closing date of ticket {tid}?"), on_date(closed)),
        Fact(f"{doc}:resolution", doc, t["access"], "resolution", phrasings(
            f"How was ticket {tid} resolved?", f"What fixed the problem in ticket {tid}?",
            f"What did the team do to close ticket {tid}?"), txt(t["resolution"]), "text"),
    ]


def all_facts(world: World) -> list[Fact]:
    return (_page_facts(world) + [f for p in world.products for f in _product_facts(p)]
            + [f for t in world.tickets for f in _ticket_facts(t)])


# --------------------------------------------------------------------------------------------
# The change log: v1 -> v2
# --------------------------------------------------------------------------------------------
def _apply_product_change(p: dict, fld: str, new: Any) -> None:
    if fld.startswith("stock."):
        p["stock"][fld.split(".", 1)[1]] = new
    else:
        p[fld] = new


def _product_change_candidates(config: DataConfig, products: list[dict]) -> list[tuple]:
    """(change_type, product, field, new raw value, new Val) for price, firmware and stock changes."""
    rng = rng_for(config, "changes")
    order = rng.sample(products, len(products))
    wanted = ["price"] * config.n_price_changes + ["firmware"] * config.n_firmware_changes
    wanted += ["stock"] * config.n_stock_changes
    out = []
    for kind, p in zip(wanted, order):   # one change per product keeps every doc's diff readable
        if kind == "price":
            new = max(9, round(p["price"] * rng.choice((0.85, 0.9, 1.08, 1.1, 1.15))))
            new += 1 if new == p["price"] else 0
            out.append(("price", p, "price", new, money(new)))
        elif kind == "firmware":
            major, minor, patch = map(int, p["firmware"].split("."))
            new = f"{major}.{minor}.{patch + rng.randint(1, 3)}" if rng.random() < 0.6 else f"{major}.{minor + 1}.0"
            out.append(("firmware", p, "firmware", new, firmware(new)))
        else:
            counts = list(p["stock"].values())   # change a count no other warehouse shares
            wh = rng.choice([w for w, n in p["stock"].items() if counts.count(n) == 1])
            old = p["stock"][wh]
            new = rng.choice([n for n in range(0, 260, 5) if abs(n - old) > 20 and n not in counts])
            out.append(("stock", p, f"stock.{wh}", new, unit(new, "units")))
    if len(out) < len(wanted):
        raise ValueError(f"DataConfig asks for {len(wanted)} product changes but has {len(products)} products")
    return out


def _change_dates(config: DataConfig, n: int) -> list[str]:
    rng = rng_for(config, "change-dates")
    return sorted(_rand_date(rng, date(2024, 9, 2), date(2024, 12, 20)).isoformat() for _ in range(n))


def build_worlds(config: DataConfig) -> tuple[World, World, list[Change], dict[str, tuple[Val, Val]]]:
    """The v1 world, the v2 world (v1 with every change applied), the change log, and for each
    change_id its (old, new) values with their accepted variants."""
    v1 = _make_world(config)
    v2 = World(v1.pages, {k: dict(v) for k, v in v1.page_values.items()}, dict(v1.page_meta),
               [dict(p, stock=dict(p["stock"])) for p in v1.products], v1.tickets)
    pending = []   # (doc_id, change_type, field, description, old Val, new Val)
    for spec in v1.pages:
        for f in spec.facts:
            if f.v2 is not None:
                pending.append((spec.doc_id, "policy", f.key,
                                f"{spec.title}: {f.label} changed from {f.v1.text} to {f.v2.text}.", f.v1, f.v2))
                v2.page_values[spec.doc_id][f.key] = f.v2
    by_code = {p["code"]: p for p in v2.products}
    facts = {f.key: f for p in v1.products for f in _product_facts(p)}
    for kind, p, fld, raw, new in _product_change_candidates(config, v1.products):
        doc_id = f"prod-{p['code']}"
        old = facts[f"{doc_id}:{fld}"].value
        what = {"price": "list price", "firmware": "firmware version",
                "stock": f"{fld.split('.', 1)[-1]} stock"}[kind]
        pending.append((doc_id, kind, fld, f"{p['name']} ({p['code']}): {what} changed from "
                        f"{old.text} to {new.text}.", old, new))
        _apply_product_change(by_code[p["code"]], fld, raw)
    rng = rng_for(config, "change-order")
    rng.shuffle(pending)
    changes = [Change(f"CHG-{i:03d}", when, doc, kind, fld, desc, old.text, new.text)
               for i, (when, (doc, kind, fld, desc, old, new)) in
               enumerate(zip(_change_dates(config, len(pending)), pending), 1)]
    last = {c.doc_id: c.date for c in changes}          # dates are sorted: the last one wins
    for doc_id, when in last.items():
        if doc_id in v2.page_meta:
            version, _ = v2.page_meta[doc_id]
            v2.page_meta[doc_id] = (version + 1, when)
        else:
            p = by_code[doc_id.removeprefix("prod-")]
            p["version"], p["effective"] = p["version"] + 1, when
    return v1, v2, changes, {c.change_id: (p[4], p[5]) for c, p in zip(changes, pending)}


