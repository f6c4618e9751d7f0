"""The course company's page texts: every wiki page and the style guide, with their fact slots.

A page is a :class:`PageSpec`: Markdown sections with ``{slot}`` placeholders, and a
:class:`FactSlot` per placeholder holding its value and three phrasings of the question it
answers. A value is a :class:`Val`: the canonical text plus variants an answer may use instead.
The generator (:mod:`labkit.course.world`) fills the slots with v1 values, then applies the change
log for v2. This module is data written as code; only the generator reads it.

>>> months(24).answers
['24 months', '24', '2 years']
>>> on_date(date(2024, 3, 1)).answers
['2024-03-01', '1 March 2024', 'March 1, 2024']
>>> reply_schema()["required"]
['ticket_id', 'category', 'summary', 'steps', 'sign_off']
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from labkit.course.data import COMPANY, REPLY_CATEGORIES, SIGN_OFF

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")


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


def unit(n: int, name: str) -> Val:
    return Val(f"{n} {name}", (str(n),))


def days(n: int) -> Val: return unit(n, "days")
def business_days(n: int) -> Val: return unit(n, "business days")
def months(n: int) -> Val:
    """Months; whole years are accepted too ("24 months" may be answered "2 years")."""
    if n % 12:
        return unit(n, "months")
    years = n // 12
    return Val(f"{n} months", (str(n), f"{years} year" + ("s" if years > 1 else "")))
def weeks(n: int) -> Val: return unit(n, "weeks")
def hours(n: int) -> Val: return unit(n, "hours")
def money(n: int) -> Val: return Val(f"${n}.00", (str(n),))
def percent(n: int) -> Val: return Val(f"{n}%", (f"{n} percent",))
def txt(s: str, *variants: str) -> Val: return Val(s, variants)


def on_date(d: date) -> Val:
    month = MONTHS[d.month - 1]
    return Val(d.isoformat(), (f"{d.day} {month} {d.year}", f"{month} {d.day}, {d.year}"))


def clock(hhmm: str) -> Val:
    h = int(hhmm[:2])
    twelve = f"{h % 12 or 12} {'am' if h < 12 else 'pm'}"
    return Val(hhmm, (twelve,))


def firmware(v: str) -> Val:
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


def phrasings(*qs: str) -> tuple[str, str, str]:
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
            F("return_window", "return window", days(30), phrasings(
                "How long do customers have to return a Quillmoor product?",
                "What is Quillmoor's return window?",
                "Within how many days of delivery can a customer send a Quillmoor product back?"),
              v2=days(45)),
            F("restocking_fee", "restocking fee", percent(15), phrasings(
                "What restocking fee does Quillmoor charge on opened items that are not faulty?",
                "How large is the restocking fee for an opened, working Quillmoor return?",
                "If an opened product that works fine is returned, what percentage is kept as a restocking fee?")),
            F("refund_time", "refund time", business_days(7), phrasings(
                "How quickly are Quillmoor refunds issued once a return arrives?",
                "Within what time does Quillmoor issue a refund after receiving a return?",
                "After a returned item reaches the warehouse, how long until the refund is issued?")),
            F("returns_warehouse", "returns warehouse", txt("Brackenfold"), phrasings(
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
            F("standard_warranty", "standard warranty", months(12), phrasings(
                "How long is the standard Quillmoor warranty?",
                "For how many months are Quillmoor instruments covered against manufacturing defects?",
                "What is the length of the warranty on a Quillmoor device?"), v2=months(24)),
            F("extended_price", "extended cover price", money(49), phrasings(
                "How much does Quillmoor extended warranty cover cost per device per year?",
                "What is the yearly price of extended cover for a Quillmoor device?",
                "Per device and year, what does Quillmoor charge for extended cover?")),
            F("claim_window", "claim window", days(14), phrasings(
                "Within how many days of noticing a defect must a Quillmoor warranty claim be reported?",
                "How soon after spotting a defect must a customer report it under the Quillmoor warranty?",
                "What is the deadline for reporting a defect for a Quillmoor warranty claim?")),
            F("claims_team", "claims team", txt("Warranty Claims Desk"), phrasings(
                "Which team handles Quillmoor warranty claims?",
                "Who processes warranty claims at Quillmoor?",
                "Warranty claims at Quillmoor go to which team?")),
        )),
        P("shipping", "Shipping Policy", "public", (
            ("Costs", "Orders over {free_threshold} ship free. Express delivery costs {express_fee}."),
            ("Delivery times", "Standard delivery takes {standard_delivery}. All parcels travel with "
             "our courier partner {carrier}."),
        ), (
            F("free_threshold", "free shipping threshold", money(50), phrasings(
                "Above what order value does Quillmoor ship for free?",
                "What is the free-shipping threshold for Quillmoor orders?",
                "How much must a Quillmoor order exceed to qualify for free shipping?"), v2=money(75)),
            F("express_fee", "express fee", money(18), phrasings(
                "How much does Quillmoor charge for express delivery?",
                "What is the express delivery fee at Quillmoor?",
                "What does express shipping cost on a Quillmoor order?")),
            F("standard_delivery", "standard delivery time", business_days(5), phrasings(
                "How long does standard delivery take for Quillmoor orders?",
                "What is Quillmoor's standard delivery time?",
                "With standard shipping, how long does a Quillmoor parcel take to arrive?")),
            F("carrier", "courier partner", txt("Larkspur Parcel"), phrasings(
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
            F("password_rotation", "password rotation period", days(90), phrasings(
                "How often must Quillmoor staff rotate their passwords?",
                "What is the password rotation period for Quillmoor staff?",
                "After how many days does a Quillmoor staff password have to be changed?"), v2=days(60)),
            F("password_length", "minimum password length", unit(14, "characters"), phrasings(
                "What is the minimum length of a Quillmoor staff password?",
                "How many characters must a Quillmoor staff password have at least?",
                "How long must staff passwords at Quillmoor be?")),
            F("screen_lock", "screen lock delay", unit(5, "minutes"), phrasings(
                "After how long without input do Quillmoor laptops lock?",
                "What is the automatic screen-lock delay on Quillmoor staff laptops?",
                "How many idle minutes before a Quillmoor laptop locks itself?")),
            F("phishing_ext", "phishing extension", txt("4417"), phrasings(
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
            F("onboarding_owner", "onboarding owner", txt("People Operations"), phrasings(
                "Which Quillmoor team ships laptops to new starters?",
                "Who sends a new Quillmoor employee their laptop?",
                "New starters at Quillmoor receive their laptop from which team?")),
            F("laptop_lead", "laptop lead time", unit(3, "days"), phrasings(
                "How many days before their first day do Quillmoor new starters receive a laptop?",
                "How far ahead of day one is a new starter's laptop shipped at Quillmoor?",
                "What is the lead time for shipping a laptop to a Quillmoor new starter?")),
            F("buddy_period", "buddy period", weeks(4), phrasings(
                "For how long is a new Quillmoor starter paired with a buddy?",
                "How long does the Quillmoor onboarding buddy arrangement last?",
                "What is the length of the buddy period for new Quillmoor employees?"), v2=weeks(6)),
            F("training_modules", "number of training modules", unit(8, "modules"), phrasings(
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
            F("education_discount", "education discount", percent(15), phrasings(
                "What education discount does Quillmoor give schools and universities?",
                "How big is Quillmoor's education discount?",
                "What percentage off do universities get from Quillmoor?"), v2=percent(20)),
            F("volume_threshold", "volume pricing threshold", unit(25, "units"), phrasings(
                "From how many units per order does Quillmoor volume pricing start?",
                "What is the minimum order size for Quillmoor volume pricing?",
                "How many units must an order contain to get Quillmoor volume pricing?")),
            F("quote_validity", "quote validity", days(30), phrasings(
                "How long is a written Quillmoor quote valid?",
                "What is the validity period of a Quillmoor sales quote?",
                "For how many days does a Quillmoor quote remain valid?")),
            F("price_match", "price-match window", days(10), phrasings(
                "Within how many days must a lower price be reported for Quillmoor to match it?",
                "What is Quillmoor's price-match window?",
                "How long do customers have to report a cheaper advertised price to get a price match?")),
        )),
        P("data-retention", "Data Retention Policy", "staff", (
            ("Retention periods", "Support ticket records are kept for {ticket_retention}. Call "
             "recordings are deleted after {call_recordings}. Backups are kept for {backup_retention}."),
            ("Deletion requests", "Deletion requests are handled by the {deletion_team}."),
        ), (
            F("ticket_retention", "ticket record retention", months(36), phrasings(
                "How long does Quillmoor keep support ticket records?",
                "What is the retention period for Quillmoor ticket records?",
                "For how many months are support tickets retained at Quillmoor?")),
            F("call_recordings", "call recording retention", days(90), phrasings(
                "After how long are Quillmoor support call recordings deleted?",
                "What is the retention period for call recordings at Quillmoor?",
                "How long does Quillmoor keep recordings of support calls?"), v2=days(60)),
            F("backup_retention", "backup retention", days(35), phrasings(
                "How long are Quillmoor backups kept?",
                "What is the backup retention period at Quillmoor?",
                "For how many days does Quillmoor retain backups?")),
            F("deletion_team", "deletion team", txt("Records Office"), phrasings(
                "Which Quillmoor team handles data deletion requests?",
                "Who processes deletion requests at Quillmoor?",
                "Data deletion requests at Quillmoor go to which team?")),
        )),
        P("support-hours", "Support Hours", "public", (
            ("Opening hours", "The support line opens at {weekday_open} and closes at {weekday_close} on "
             "weekdays. On Saturdays it is open from {saturday_hours}."),
            ("Phone", "Call us on {support_phone}."),
        ), (
            F("weekday_open", "weekday opening time", clock("08:00"), phrasings(
                "What time does the Quillmoor support line open on weekdays?",
                "When does Quillmoor phone support start on a weekday?",
                "At what hour does Quillmoor support open Monday to Friday?")),
            F("weekday_close", "weekday closing time", clock("18:00"), phrasings(
                "What time does the Quillmoor support line close on weekdays?",
                "When does Quillmoor phone support end on a weekday?",
                "At what hour does Quillmoor support close Monday to Friday?"), v2=clock("19:00")),
            F("saturday_hours", "Saturday hours", txt("09:00 to 13:00", "9 am to 1 pm"), phrasings(
                "What are Quillmoor's Saturday support hours?",
                "When is the Quillmoor support line open on Saturdays?",
                "During which hours can customers reach Quillmoor support on a Saturday?")),
            F("support_phone", "support phone number", txt("020 7946 0417"), phrasings(
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
            F("annual_leave", "annual leave", days(25), phrasings(
                "How many days of annual leave do full-time Quillmoor staff get?",
                "What is the annual leave allowance at Quillmoor?",
                "How much yearly leave does a full-time Quillmoor employee receive?"), v2=days(27)),
            F("carryover", "leave carry-over", days(5), phrasings(
                "How many days of leave can Quillmoor staff carry into the next year?",
                "What is the maximum leave carry-over at Quillmoor?",
                "How much unused leave may a Quillmoor employee carry over?")),
            F("leave_notice", "leave notice", days(14), phrasings(
                "How much notice does a Quillmoor leave request need?",
                "What notice period applies to leave requests at Quillmoor?",
                "How far in advance must Quillmoor staff request leave?")),
            F("founders_day", "Founders' Day date", txt("14 March", "March 14"), phrasings(
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
            F("p1_response", "priority-one response time", hours(4), phrasings(
                "How fast must a priority-one Quillmoor ticket get a first response?",
                "What is the first-response target for priority-one tickets at Quillmoor?",
                "Within how many hours is a priority-one ticket answered at Quillmoor?"), v2=hours(2)),
            F("p1_channel", "priority-one channel", txt("#qm-incident-bridge", "qm-incident-bridge"), phrasings(
                "In which channel are Quillmoor priority-one tickets coordinated?",
                "Where do Quillmoor staff coordinate priority-one tickets?",
                "What chat channel is used for priority-one incidents at Quillmoor?")),
            F("tier2_after", "Tier 2 escalation time", hours(48), phrasings(
                "After how long does an open Quillmoor ticket move to Tier 2 Engineering?",
                "When is a still-open ticket escalated to Tier 2 at Quillmoor?",
                "How many hours can a Quillmoor ticket stay open before going to Tier 2 Engineering?")),
            F("escalation_manager", "escalation manager", txt("Odalys Fenwright", "Fenwright"), phrasings(
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
            F("meal_allowance", "meal allowance", money(40), phrasings(
                "What is the daily meal allowance on Quillmoor business travel?",
                "How much can Quillmoor staff spend on meals per travel day?",
                "What per-day meal allowance does Quillmoor pay when travelling?"), v2=money(45)),
            F("mileage_rate", "mileage rate", txt("$0.45 per mile", "0.45"), phrasings(
                "At what rate does Quillmoor pay mileage?",
                "What is the Quillmoor mileage rate?",
                "How much per mile does Quillmoor reimburse for driving?")),
            F("receipt_threshold", "receipt threshold", money(25), phrasings(
                "Above what amount does a Quillmoor expense item need a receipt?",
                "What is the receipt threshold for Quillmoor expense claims?",
                "From what value must staff attach a receipt to a Quillmoor expense?")),
            F("claim_deadline", "expense claim deadline", days(21), phrasings(
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
            F("repair_centre", "repair centre", txt("Tarnwick"), phrasings(
                "Where is the Quillmoor repair centre?",
                "At which site does Quillmoor carry out out-of-warranty repairs?",
                "Which Quillmoor location handles repairs?")),
            F("repair_turnaround", "repair turnaround", business_days(10), phrasings(
                "What is the typical turnaround for a Quillmoor repair?",
                "How long does a Quillmoor out-of-warranty repair usually take?",
                "How many business days does Quillmoor typically need for a repair?")),
            F("diagnostic_fee", "diagnostic fee", money(35), phrasings(
                "How much is the Quillmoor repair diagnostic fee?",
                "What diagnostic fee does Quillmoor charge for repairs?",
                "What does Quillmoor charge to diagnose a device sent for repair?"), v2=money(40)),
            F("repair_guarantee", "repair guarantee", days(90), phrasings(
                "How long are parts repaired by Quillmoor guaranteed?",
                "What guarantee does Quillmoor give on repaired parts?",
                "For how many days is a Quillmoor repair guaranteed?")),
        )),
        P("contact", "Contacting Quillmoor", "public", (
            ("Email", "Write to {support_email}. We reply within {email_reply}."),
            ("Head office", "Our head office is at {hq_address}."),
        ), (
            F("support_email", "support email", txt("care@quillmoor.example"), phrasings(
                "What is Quillmoor's customer support email address?",
                "Which email address reaches Quillmoor support?",
                "Where should customers email Quillmoor for support?")),
            F("email_reply", "email reply time", unit(1, "business day"), phrasings(
                "How quickly does Quillmoor reply to support emails?",
                "What is Quillmoor's email response time?",
                "Within how long can a customer expect an answer to an email to Quillmoor?")),
            F("hq_address", "head office address", txt("1 Gildersleeve Court, Emberlee"), phrasings(
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
            F("support_window", "firmware support window", unit(5, "years"), phrasings(
                "For how long after release does a Quillmoor product receive firmware updates?",
                "What is the firmware support window for Quillmoor products?",
                "How many years of firmware updates does a Quillmoor device get?")),
            F("update_service", "update service", txt("Relay"), phrasings(
                "Through which service does Quillmoor deliver firmware updates?",
                "What is the name of the Quillmoor firmware update service?",
                "Quillmoor firmware updates reach devices via which service?")),
            F("beta_group", "beta group size", unit(200, "customers"), phrasings(
                "How large is the Quillmoor firmware beta group?",
                "To how many customers does a new Quillmoor firmware go first?",
                "What is the size of the beta group for Quillmoor firmware releases?")),
            F("rollback_threshold", "rollback threshold", percent(2), phrasings(
                "What share of devices reporting errors triggers a Quillmoor firmware rollback?",
                "At what error rate does a Quillmoor firmware release roll back?",
                "What is the automatic rollback threshold for Quillmoor firmware?")),
        )),
        P("privacy", "Customer Privacy Notice", "public", (
            ("Your data", "Our data protection officer is {dpo}. Requests for a copy of your data are "
             "answered within {access_request}."),
            ("Cookies", "Analytics cookies expire after {cookie_lifetime}."),
        ), (
            F("dpo", "data protection officer", txt("Maren Dunhollow", "Dunhollow"), phrasings(
                "Who is Quillmoor's data protection officer?",
                "Which person is the data protection officer at Quillmoor?",
                "Name Quillmoor's data protection officer.")),
            F("access_request", "data access request time", unit(28, "days"), phrasings(
                "Within how many days does Quillmoor answer a request for a copy of a customer's data?",
                "How quickly are data access requests answered by Quillmoor?",
                "What is Quillmoor's deadline for answering a personal data copy request?")),
            F("cookie_lifetime", "analytics cookie lifetime", months(13), phrasings(
                "After how long do Quillmoor analytics cookies expire?",
                "What is the lifetime of Quillmoor analytics cookies?",
                "How many months do Quillmoor analytics cookies last?")),
        )),
    ]


def _warehouse_page() -> PageSpec:
    sections, facts = [("Dispatch", "Orders placed before {dispatch_cutoff} leave the same day.")], [
        FactSlot("dispatch_cutoff", "dispatch cut-off", clock("15:00"), phrasings(
            "What is the same-day dispatch cut-off time at Quillmoor warehouses?",
            "Before what time must an order be placed to leave a Quillmoor warehouse the same day?",
            "By what time do orders need to be in for same-day dispatch from Quillmoor?"))]
    for name, code, address, manager in WAREHOUSES:
        key = name.lower()
        sections.append((f"{name} ({code})", f"Address: {{{key}_address}}. Site manager: {{{key}_manager}}."))
        facts += [
            FactSlot(f"{key}_address", f"{name} address", txt(address), phrasings(
                f"What is the address of the {name} warehouse?",
                f"Where is Quillmoor's {name} warehouse located?",
                f"At which address is the {name} warehouse?")),
            FactSlot(f"{key}_manager", f"{name} site manager", txt(manager, manager.split()[-1]), phrasings(
                f"Who manages the {name} warehouse?",
                f"Who is the site manager of the {name} warehouse?",
                f"Name the manager of Quillmoor's {name} warehouse.")),
        ]
    return PageSpec("warehouses", "Warehouses", "staff", tuple(sections), tuple(facts))


def _restricted_pages() -> list[PageSpec]:
    """Pages whose facts only finance or security staff may read."""
    margin_facts = [FactSlot(f"margin_{c.lower()}", f"{c} margin target", percent(m), phrasings(
        f"What is the gross margin target for the {c} category?",
        f"Which gross margin does Quillmoor aim for on {c}?",
        f"What margin target applies to Quillmoor {c} products?")) for c, m in MARGINS.items()]
    margin_rows = "\n".join(f"| {c} | {{margin_{c.lower()}}} |" for c in MARGINS)
    margins = PageSpec("finance-margins", "Pricing Margins (Finance only)", "finance", (
        ("Margin targets", "| Category | Gross margin target |\n| --- | --- |\n" + margin_rows),
        ("Discount approval", "Sales staff may grant discounts up to {rep_discount_limit}. Anything "
         "larger needs approval from the finance director, {finance_director}."),
    ), (*margin_facts,
        FactSlot("rep_discount_limit", "sales discount limit", percent(10), phrasings(
            "Up to what discount may Quillmoor sales staff grant without approval?",
            "What is the largest discount a Quillmoor salesperson can give on their own?",
            "What discount limit applies to Quillmoor sales staff?")),
        FactSlot("finance_director", "finance director", txt("Ilse Marrowby", "Marrowby"), phrasings(
            "Who must approve discounts above the Quillmoor sales limit?",
            "Who is Quillmoor's finance director?",
            "Which person approves large discounts at Quillmoor?"))))
    vendor_sections, vendor_facts = [], []
    for name, supplies, terms, value in SUPPLIERS:
        key = name.split()[0].lower()
        vendor_sections.append((name, f"Supplies {supplies}. Payment terms: {{{key}_terms}}. "
                                      f"Annual contract value: {{{key}_value}}."))
        vendor_facts += [
            FactSlot(f"{key}_terms", f"{name} payment terms", days(terms), phrasings(
                f"What are Quillmoor's payment terms with {name}?",
                f"How many days does Quillmoor have to pay {name}?",
                f"Which payment terms apply to the {name} contract?")),
            FactSlot(f"{key}_value", f"{name} contract value", Val(f"${value:,}", (str(value),)), phrasings(
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
            FactSlot(f"{key}_date", f"{inc_id} date", on_date(when), phrasings(
                f"When was security incident {inc_id} detected?",
                f"On what date did Quillmoor detect incident {inc_id}?",
                f"What is the detection date of incident {inc_id}?")),
            FactSlot(f"{key}_accounts", f"{inc_id} accounts affected", unit(accounts, "accounts"), phrasings(
                f"How many accounts were affected by security incident {inc_id}?",
                f"What number of accounts did incident {inc_id} affect?",
                f"How many customer accounts were hit in incident {inc_id}?")),
            FactSlot(f"{key}_cause", f"{inc_id} root cause", txt(cause), phrasings(
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
        FactSlot("sign_off", "house sign-off", txt(SIGN_OFF), phrasings(
            "What sign-off must every Quillmoor support reply end with?",
            "How does the house style guide require Quillmoor replies to be signed off?",
            "Which closing line do Quillmoor support replies use?")),
        FactSlot("summary_limit", "summary length limit", unit(200, "characters"), phrasings(
            "What is the maximum length of the summary in a Quillmoor support reply?",
            "How long may a support reply summary be under the Quillmoor house style?",
            "What character limit applies to the summary field of a Quillmoor reply?")),
        FactSlot("max_steps", "maximum number of steps", unit(5, "steps"), phrasings(
            "At most how many steps may a Quillmoor support reply list?",
            "What is the maximum number of steps in a Quillmoor reply?",
            "How many steps can a Quillmoor support reply contain at most?")),
        FactSlot("reply_language", "reply language", txt("British English"), phrasings(
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


