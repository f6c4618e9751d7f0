"""labkit.data: the course corpus, its QA sets, loaders and validation.

The corpus describes **Quillmoor Instruments**, an invented maker of invented measuring devices,
so every fact in it is new to any model. Everything is generated deterministically from
``DataConfig.seed`` (explicit ``random.Random`` objects, never global state), written to ``data/``
with a ``MANIFEST.json`` of checksums, and read back by loaders that verify those checksums and
validate every record.

Worked example::

    >>> from labkit import data
    >>> docs = data.load_corpus("v1")
    >>> docs[0].doc_id, docs[0].access
    ('wiki-returns', 'public')
    >>> facts = data.load_qa("facts")
    >>> data.answer_matches("It costs $149.00.", ["$149.00", "149"])
    True
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable

from labkit.errors import LabkitError
from labkit.evals import answer_matches, normalize_answer

# --------------------------------------------------------------------------------------------
# Constants other modules rely on
# --------------------------------------------------------------------------------------------
COMPANY = "Quillmoor Instruments"
TICKET_ID_PATTERN = r"\bTCK-\d{4}-\d{5}\b"
PRODUCT_CODE_PATTERN = r"\bQM-\d{4}\b"
ACCESS_LABELS = ("public", "staff", "finance", "security")
ROLE_LABELS = {
    "customer": ("public",),
    "agent": ("public", "staff"),
    "finance": ("public", "staff", "finance"),
    "security": ("public", "staff", "security"),
    "admin": ("public", "staff", "finance", "security"),
}
RESTRICTED_LABELS = ("finance", "security")
DOC_KINDS = ("wiki", "product", "ticket", "style")
ANSWER_TYPES = ("value", "text", "abstain", "json")
SIGN_OFF = "Warm regards, the Quillmoor Care Team"
FORBIDDEN_PHRASES = (
    "unfortunately", "as per my last email", "calm down", "no problem", "not our fault",
    "we apologise for any inconvenience", "obviously", "asap",
)
REPLY_CATEGORIES = ("hardware", "firmware", "calibration", "shipping", "billing", "account")
QA_FILES = {
    "facts": "qa_facts.jsonl", "updates": "qa_updates.jsonl",
    "unanswerable": "qa_unanswerable.jsonl", "restricted": "qa_restricted.jsonl",
    "format_tasks": "format_tasks.jsonl", "general": "general.jsonl",
}
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "data"
FIX = ("regenerate the data with `python -m labkit data --write`, "
       "or restore the committed copy with `git checkout data/`")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")


class DataError(LabkitError, ValueError):
    """A data file is missing, corrupt or malformed: ``problem`` says what, ``fix`` what to do."""

    def __init__(self, problem: str, fix: str = FIX):
        super().__init__(problem, fix)


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
# Records
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    kind: str
    access: str
    doc_version: int
    effective_date: str
    text: str
    meta: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class QARecord:
    """One question. Set-specific fields (``split``, ``answers_v1``, ``probe_terms``...) are in ``extra``."""
    id: str
    question: str
    answers: tuple[str, ...]
    answer_type: str
    gold_doc_ids: tuple[str, ...]
    corpus_version: str
    set_name: str
    extra: dict = field(default_factory=dict, hash=False)

    @property
    def canonical(self) -> str:
        return self.answers[0]


@dataclass(frozen=True)
class Change:
    change_id: str
    date: str
    doc_id: str
    change_type: str
    field: str
    description: str
    old_value: str
    new_value: str


@dataclass(frozen=True)
class User:
    user_id: str
    name: str
    role: str
    labels: tuple[str, ...]

    def can_read(self, access: str) -> bool:
        return access in self.labels


@dataclass(frozen=True)
class FormatTask:
    id: str
    message: str
    ticket_id: str
    product_code: str
    category: str
    split: str
    target: dict = field(default_factory=dict, hash=False)


# --------------------------------------------------------------------------------------------
# Values: a canonical answer string plus accepted variants
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Val:
    text: str
    variants: tuple[str, ...] = ()

    @property
    def answers(self) -> list[str]:
        return [self.text, *self.variants]


def _unit(n: int, unit: str) -> Val:
    return Val(f"{n} {unit}", (str(n),))


def _days(n: int) -> Val: return _unit(n, "days")
def _bdays(n: int) -> Val: return _unit(n, "business days")
def _months(n: int) -> Val:
    """Months; whole years are accepted too ("24 months" may be answered "2 years")."""
    if n % 12:
        return _unit(n, "months")
    years = n // 12
    return Val(f"{n} months", (str(n), f"{years} year" + ("s" if years > 1 else "")))
def _weeks(n: int) -> Val: return _unit(n, "weeks")
def _hours(n: int) -> Val: return _unit(n, "hours")
def _money(n: int) -> Val: return Val(f"${n}.00", (str(n),))
def _pct(n: int) -> Val: return Val(f"{n}%", (f"{n} percent",))
def _txt(s: str, *variants: str) -> Val: return Val(s, variants)


def _date(d: date) -> Val:
    month = MONTHS[d.month - 1]
    return Val(d.isoformat(), (f"{d.day} {month} {d.year}", f"{month} {d.day}, {d.year}"))


def _clock(hhmm: str) -> Val:
    h = int(hhmm[:2])
    twelve = f"{h % 12 or 12} {'am' if h < 12 else 'pm'}"
    return Val(hhmm, (twelve,))


def _firmware(v: str) -> Val:
    return Val(v, (f"v{v}",))


# --------------------------------------------------------------------------------------------
# Wiki pages and the style guide: hand-written templates with fact slots
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FactSlot:
    key: str
    label: str
    v1: Val
    questions: tuple[str, str, str]
    v2: Val | None = None          # set when the change log updates this fact


@dataclass(frozen=True)
class PageSpec:
    slug: str
    title: str
    access: str
    sections: tuple[tuple[str, str], ...]   # (heading, body with {slot} placeholders)
    facts: tuple[FactSlot, ...]
    kind: str = "wiki"

    @property
    def doc_id(self) -> str:
        return self.slug if self.kind == "style" else f"wiki-{self.slug}"


WAREHOUSES = (  # name, code, address, site manager
    ("Brackenfold", "BFD", "12 Quarrel Lane, Brackenfold", "Corvin Ashgrove"),
    ("Tarnwick", "TWK", "4 Kiln Yard, Tarnwick", "Petra Vellacott"),
    ("Emberlee", "EML", "88 Lanternwright Row, Emberlee", "Anselm Quarrie"),
    ("Wrenholt", "WRH", "27 Sallowfield Road, Wrenholt", "Tobiah Crewe"),
)
MARGINS = {"Sensors": "42.5", "Loggers": "38.5", "Meters": "35.5", "Calibrators": "47.5",
           "Analyzers": "51.5", "Accessories": "63.5"}   # half points keep the answers distinctive
SUPPLIERS = (  # name, what they supply, payment terms (days), annual contract value ($)
    ("Tallowmere Components", "display panels", 67, 418000),
    ("Corrowgate Cells", "battery packs", 52, 236000),
    ("Nettlefield Mouldings", "plastic housings", 38, 152000),
    ("Halcyra Optics", "optical sensors", 75, 389000),
)
INCIDENTS = (  # id, date, what happened, accounts affected, root cause
    ("SIR-0412", date(2024, 2, 19), "a credential-stuffing attack on the customer portal", 312,
     "passwords reused from an unrelated breach"),
    ("SIR-0427", date(2024, 5, 7), "a phishing email that imitated the Relay update service", 9,
     "a look-alike sender domain"),
    ("SIR-0433", date(2024, 7, 23), "an exposed debug port on a batch of field loggers", 41,
     "a factory test build shipped by mistake"),
)


def _q(*qs: str) -> tuple[str, str, str]:
    assert len(qs) == 3
    return qs


def _policy_pages() -> list[PageSpec]:
    """The hand-written policy pages (public and staff)."""
    P, F = PageSpec, FactSlot
    return [
        P("returns", "Returns Policy", "public", (
            ("Return window", "Customers may return any Quillmoor product within {return_window} "
             "of delivery for a full refund, provided it comes back with all accessories."),
            ("Restocking fee", "Opened items that are not faulty carry a restocking fee of {restocking_fee}."),
            ("Refunds", "Refunds are issued within {refund_time} of the return arriving at the "
             "{returns_warehouse} warehouse, to the original payment method."),
        ), (
            F("return_window", "return window", _days(30), _q(
                "How long do customers have to return a Quillmoor product?",
                "What is Quillmoor's return window?",
                "Within how many days of delivery can a customer send a Quillmoor product back?"),
              v2=_days(45)),
            F("restocking_fee", "restocking fee", _pct(15), _q(
                "What restocking fee does Quillmoor charge on opened items that are not faulty?",
                "How large is the restocking fee for an opened, working Quillmoor return?",
                "If an opened product that works fine is returned, what percentage is kept as a restocking fee?")),
            F("refund_time", "refund time", _bdays(7), _q(
                "How quickly are Quillmoor refunds issued once a return arrives?",
                "Within what time does Quillmoor issue a refund after receiving a return?",
                "After a returned item reaches the warehouse, how long until the refund is issued?")),
            F("returns_warehouse", "returns warehouse", _txt("Brackenfold"), _q(
                "Which warehouse processes Quillmoor returns?",
                "At which warehouse do returned Quillmoor products arrive?",
                "Returns to Quillmoor are received by which warehouse?")),
        )),
        P("warranty", "Warranty Policy", "public", (
            ("Standard warranty", "Every Quillmoor instrument is covered against manufacturing defects "
             "for {standard_warranty} from the date of purchase."),
            ("Extended cover", "Extended cover can be bought for {extended_price} per device per year."),
            ("Making a claim", "Report a defect within {claim_window} of noticing it. Claims are handled "
             "by the {claims_team}."),
        ), (
            F("standard_warranty", "standard warranty", _months(12), _q(
                "How long is the standard Quillmoor warranty?",
                "For how many months are Quillmoor instruments covered against manufacturing defects?",
                "What is the length of the warranty on a Quillmoor device?"), v2=_months(24)),
            F("extended_price", "extended cover price", _money(49), _q(
                "How much does Quillmoor extended warranty cover cost per device per year?",
                "What is the yearly price of extended cover for a Quillmoor device?",
                "Per device and year, what does Quillmoor charge for extended cover?")),
            F("claim_window", "claim window", _days(14), _q(
                "Within how many days of noticing a defect must a Quillmoor warranty claim be reported?",
                "How soon after spotting a defect must a customer report it under the Quillmoor warranty?",
                "What is the deadline for reporting a defect for a Quillmoor warranty claim?")),
            F("claims_team", "claims team", _txt("Warranty Claims Desk"), _q(
                "Which team handles Quillmoor warranty claims?",
                "Who processes warranty claims at Quillmoor?",
                "Warranty claims at Quillmoor go to which team?")),
        )),
        P("shipping", "Shipping Policy", "public", (
            ("Costs", "Orders over {free_threshold} ship free. Express delivery costs {express_fee}."),
            ("Delivery times", "Standard delivery takes {standard_delivery}. All parcels travel with "
             "our courier partner {carrier}."),
        ), (
            F("free_threshold", "free shipping threshold", _money(50), _q(
                "Above what order value does Quillmoor ship for free?",
                "What is the free-shipping threshold for Quillmoor orders?",
                "How much must a Quillmoor order exceed to qualify for free shipping?"), v2=_money(75)),
            F("express_fee", "express fee", _money(18), _q(
                "How much does Quillmoor charge for express delivery?",
                "What is the express delivery fee at Quillmoor?",
                "What does express shipping cost on a Quillmoor order?")),
            F("standard_delivery", "standard delivery time", _bdays(5), _q(
                "How long does standard delivery take for Quillmoor orders?",
                "What is Quillmoor's standard delivery time?",
                "With standard shipping, how long does a Quillmoor parcel take to arrive?")),
            F("carrier", "courier partner", _txt("Larkspur Parcel"), _q(
                "Which courier delivers Quillmoor parcels?",
                "Who is Quillmoor's courier partner?",
                "Quillmoor parcels are shipped with which courier?")),
        )),
        P("security", "Staff Security Policy", "staff", (
            ("Passwords", "Staff passwords must be at least {password_length} long and are rotated every "
             "{password_rotation}."),
            ("Devices", "Laptops lock automatically after {screen_lock} without input."),
            ("Reporting", "Report suspected phishing to the Security Desk on extension {phishing_ext}."),
        ), (
            F("password_rotation", "password rotation period", _days(90), _q(
                "How often must Quillmoor staff rotate their passwords?",
                "What is the password rotation period for Quillmoor staff?",
                "After how many days does a Quillmoor staff password have to be changed?"), v2=_days(60)),
            F("password_length", "minimum password length", _unit(14, "characters"), _q(
                "What is the minimum length of a Quillmoor staff password?",
                "How many characters must a Quillmoor staff password have at least?",
                "How long must staff passwords at Quillmoor be?")),
            F("screen_lock", "screen lock delay", _unit(5, "minutes"), _q(
                "After how long without input do Quillmoor laptops lock?",
                "What is the automatic screen-lock delay on Quillmoor staff laptops?",
                "How many idle minutes before a Quillmoor laptop locks itself?")),
            F("phishing_ext", "phishing extension", _txt("4417"), _q(
                "On which extension should Quillmoor staff report suspected phishing?",
                "What phone extension reaches the Security Desk for phishing reports?",
                "Which internal extension do Quillmoor employees call to report phishing?")),
        )),
        P("onboarding", "Staff Onboarding", "staff", (
            ("Before day one", "{onboarding_owner} ships each new starter's laptop {laptop_lead} "
             "before their first day."),
            ("First weeks", "Every new starter is paired with a buddy for {buddy_period} and completes "
             "{training_modules} of product training."),
        ), (
            F("onboarding_owner", "onboarding owner", _txt("People Operations"), _q(
                "Which Quillmoor team ships laptops to new starters?",
                "Who sends a new Quillmoor employee their laptop?",
                "New starters at Quillmoor receive their laptop from which team?")),
            F("laptop_lead", "laptop lead time", _unit(3, "days"), _q(
                "How many days before their first day do Quillmoor new starters receive a laptop?",
                "How far ahead of day one is a new starter's laptop shipped at Quillmoor?",
                "What is the lead time for shipping a laptop to a Quillmoor new starter?")),
            F("buddy_period", "buddy period", _weeks(4), _q(
                "For how long is a new Quillmoor starter paired with a buddy?",
                "How long does the Quillmoor onboarding buddy arrangement last?",
                "What is the length of the buddy period for new Quillmoor employees?"), v2=_weeks(6)),
            F("training_modules", "number of training modules", _unit(8, "modules"), _q(
                "How many product training modules does a Quillmoor new starter complete?",
                "What number of training modules are part of Quillmoor onboarding?",
                "During onboarding, how many product training modules must new staff finish?")),
        )),
        P("pricing", "Pricing and Discounts", "public", (
            ("Discounts", "Schools and universities receive an education discount of {education_discount}. "
             "Volume pricing starts at {volume_threshold} per order."),
            ("Quotes", "A written quote stays valid for {quote_validity}. We match a lower advertised "
             "price if it is reported within {price_match}."),
        ), (
            F("education_discount", "education discount", _pct(15), _q(
                "What education discount does Quillmoor give schools and universities?",
                "How big is Quillmoor's education discount?",
                "What percentage off do universities get from Quillmoor?"), v2=_pct(20)),
            F("volume_threshold", "volume pricing threshold", _unit(25, "units"), _q(
                "From how many units per order does Quillmoor volume pricing start?",
                "What is the minimum order size for Quillmoor volume pricing?",
                "How many units must an order contain to get Quillmoor volume pricing?")),
            F("quote_validity", "quote validity", _days(30), _q(
                "How long is a written Quillmoor quote valid?",
                "What is the validity period of a Quillmoor sales quote?",
                "For how many days does a Quillmoor quote remain valid?")),
            F("price_match", "price-match window", _days(10), _q(
                "Within how many days must a lower price be reported for Quillmoor to match it?",
                "What is Quillmoor's price-match window?",
                "How long do customers have to report a cheaper advertised price to get a price match?")),
        )),
        P("data-retention", "Data Retention Policy", "staff", (
            ("Retention periods", "Support ticket records are kept for {ticket_retention}. Call "
             "recordings are deleted after {call_recordings}. Backups are kept for {backup_retention}."),
            ("Deletion requests", "Deletion requests are handled by the {deletion_team}."),
        ), (
            F("ticket_retention", "ticket record retention", _months(36), _q(
                "How long does Quillmoor keep support ticket records?",
                "What is the retention period for Quillmoor ticket records?",
                "For how many months are support tickets retained at Quillmoor?")),
            F("call_recordings", "call recording retention", _days(90), _q(
                "After how long are Quillmoor support call recordings deleted?",
                "What is the retention period for call recordings at Quillmoor?",
                "How long does Quillmoor keep recordings of support calls?"), v2=_days(60)),
            F("backup_retention", "backup retention", _days(35), _q(
                "How long are Quillmoor backups kept?",
                "What is the backup retention period at Quillmoor?",
                "For how many days does Quillmoor retain backups?")),
            F("deletion_team", "deletion team", _txt("Records Office"), _q(
                "Which Quillmoor team handles data deletion requests?",
                "Who processes deletion requests at Quillmoor?",
                "Data deletion requests at Quillmoor go to which team?")),
        )),
        P("support-hours", "Support Hours", "public", (
            ("Opening hours", "The support line opens at {weekday_open} and closes at {weekday_close} on "
             "weekdays. On Saturdays it is open from {saturday_hours}."),
            ("Phone", "Call us on {support_phone}."),
        ), (
            F("weekday_open", "weekday opening time", _clock("08:00"), _q(
                "What time does the Quillmoor support line open on weekdays?",
                "When does Quillmoor phone support start on a weekday?",
                "At what hour does Quillmoor support open Monday to Friday?")),
            F("weekday_close", "weekday closing time", _clock("18:00"), _q(
                "What time does the Quillmoor support line close on weekdays?",
                "When does Quillmoor phone support end on a weekday?",
                "At what hour does Quillmoor support close Monday to Friday?"), v2=_clock("19:00")),
            F("saturday_hours", "Saturday hours", _txt("09:00 to 13:00", "9 am to 1 pm"), _q(
                "What are Quillmoor's Saturday support hours?",
                "When is the Quillmoor support line open on Saturdays?",
                "During which hours can customers reach Quillmoor support on a Saturday?")),
            F("support_phone", "support phone number", _txt("020 7946 0417"), _q(
                "What is the Quillmoor support phone number?",
                "Which number do customers call for Quillmoor support?",
                "How can I phone Quillmoor support: what is the number?")),
        )),
        P("holidays", "Holidays and Leave", "staff", (
            ("Annual leave", "Full-time staff receive {annual_leave} of annual leave. Up to "
             "{carryover} may be carried into the next year."),
            ("Requests", "Leave requests need {leave_notice} notice. The office closes on "
             "Quillmoor Founders' Day, {founders_day}."),
        ), (
            F("annual_leave", "annual leave", _days(25), _q(
                "How many days of annual leave do full-time Quillmoor staff get?",
                "What is the annual leave allowance at Quillmoor?",
                "How much yearly leave does a full-time Quillmoor employee receive?"), v2=_days(27)),
            F("carryover", "leave carry-over", _days(5), _q(
                "How many days of leave can Quillmoor staff carry into the next year?",
                "What is the maximum leave carry-over at Quillmoor?",
                "How much unused leave may a Quillmoor employee carry over?")),
            F("leave_notice", "leave notice", _days(14), _q(
                "How much notice does a Quillmoor leave request need?",
                "What notice period applies to leave requests at Quillmoor?",
                "How far in advance must Quillmoor staff request leave?")),
            F("founders_day", "Founders' Day date", _txt("14 March", "March 14"), _q(
                "On what date is Quillmoor Founders' Day?",
                "When does the Quillmoor office close for Founders' Day?",
                "Which day of the year is Quillmoor Founders' Day?")),
        )),
        P("escalation", "Escalation Procedure", "staff", (
            ("Priority one", "Priority-one tickets get a first response within {p1_response}. They are "
             "coordinated in the {p1_channel} channel."),
            ("Escalating", "Tickets still open after {tier2_after} move to Tier 2 Engineering. The "
             "escalation manager is {escalation_manager}."),
        ), (
            F("p1_response", "priority-one response time", _hours(4), _q(
                "How fast must a priority-one Quillmoor ticket get a first response?",
                "What is the first-response target for priority-one tickets at Quillmoor?",
                "Within how many hours is a priority-one ticket answered at Quillmoor?"), v2=_hours(2)),
            F("p1_channel", "priority-one channel", _txt("#qm-incident-bridge", "qm-incident-bridge"), _q(
                "In which channel are Quillmoor priority-one tickets coordinated?",
                "Where do Quillmoor staff coordinate priority-one tickets?",
                "What chat channel is used for priority-one incidents at Quillmoor?")),
            F("tier2_after", "Tier 2 escalation time", _hours(48), _q(
                "After how long does an open Quillmoor ticket move to Tier 2 Engineering?",
                "When is a still-open ticket escalated to Tier 2 at Quillmoor?",
                "How many hours can a Quillmoor ticket stay open before going to Tier 2 Engineering?")),
            F("escalation_manager", "escalation manager", _txt("Odalys Fenwright", "Fenwright"), _q(
                "Who is Quillmoor's escalation manager?",
                "Which person manages escalations at Quillmoor?",
                "Name the escalation manager at Quillmoor.")),
        )),
        P("expenses", "Travel and Expenses", "staff", (
            ("Allowances", "The meal allowance on business travel is {meal_allowance} per day. "
             "Mileage is paid at {mileage_rate}."),
            ("Claims", "Receipts are required for any item above {receipt_threshold}. Claims must be "
             "filed within {claim_deadline} of the trip."),
        ), (
            F("meal_allowance", "meal allowance", _money(40), _q(
                "What is the daily meal allowance on Quillmoor business travel?",
                "How much can Quillmoor staff spend on meals per travel day?",
                "What per-day meal allowance does Quillmoor pay when travelling?"), v2=_money(45)),
            F("mileage_rate", "mileage rate", _txt("$0.45 per mile", "0.45"), _q(
                "At what rate does Quillmoor pay mileage?",
                "What is the Quillmoor mileage rate?",
                "How much per mile does Quillmoor reimburse for driving?")),
            F("receipt_threshold", "receipt threshold", _money(25), _q(
                "Above what amount does a Quillmoor expense item need a receipt?",
                "What is the receipt threshold for Quillmoor expense claims?",
                "From what value must staff attach a receipt to a Quillmoor expense?")),
            F("claim_deadline", "expense claim deadline", _days(21), _q(
                "Within how many days of a trip must a Quillmoor expense claim be filed?",
                "What is the deadline for filing Quillmoor expense claims?",
                "How long after travelling can Quillmoor staff still file an expense claim?")),
        )),
        P("repairs", "Repairs Service", "public", (
            ("Turnaround", "Out-of-warranty repairs are carried out at the {repair_centre} repair centre "
             "with a typical turnaround of {repair_turnaround}."),
            ("Fees", "A diagnostic fee of {diagnostic_fee} applies and is waived if the repair goes "
             "ahead. Repaired parts are guaranteed for {repair_guarantee}."),
        ), (
            F("repair_centre", "repair centre", _txt("Tarnwick"), _q(
                "Where is the Quillmoor repair centre?",
                "At which site does Quillmoor carry out out-of-warranty repairs?",
                "Which Quillmoor location handles repairs?")),
            F("repair_turnaround", "repair turnaround", _bdays(10), _q(
                "What is the typical turnaround for a Quillmoor repair?",
                "How long does a Quillmoor out-of-warranty repair usually take?",
                "How many business days does Quillmoor typically need for a repair?")),
            F("diagnostic_fee", "diagnostic fee", _money(35), _q(
                "How much is the Quillmoor repair diagnostic fee?",
                "What diagnostic fee does Quillmoor charge for repairs?",
                "What does Quillmoor charge to diagnose a device sent for repair?"), v2=_money(40)),
            F("repair_guarantee", "repair guarantee", _days(90), _q(
                "How long are parts repaired by Quillmoor guaranteed?",
                "What guarantee does Quillmoor give on repaired parts?",
                "For how many days is a Quillmoor repair guaranteed?")),
        )),
        P("contact", "Contacting Quillmoor", "public", (
            ("Email", "Write to {support_email}. We reply within {email_reply}."),
            ("Head office", "Our head office is at {hq_address}."),
        ), (
            F("support_email", "support email", _txt("care@quillmoor.example"), _q(
                "What is Quillmoor's customer support email address?",
                "Which email address reaches Quillmoor support?",
                "Where should customers email Quillmoor for support?")),
            F("email_reply", "email reply time", _unit(1, "business day"), _q(
                "How quickly does Quillmoor reply to support emails?",
                "What is Quillmoor's email response time?",
                "Within how long can a customer expect an answer to an email to Quillmoor?")),
            F("hq_address", "head office address", _txt("1 Gildersleeve Court, Emberlee"), _q(
                "What is the address of Quillmoor's head office?",
                "Where is Quillmoor headquartered?",
                "At which address is the Quillmoor head office?")),
        )),
        P("firmware-policy", "Firmware Update Policy", "staff", (
            ("Support window", "Each product receives firmware updates for {support_window} after "
             "release. Updates are delivered through the {update_service} service."),
            ("Beta programme", "New releases go to a beta group of {beta_group} first and roll back "
             "automatically if {rollback_threshold} of devices report errors."),
        ), (
            F("support_window", "firmware support window", _unit(5, "years"), _q(
                "For how long after release does a Quillmoor product receive firmware updates?",
                "What is the firmware support window for Quillmoor products?",
                "How many years of firmware updates does a Quillmoor device get?")),
            F("update_service", "update service", _txt("Relay"), _q(
                "Through which service does Quillmoor deliver firmware updates?",
                "What is the name of the Quillmoor firmware update service?",
                "Quillmoor firmware updates reach devices via which service?")),
            F("beta_group", "beta group size", _unit(200, "customers"), _q(
                "How large is the Quillmoor firmware beta group?",
                "To how many customers does a new Quillmoor firmware go first?",
                "What is the size of the beta group for Quillmoor firmware releases?")),
            F("rollback_threshold", "rollback threshold", _pct(2), _q(
                "What share of devices reporting errors triggers a Quillmoor firmware rollback?",
                "At what error rate does a Quillmoor firmware release roll back?",
                "What is the automatic rollback threshold for Quillmoor firmware?")),
        )),
        P("privacy", "Customer Privacy Notice", "public", (
            ("Your data", "Our data protection officer is {dpo}. Requests for a copy of your data are "
             "answered within {access_request}."),
            ("Cookies", "Analytics cookies expire after {cookie_lifetime}."),
        ), (
            F("dpo", "data protection officer", _txt("Maren Dunhollow", "Dunhollow"), _q(
                "Who is Quillmoor's data protection officer?",
                "Which person is the data protection officer at Quillmoor?",
                "Name Quillmoor's data protection officer.")),
            F("access_request", "data access request time", _unit(28, "days"), _q(
                "Within how many days does Quillmoor answer a request for a copy of a customer's data?",
                "How quickly are data access requests answered by Quillmoor?",
                "What is Quillmoor's deadline for answering a personal data copy request?")),
            F("cookie_lifetime", "analytics cookie lifetime", _months(13), _q(
                "After how long do Quillmoor analytics cookies expire?",
                "What is the lifetime of Quillmoor analytics cookies?",
                "How many months do Quillmoor analytics cookies last?")),
        )),
    ]


def _warehouse_page() -> PageSpec:
    sections, facts = [("Dispatch", "Orders placed before {dispatch_cutoff} leave the same day.")], [
        FactSlot("dispatch_cutoff", "dispatch cut-off", _clock("15:00"), _q(
            "What is the same-day dispatch cut-off time at Quillmoor warehouses?",
            "Before what time must an order be placed to leave a Quillmoor warehouse the same day?",
            "By what time do orders need to be in for same-day dispatch from Quillmoor?"))]
    for name, code, address, manager in WAREHOUSES:
        key = name.lower()
        sections.append((f"{name} ({code})", f"Address: {{{key}_address}}. Site manager: {{{key}_manager}}."))
        facts += [
            FactSlot(f"{key}_address", f"{name} address", _txt(address), _q(
                f"What is the address of the {name} warehouse?",
                f"Where is Quillmoor's {name} warehouse located?",
                f"At which address is the {name} warehouse?")),
            FactSlot(f"{key}_manager", f"{name} site manager", _txt(manager, manager.split()[-1]), _q(
                f"Who manages the {name} warehouse?",
                f"Who is the site manager of the {name} warehouse?",
                f"Name the manager of Quillmoor's {name} warehouse.")),
        ]
    return PageSpec("warehouses", "Warehouses", "staff", tuple(sections), tuple(facts))


def _restricted_pages() -> list[PageSpec]:
    """Pages whose facts only finance or security staff may read."""
    margin_facts = [FactSlot(f"margin_{c.lower()}", f"{c} margin target", _pct(m), _q(
        f"What is the gross margin target for the {c} category?",
        f"Which gross margin does Quillmoor aim for on {c}?",
        f"What margin target applies to Quillmoor {c} products?")) for c, m in MARGINS.items()]
    margin_rows = "\n".join(f"| {c} | {{margin_{c.lower()}}} |" for c in MARGINS)
    margins = PageSpec("finance-margins", "Pricing Margins (Finance only)", "finance", (
        ("Margin targets", "| Category | Gross margin target |\n| --- | --- |\n" + margin_rows),
        ("Discount approval", "Sales staff may grant discounts up to {rep_discount_limit}. Anything "
         "larger needs approval from the finance director, {finance_director}."),
    ), (*margin_facts,
        FactSlot("rep_discount_limit", "sales discount limit", _pct(10), _q(
            "Up to what discount may Quillmoor sales staff grant without approval?",
            "What is the largest discount a Quillmoor salesperson can give on their own?",
            "What discount limit applies to Quillmoor sales staff?")),
        FactSlot("finance_director", "finance director", _txt("Ilse Marrowby", "Marrowby"), _q(
            "Who must approve discounts above the Quillmoor sales limit?",
            "Who is Quillmoor's finance director?",
            "Which person approves large discounts at Quillmoor?"))))
    vendor_sections, vendor_facts = [], []
    for name, supplies, terms, value in SUPPLIERS:
        key = name.split()[0].lower()
        vendor_sections.append((name, f"Supplies {supplies}. Payment terms: {{{key}_terms}}. "
                                      f"Annual contract value: {{{key}_value}}."))
        vendor_facts += [
            FactSlot(f"{key}_terms", f"{name} payment terms", _days(terms), _q(
                f"What are Quillmoor's payment terms with {name}?",
                f"How many days does Quillmoor have to pay {name}?",
                f"Which payment terms apply to the {name} contract?")),
            FactSlot(f"{key}_value", f"{name} contract value", Val(f"${value:,}", (str(value),)), _q(
                f"What is the annual value of Quillmoor's contract with {name}?",
                f"How much is the {name} contract worth per year?",
                f"What does Quillmoor spend with {name} per year under contract?")),
        ]
    vendors = PageSpec("vendor-contracts", "Supplier Contracts (Finance only)", "finance",
                       tuple(vendor_sections), tuple(vendor_facts))
    inc_sections, inc_facts = [], []
    for inc_id, when, what, accounts, cause in INCIDENTS:
        key = inc_id.lower().replace("-", "_")
        inc_sections.append((inc_id, f"On {{{key}_date}} we detected {what}. Accounts affected: "
                                     f"{{{key}_accounts}}. Root cause: {{{key}_cause}}."))
        inc_facts += [
            FactSlot(f"{key}_date", f"{inc_id} date", _date(when), _q(
                f"When was security incident {inc_id} detected?",
                f"On what date did Quillmoor detect incident {inc_id}?",
                f"What is the detection date of incident {inc_id}?")),
            FactSlot(f"{key}_accounts", f"{inc_id} accounts affected", _unit(accounts, "accounts"), _q(
                f"How many accounts were affected by security incident {inc_id}?",
                f"What number of accounts did incident {inc_id} affect?",
                f"How many customer accounts were hit in incident {inc_id}?")),
            FactSlot(f"{key}_cause", f"{inc_id} root cause", _txt(cause), _q(
                f"What was the root cause of security incident {inc_id}?",
                f"Why did incident {inc_id} happen?",
                f"What caused Quillmoor security incident {inc_id}?")),
        ]
    incidents = PageSpec("security-incidents", "Security Incident Notes (Security only)", "security",
                         tuple(inc_sections), tuple(inc_facts))
    return [margins, vendors, incidents]


def _style_page() -> PageSpec:
    return PageSpec("style-guide", "House Style Guide", "staff", (
        ("Voice and tone", "Write plainly and warmly, in {reply_language}. Use short sentences, speak to "
         "the customer as \"you\", and always name the product code. Promise only what a policy page says."),
        ("Forbidden phrases", "Never use these phrases in a reply:\n\n{forbidden_list}"),
        ("Sign-off", "Every reply ends with exactly this sign-off: {sign_off}"),
        ("Reply format", "Support replies are JSON objects. The summary has at most {summary_limit} and "
         "the reply lists 1 to {max_steps}. The schema is:\n\n```json\n{schema_json}\n```"),
    ), (
        FactSlot("sign_off", "house sign-off", _txt(SIGN_OFF), _q(
            "What sign-off must every Quillmoor support reply end with?",
            "How does the house style guide require Quillmoor replies to be signed off?",
            "Which closing line do Quillmoor support replies use?")),
        FactSlot("summary_limit", "summary length limit", _unit(200, "characters"), _q(
            "What is the maximum length of the summary in a Quillmoor support reply?",
            "How long may a support reply summary be under the Quillmoor house style?",
            "What character limit applies to the summary field of a Quillmoor reply?")),
        FactSlot("max_steps", "maximum number of steps", _unit(5, "steps"), _q(
            "At most how many steps may a Quillmoor support reply list?",
            "What is the maximum number of steps in a Quillmoor reply?",
            "How many steps can a Quillmoor support reply contain at most?")),
        FactSlot("reply_language", "reply language", _txt("British English"), _q(
            "In which variety of English are Quillmoor support replies written?",
            "What language standard does the Quillmoor house style require for replies?",
            "Which English spelling standard do Quillmoor replies follow?")),
    ), kind="style")


def page_specs() -> list[PageSpec]:
    """All wiki pages plus the style guide, in corpus order."""
    return [*_policy_pages(), _warehouse_page(), *_restricted_pages(), _style_page()]


def reply_schema() -> dict:
    """The JSON schema every support reply (format-task target) must validate against."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{COMPANY} support reply",
        "type": "object",
        "required": ["ticket_id", "category", "summary", "steps", "sign_off"],
        "additionalProperties": False,
        "properties": {
            "ticket_id": {"type": "string", "pattern": r"^TCK-\d{4}-\d{5}$"},
            "category": {"enum": list(REPLY_CATEGORIES)},
            "summary": {"type": "string", "minLength": 1, "maxLength": 200},
            "steps": {"type": "array", "minItems": 1, "maxItems": 5,
                      "items": {"type": "string", "minLength": 1}},
            "sign_off": {"const": SIGN_OFF},
        },
    }


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


def _rng(config: DataConfig, part: str) -> random.Random:
    """A separate, seeded stream per part, so changing one part does not shift the others."""
    return random.Random(f"{config.seed}/{part}")  # str seeds are hashed with sha512: stable


def _rand_date(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randint(0, (end - start).days))


def _make_products(config: DataConfig) -> list[dict]:
    rng = _rng(config, "products")
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
    rng = _rng(config, "tickets")
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
    rng = _rng(config, "pages")
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
        Fact(f"{doc}:price", doc, "public", "price", _q(
            f"What is the list price of the {n} ({c})?", f"How much does the {c} cost?",
            f"What does {COMPANY} charge for the {n}?"), _money(p["price"])),
        Fact(f"{doc}:firmware", doc, "public", "firmware", _q(
            f"Which firmware version does the {n} ({c}) run?", f"What is the current firmware of the {c}?",
            f"The {n} is on which firmware version?"), _firmware(p["firmware"])),
        Fact(f"{doc}:release", doc, "public", "release_date", _q(
            f"When was the {n} ({c}) released?", f"On what date did the {c} come out?",
            f"What is the release date of the {n}?"), _date(date.fromisoformat(p["release"]))),
    ]
    for w in WAREHOUSES:
        facts.append(Fact(f"{doc}:stock.{w[0]}", doc, "public", "stock", _q(
            f"How many units of the {n} ({c}) are in stock at the {w[0]} warehouse?",
            f"What is the {w[0]} stock level for the {c}?",
            f"How many {n} units does the {w[0]} warehouse hold?"), _unit(p["stock"][w[0]], "units")))
    return facts


def _ticket_facts(t: dict) -> list[Fact]:
    doc, tid, c, s = f"ticket-{t['id']}", t["id"], t["code"], t["symptom"]
    opened, closed = date.fromisoformat(t["opened"]), date.fromisoformat(t["closed"])
    return [
        Fact(f"{doc}:ticket_id", doc, t["access"], "ticket_id", _q(
            f"Which ticket reported {s} on the {c}?", f"Which ticket ID was logged for {s} on the {c}?",
            f"Give the ticket number of the report about {s} on the {t['name']} ({c})."), _txt(tid)),
        Fact(f"{doc}:team", doc, t["access"], "team", _q(
            f"Which team was assigned ticket {tid}?", f"Ticket {tid} was handled by which team?",
            f"Name the team that took ticket {tid}."), _txt(t["team"])),
        Fact(f"{doc}:opened", doc, t["access"], "opened", _q(
            f"On what date was ticket {tid} opened?", f"When was {tid} opened?",
            f"What is the opening date of ticket {tid}?"), _date(opened)),
        Fact(f"{doc}:closed", doc, t["access"], "closed", _q(
            f"On what date was ticket {tid} closed?", f"When was {tid} closed?",
            f"What is the closing date of ticket {tid}?"), _date(closed)),
        Fact(f"{doc}:resolution", doc, t["access"], "resolution", _q(
            f"How was ticket {tid} resolved?", f"What fixed the problem in ticket {tid}?",
            f"What did the team do to close ticket {tid}?"), _txt(t["resolution"]), "text"),
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
    rng = _rng(config, "changes")
    order = rng.sample(products, len(products))
    wanted = ["price"] * config.n_price_changes + ["firmware"] * config.n_firmware_changes
    wanted += ["stock"] * config.n_stock_changes
    out = []
    for kind, p in zip(wanted, order):   # one change per product keeps every doc's diff readable
        if kind == "price":
            new = max(9, round(p["price"] * rng.choice((0.85, 0.9, 1.08, 1.1, 1.15))))
            new += 1 if new == p["price"] else 0
            out.append(("price", p, "price", new, _money(new)))
        elif kind == "firmware":
            major, minor, patch = map(int, p["firmware"].split("."))
            new = f"{major}.{minor}.{patch + rng.randint(1, 3)}" if rng.random() < 0.6 else f"{major}.{minor + 1}.0"
            out.append(("firmware", p, "firmware", new, _firmware(new)))
        else:
            counts = list(p["stock"].values())   # change a count no other warehouse shares
            wh = rng.choice([w for w, n in p["stock"].items() if counts.count(n) == 1])
            old = p["stock"][wh]
            new = rng.choice([n for n in range(0, 260, 5) if abs(n - old) > 20 and n not in counts])
            out.append(("stock", p, f"stock.{wh}", new, _unit(new, "units")))
    if len(out) < len(wanted):
        raise ValueError(f"DataConfig asks for {len(wanted)} product changes but has {len(products)} products")
    return out


def _change_dates(config: DataConfig, n: int) -> list[str]:
    rng = _rng(config, "change-dates")
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
    rng = _rng(config, "change-order")
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


# --------------------------------------------------------------------------------------------
# QA sets
# --------------------------------------------------------------------------------------------
FACT_QUOTAS = {"price": 30, "firmware": 30, "release_date": 25, "stock": 40, "ticket_id": 60,
               "team": 45, "opened": 25, "closed": 20, "resolution": 25}   # plus every open wiki fact


def _qa(rid: str, question: str, answers: list[str], answer_type: str, gold: list[str],
        version: str, **extra: Any) -> dict:
    return {"id": rid, "question": question, "answers": answers, "answer_type": answer_type,
            "gold_doc_ids": gold, "corpus_version": version, **extra}


def _select_facts(config: DataConfig, facts: list[Fact], changed_keys: set[str]) -> list[Fact]:
    """Open (public/staff) facts that the change log leaves alone: every wiki fact plus quotas."""
    rng = _rng(config, "facts")
    pool = [f for f in facts if f.access in ("public", "staff") and f.key not in changed_keys]
    chosen = [f for f in pool if f.doc_id.startswith(("wiki-", "style-"))]
    for fld, quota in FACT_QUOTAS.items():
        group = [f for f in pool if f.field == fld and not f.doc_id.startswith("wiki-")]
        chosen += rng.sample(group, min(quota, len(group)))
    return chosen


def build_qa_facts(config: DataConfig, chosen: list[Fact]) -> list[dict]:
    rng = _rng(config, "split")
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
    rng = _rng(config, "unanswerable")
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
    rng = _rng(config, "format")
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
    rng = _rng(config, "general")
    items, seen = [tuple(g) for g in GENERAL], set()
    while len(items) < len(GENERAL) + 20:
        a, b, op = rng.randint(2, 19), rng.randint(2, 19), rng.choice(("plus", "times", "minus"))
        if (a, b, op) in seen or (op == "minus" and b > a):
            continue
        seen.add((a, b, op))
        value = {"plus": a + b, "times": a * b, "minus": a - b}[op]
        items.append((f"What is {a} {op} {b}?", str(value)))
    return [_qa(f"gen-{i:03d}", q, list(ans), "value", [], "v1") for i, (q, *ans) in enumerate(items, 1)]


def split_known(general_records: list, answer_fn: Callable[[str, bool, random.Random], str],
                n_samples: int, rng: random.Random) -> dict:
    """Label general questions by what the model knows (after Gekhman et al., 2024).

    ``answer_fn(question, sample, rng)`` answers greedily when ``sample`` is False. A question is
    *known* when the greedy answer is correct and at least half of ``n_samples`` samples are.
    Categories: HighlyKnown (greedy and every sample right), MaybeKnown (greedy right, some
    samples wrong), WeaklyKnown (greedy wrong, some sample right), Unknown (nothing right).

    >>> recs = [{"id": "g1", "question": "2+2?", "answers": ["4"]}]
    >>> split_known(recs, lambda q, s, r: "4", 2, random.Random(0))["records"]["g1"]["category"]
    'HighlyKnown'
    """
    out, counts = {}, {"HighlyKnown": 0, "MaybeKnown": 0, "WeaklyKnown": 0, "Unknown": 0}
    for rec in general_records:
        rid, question, golds = (rec.id, rec.question, rec.answers) if isinstance(rec, QARecord) else (
            rec["id"], rec["question"], rec["answers"])
        greedy = answer_matches(answer_fn(question, False, rng), golds)
        hits = sum(answer_matches(answer_fn(question, True, rng), golds) for _ in range(n_samples))
        if greedy:
            category = "HighlyKnown" if hits == n_samples else "MaybeKnown"
        else:
            category = "WeaklyKnown" if hits else "Unknown"
        counts[category] += 1
        out[rid] = {"known": greedy and 2 * hits >= n_samples, "category": category,
                    "greedy_correct": greedy, "sample_hits": hits}
    return {"n_samples": n_samples, "criterion": "greedy correct and at least half of the samples correct",
            "counts": counts, "n_known": sum(r["known"] for r in out.values()), "records": out}


# --------------------------------------------------------------------------------------------
# Writing: files, README, manifest
# --------------------------------------------------------------------------------------------
def _jsonl(records: list[dict]) -> bytes:
    return "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in records).encode()


def _json(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _users() -> dict:
    users = [("u-rowan", "Rowan Pell", "customer"), ("u-talia", "Talia Brookhurst", "customer"),
             ("u-jonah", "Jonah Wickersley", "agent"), ("u-amara", "Amara Stellwood", "agent"),
             ("u-hollis", "Hollis Grae", "finance"), ("u-sabine", "Sabine Okonmere", "security"),
             ("u-odalys", "Odalys Fenwright", "admin")]
    return {"labels": list(ACCESS_LABELS), "roles": {r: list(v) for r, v in ROLE_LABELS.items()},
            "users": [{"user_id": u, "name": n, "role": r} for u, n, r in users]}


PURPOSES = {
    "corpus_v1.jsonl": "the corpus before the change log: wiki pages, style guide, products, tickets",
    "corpus_v2.jsonl": "the corpus after every change-log entry (unchanged documents identical)",
    "changelog.jsonl": "dated fact updates turning v1 into v2",
    "users.json": "users, roles and the access labels each role may read",
    "reply_schema.json": "JSON schema of a house-style support reply",
    "qa_facts.jsonl": "fact questions, 3 phrasings each, split train / heldout_paraphrase / heldout_unseen",
    "qa_updates.jsonl": "one question per change: answers_v1 and answers_v2",
    "qa_unanswerable.jsonl": "questions the corpus cannot answer (gold: abstain) with probe terms",
    "qa_restricted.jsonl": "questions answered only by finance or security documents",
    "format_tasks.jsonl": "customer messages with a house-style JSON reply as target",
    "general.jsonl": "general-knowledge questions, to measure forgetting",
    "general_known.json": "which general questions the base model knows (measured by `python -m labkit data --measure-known`)",
}


def build_files(config: DataConfig = DataConfig()) -> dict[str, bytes]:
    """Every generated file (path relative to data/ -> bytes), except README.md and MANIFEST.json."""
    v1, v2, changes, values = build_worlds(config)
    docs1, docs2 = v1.render(), v2.render()
    facts = all_facts(v1)
    by_key = {f.key: f for f in facts}
    changed = {f"{c.doc_id}:{c.field}" for c in changes}
    corpus_text = "\n".join(d.title + "\n" + d.text for d in docs1 + docs2)
    files = {
        "corpus_v1.jsonl": _jsonl([asdict(d) for d in docs1]),
        "corpus_v2.jsonl": _jsonl([asdict(d) for d in docs2]),
        "changelog.jsonl": _jsonl([asdict(c) for c in changes]),
        "users.json": _json(_users()),
        "reply_schema.json": _json(reply_schema()),
        "qa_facts.jsonl": _jsonl(build_qa_facts(config, _select_facts(config, facts, changed))),
        "qa_updates.jsonl": _jsonl(build_qa_updates(changes, values, by_key)),
        "qa_unanswerable.jsonl": _jsonl(build_qa_unanswerable(config, corpus_text)),
        "qa_restricted.jsonl": _jsonl(build_qa_restricted(facts, docs1 + docs2)),
        "format_tasks.jsonl": _jsonl(build_format_tasks(config, v1.products)),
        "general.jsonl": _jsonl(build_general(config)),
    }
    texts2 = {d.doc_id: d.text for d in docs2}
    for d in docs1:
        if d.kind in ("wiki", "style"):
            files[f"pages/v1/{d.doc_id}.md"] = d.text.encode()
            if texts2[d.doc_id] != d.text:
                files[f"pages/v2/{d.doc_id}.md"] = texts2[d.doc_id].encode()
    return files


def _count(rel: str, content: bytes) -> int:
    if rel.endswith(".jsonl"):
        return content.count(b"\n")
    if rel == "users.json":
        return len(json.loads(content)["users"])
    if rel == "general_known.json":
        return len(json.loads(content).get("records", {}))
    return 1


def _manifest(files: dict[str, bytes]) -> dict:
    return {"generator": "labkit.data", "company": COMPANY,
            "files": {rel: {"sha256": hashlib.sha256(b).hexdigest(), "records": _count(rel, b), "bytes": len(b)}
                      for rel, b in sorted(files.items())}}


def _readme(entries: dict) -> bytes:
    rows = "\n".join(f"| `{rel}` | {e['records']} | `{e['sha256']}` | "
                     f"{PURPOSES.get(rel) or 'page ' + rel.split('/')[-2] + ' for reading (same text as the corpus)'} |"
                     for rel, e in sorted(entries.items()))
    text = f"""# Course data: {COMPANY}

{COMPANY} is an invented company that makes invented measuring instruments (hygrometers,
data loggers, calibrators...). It runs four warehouses ({', '.join(w[0] for w in WAREHOUSES)}),
a support desk with a ticket history, and a wiki of policies. No model has seen it, so every fact
here is new knowledge. Documents carry an access label (public, staff, finance, security);
`users.json` says which roles may read which labels.

Everything in this folder is generated deterministically by `labkit.data` and committed. Do not
edit it by hand: regenerate with `python -m labkit data --write` and check it is in sync with
`python -m labkit data --check`. `MANIFEST.json` holds each file's sha256; the loaders refuse a
file whose checksum does not match. `general_known.json` depends on the model: it is written by
`python -m labkit data --measure-known` (greedy answer plus sampled answers, after Gekhman et al.
2024) and is kept, never regenerated, by `--write`.

Identifiers: products `QM-1234`, tickets `TCK-2024-00417`. `pages/v1/` holds every wiki page and
the style guide as Markdown; `pages/v2/` holds the pages the change log altered.

| file | records | sha256 | purpose |
| --- | --- | --- | --- |
{rows}
"""
    return text.encode()


def _finish(files: dict[str, bytes]) -> dict[str, bytes]:
    """Add README.md and MANIFEST.json (the manifest covers the README too)."""
    files = dict(files)
    files["README.md"] = _readme(_manifest(files)["files"])
    files["MANIFEST.json"] = _json(_manifest(files))
    return files


def _install(files: dict[str, bytes], out: Path, keep: tuple[str, ...] = ()) -> None:
    """Write into a temporary sibling folder, then move each file in with os.replace, manifest last.

    Files named in ``keep`` are listed in ``files`` but already in place: they are not rewritten.
    """
    old = _read_json_quiet(out / "MANIFEST.json").get("files", {})
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-tmp-", dir=out.parent))
    try:
        for rel, content in files.items():
            if rel in keep:
                continue
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_bytes(content)
        for rel in sorted(set(files) - set(keep), key=lambda r: (r == "MANIFEST.json", r)):
            if rel == "MANIFEST.json":
                for stale in sorted(set(old) - set(files)):   # generated before, not any more
                    (out / stale).unlink(missing_ok=True)
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / rel, out / rel)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for folder in sorted((p for p in (out / "pages").rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()


def _read_json_quiet(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def generate(out_dir: str | Path, config: DataConfig = DataConfig()) -> dict:
    """Generate the whole data folder into ``out_dir`` atomically; return the manifest.

    An existing ``general_known.json`` is kept and listed in the manifest, never regenerated.

    >>> manifest = generate(tmp_path / "data")          # doctest: +SKIP
    >>> manifest["files"]["qa_facts.jsonl"]["records"]  # doctest: +SKIP
    1065
    """
    out = Path(out_dir)
    files = build_files(config)
    if (out / "general_known.json").is_file():
        files["general_known.json"] = (out / "general_known.json").read_bytes()
    files = _finish(files)
    _install(files, out, keep=("general_known.json",))
    return json.loads(files["MANIFEST.json"])


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)}


def check(data_dir: str | Path | None = None, config: DataConfig = DataConfig()) -> list[str]:
    """Regenerate into a temporary folder and list how ``data_dir`` differs ([] means in sync).

    >>> check()   # doctest: +SKIP
    []
    """
    folder = resolve_data_dir(data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "data"
        fresh.mkdir()
        if (folder / "general_known.json").is_file():
            shutil.copyfile(folder / "general_known.json", fresh / "general_known.json")
        generate(fresh, config)
        want, have = _tree(fresh), _tree(folder) if folder.is_dir() else {}
    diffs = [f"missing: {rel}" for rel in sorted(set(want) - set(have))]
    diffs += [f"unexpected: {rel}" for rel in sorted(set(have) - set(want))]
    diffs += [f"differs: {rel}" for rel in sorted(set(want) & set(have)) if want[rel] != have[rel]]
    return diffs


def write_general_known(known: dict, data_dir: str | Path | None = None) -> Path:
    """Store the result of `split_known` as general_known.json and refresh README and MANIFEST."""
    folder = resolve_data_dir(data_dir)
    verify(folder)
    files = {rel: (folder / rel).read_bytes() for rel in _load_manifest(folder)["files"]
             if rel not in ("README.md", "MANIFEST.json")}
    files["general_known.json"] = _json(known)
    _install(_finish(files), folder)
    return folder / "general_known.json"


# --------------------------------------------------------------------------------------------
# Loading: manifest verification and record validation
# --------------------------------------------------------------------------------------------
_VERIFIED: dict[tuple, str] = {}   # (path, size, mtime_ns, sha256) -> verified text


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """An explicit folder, else $LABKIT_DATA_DIR, else the repository's data/ (DEFAULT_DATA_DIR)."""
    return Path(data_dir or os.environ.get("LABKIT_DATA_DIR") or DEFAULT_DATA_DIR)


def _load_manifest(folder: Path) -> dict:
    path = folder / "MANIFEST.json"
    if not path.is_file():
        raise DataError(f"{path} is missing, so the data folder {folder} cannot be verified "
                        "(partial or not generated)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(manifest.get("files"), dict)
    except (ValueError, AssertionError):
        raise DataError(f"{path} is corrupt (not a JSON object with a 'files' table)") from None
    return manifest


def _read_verified(rel: str, data_dir: str | Path | None) -> str:
    folder = resolve_data_dir(data_dir)
    entry = _load_manifest(folder)["files"].get(rel)
    path = folder / rel
    if entry is None:
        raise DataError(f"{path} is not listed in {folder / 'MANIFEST.json'}")
    if not path.is_file():
        raise DataError(f"{path} is missing (MANIFEST.json lists it): the data folder is incomplete")
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, entry["sha256"])
    if key not in _VERIFIED:
        content = path.read_bytes()
        digest = hashlib.sha256(content).hexdigest()
        if digest != entry["sha256"]:
            raise DataError(f"{path} does not match MANIFEST.json (sha256 {digest[:12]}..., expected "
                            f"{entry['sha256'][:12]}...): the file is partial, corrupt or edited by hand")
        _VERIFIED[key] = content.decode("utf-8")
    return _VERIFIED[key]


def verify(data_dir: str | Path | None = None) -> dict:
    """Check every file listed in the manifest; return the manifest or raise DataError."""
    folder = resolve_data_dir(data_dir)
    manifest = _load_manifest(folder)
    for rel in manifest["files"]:
        _read_verified(rel, folder)
    return manifest


def _is_date(v: Any) -> bool:
    try:
        return isinstance(v, str) and date.fromisoformat(v).isoformat() == v
    except ValueError:
        return False


CHECKS = {
    "str": (lambda v: isinstance(v, str) and v.strip() != "", "must be a non-empty string"),
    "strs": (lambda v: isinstance(v, list) and all(isinstance(x, str) and x for x in v), "must be a list of strings"),
    "strs+": (lambda v: isinstance(v, list) and len(v) > 0 and all(isinstance(x, str) and x.strip() for x in v),
              "must be a non-empty list of strings"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "must be a non-negative integer"),
    "dict": (lambda v: isinstance(v, dict), "must be a JSON object"),
    "date": (_is_date, "must be an ISO date (YYYY-MM-DD)"),
}
QA_FIELDS = {"id": "str", "question": "str", "answers": "strs+", "answer_type": ANSWER_TYPES,
             "gold_doc_ids": "strs", "corpus_version": ("v1", "v2")}
EXTRA_FIELDS = {
    "qa_facts.jsonl": {"fact_id": "str", "phrasing": (0, 1, 2), "field": "str",
                       "split": ("train", "heldout_paraphrase", "heldout_unseen")},
    "qa_updates.jsonl": {"change_id": "str", "answers_v1": "strs+", "answers_v2": "strs+"},
    "qa_unanswerable.jsonl": {"probe_terms": "strs+"},
    "qa_restricted.jsonl": {"denied_roles": "strs+", "allowed_roles": "strs+"},
    "format_tasks.jsonl": {"input": {"message": "str", "ticket_id": "str", "product_code": "str"},
                           "target": "dict", "split": ("train", "heldout")},
    "general.jsonl": {},
}
DOC_FIELDS = {"doc_id": "str", "title": "str", "kind": DOC_KINDS, "access": ACCESS_LABELS,
              "doc_version": "int", "effective_date": "date", "text": "str"}
CHANGE_FIELDS = {"change_id": "str", "date": "date", "doc_id": "str", "change_type": "str", "field": "str",
                 "description": "str", "old_value": "str", "new_value": "str"}


def _check_fields(obj: dict, spec: dict, where: str, prefix: str = "") -> None:
    for name, kind in spec.items():
        if name not in obj:
            raise DataError(f"{where}: field '{prefix}{name}' is missing", _fix_record(prefix + name))
        value = obj[name]
        if isinstance(kind, dict):
            if not isinstance(value, dict):
                raise DataError(f"{where}: field '{prefix}{name}' must be a JSON object", _fix_record(prefix + name))
            _check_fields(value, kind, where, f"{prefix}{name}.")
            continue
        if isinstance(kind, tuple):
            ok, desc = value in kind and not isinstance(value, bool), f"must be one of {', '.join(map(repr, kind))}"
        else:
            test, desc = CHECKS[kind]
            ok = test(value)
        if not ok:
            shown = json.dumps(value, ensure_ascii=False)
            raise DataError(f"{where}: field '{prefix}{name}' {desc} (got {shown[:60]})", _fix_record(prefix + name))


def _fix_record(name: str) -> str:
    return f"{FIX}; if you edited the file on purpose, correct field '{name}' on that line"


def _records(rel: str, spec: dict, data_dir: str | Path | None) -> list[dict]:
    """Verified, parsed and field-checked records of one JSONL file."""
    out, seen = [], {}
    id_field = next(iter(spec))
    for n, line in enumerate(_read_verified(rel, data_dir).split("\n"), 1):
        if not line.strip():
            continue
        where = f"{rel} line {n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: not valid JSON ({e.msg}, column {e.colno})", _fix_record("(whole line)"))
        if not isinstance(obj, dict):
            raise DataError(f"{where}: a record must be a JSON object", _fix_record("(whole line)"))
        _check_fields(obj, spec, where)
        if obj[id_field] in seen:
            raise DataError(f"{where}: field '{id_field}' repeats line {seen[obj[id_field]]}", _fix_record(id_field))
        seen[obj[id_field]] = n
        out.append(obj)
    return out


def load_corpus(version: str = "v1", data_dir: str | Path | None = None) -> list[Document]:
    """The corpus documents of one version ("v1" or "v2").

    >>> [d.doc_id for d in load_corpus("v2") if d.kind == "style"]
    ['style-guide']
    """
    if version not in ("v1", "v2"):
        raise DataError(f"unknown corpus version {version!r}", "use 'v1' or 'v2'")
    return [Document(**{k: r[k] for k in DOC_FIELDS}, meta=r.get("meta", {}))
            for r in _records(f"corpus_{version}.jsonl", DOC_FIELDS, data_dir)]


def load_qa(name: str, data_dir: str | Path | None = None) -> list[QARecord]:
    """One QA set by name: facts, updates, unanswerable, restricted, format_tasks or general.

    >>> rec = load_qa("facts")[0]
    >>> rec.extra["split"] in ("train", "heldout_paraphrase", "heldout_unseen")
    True
    """
    key = name.removesuffix(".jsonl").removeprefix("qa_")
    if key not in QA_FILES:
        raise DataError(f"unknown QA set {name!r}", f"use one of {', '.join(QA_FILES)}")
    rel = QA_FILES[key]
    spec = {**QA_FIELDS, **EXTRA_FIELDS[rel]}
    return [QARecord(r["id"], r["question"], tuple(r["answers"]), r["answer_type"], tuple(r["gold_doc_ids"]),
                     r["corpus_version"], key, {k: v for k, v in r.items() if k not in QA_FIELDS})
            for r in _records(rel, spec, data_dir)]


def train_facts(role: str) -> list[QARecord]:
    """The train-split fact questions (every phrasing) whose gold documents ``role`` may read in v1: what
    RAFT trains on and what the ladder calibrates its abstention gate on.

    >>> facts = train_facts("agent")
    >>> {r.extra["split"] for r in facts}, len(facts) > len(train_facts("customer"))
    ({'train'}, True)
    """
    readable = ROLE_LABELS[role]
    access = {d.doc_id: d.access for d in load_corpus("v1")}
    return [r for r in load_qa("qa_facts")
            if r.extra["split"] == "train" and all(access.get(d) in readable for d in r.gold_doc_ids)]


def load_changelog(data_dir: str | Path | None = None) -> list[Change]:
    """The change log in date order.

    >>> load_changelog()[0].change_id
    'CHG-001'
    """
    return [Change(**{k: r[k] for k in CHANGE_FIELDS}) for r in _records("changelog.jsonl", CHANGE_FIELDS, data_dir)]


def load_format_tasks(data_dir: str | Path | None = None) -> list[FormatTask]:
    """Format tasks: customer message, ticket id and product code in; the JSON reply as target."""
    tasks = []
    for rec in load_qa("format_tasks", data_dir):
        inp = rec.extra["input"]
        tasks.append(FormatTask(rec.id, inp["message"], inp["ticket_id"], inp["product_code"],
                                rec.extra.get("category", ""), rec.extra["split"], rec.extra["target"]))
    return tasks


def load_users(data_dir: str | Path | None = None) -> list[User]:
    """Users with the access labels their role may read.

    >>> [u.role for u in load_users()][:2]
    ['customer', 'customer']
    """
    text = _read_verified("users.json", data_dir)
    try:
        raw = json.loads(text)
        roles, users = raw["roles"], raw["users"]
    except (ValueError, KeyError, TypeError):
        raise DataError("users.json: must be a JSON object with 'roles' and 'users'") from None
    out = []
    for i, u in enumerate(users):
        where = f"users.json users[{i}]"
        _check_fields(u, {"user_id": "str", "name": "str", "role": tuple(roles)}, where)
        labels = tuple(roles[u["role"]])
        if not set(labels) <= set(ACCESS_LABELS):
            raise DataError(f"users.json roles.{u['role']}: labels must be among {ACCESS_LABELS}", FIX)
        out.append(User(u["user_id"], u["name"], u["role"], labels))
    return out


def load_reply_schema(data_dir: str | Path | None = None) -> dict:
    """The support-reply JSON schema (``data/reply_schema.json``)."""
    text = _read_verified("reply_schema.json", data_dir)
    try:
        return json.loads(text)
    except ValueError:
        raise DataError("reply_schema.json: not valid JSON") from None


def load_general_known(data_dir: str | Path | None = None) -> dict | None:
    """The stored `split_known` result, or None when it has not been measured yet."""
    folder = resolve_data_dir(data_dir)
    if "general_known.json" not in _load_manifest(folder)["files"] and not (folder / "general_known.json").exists():
        return None
    return json.loads(_read_verified("general_known.json", folder))
