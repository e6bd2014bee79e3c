"""Event contracts: versioned pydantic models, the only definition every service uses.

Every event has an id (for idempotent consumers), a type and schema version (to read old
messages), when it happened, and the key of the entity it is about (the Kafka message key).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, get_args
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    TypeAdapter,
    field_validator,
    model_validator,
)
from uuid_utils.compat import uuid7

from shared.addresses import EmailAddress
from shared.matching import Explanation, MatchKind
from shared.people import (
    MAX_RANKED_MENTORS,
    MAX_SKILLS,
    AspiredRole,
    Capacity,
    FullTimeShare,
    HoursPerMonth,
    Latitude,
    Longitude,
    MentorPreferences,
    Mode,
    PlacementMonths,
    PlacementPlaces,
    Role,
    Sector,
    SkillGap,
    SkillLevel,
    Weekday,
    WorkingPattern,
    refuse_repeated_skills,
    refuse_window_out_of_order,
)
from shared.regions import Region
from shared.text import FreeText, Identifier, Name, SingleLine
from shared.topics import Topic


def _now() -> datetime:
    return datetime.now(UTC)


def new_event_id() -> UUID:
    """A time-ordered id (UUIDv7, RFC 9562). Every consumer records each event's id in its
    ``processed_events`` (and the outbox keeps it unique): ids that grow with time are added
    at the right edge of those indexes, where random ones land on any page of them
    (docs/scaling.md, "Time-ordered event ids, a plain claim, and profiles stored as
    written")."""
    return uuid7()


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: ClassVar[Topic]

    event_id: UUID = Field(default_factory=new_event_id)
    # Strict: a version is a JSON integer, never "1" or 1.0 or true (the upcasters compare it).
    schema_version: StrictInt = 1
    occurred_at: datetime = Field(default_factory=_now)
    entity_key: str

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    def event_type_name(self) -> str:
        return str(getattr(self, "event_type", type(self).__name__))


# --- networks and trusts ------------------------------------------------------------------


class ProposalEmails(StrEnum):
    """How a coordinator hears of new proposals."""

    IMMEDIATE = "immediate"  # one email per proposal, as it is made
    DAILY = "daily"  # one email a day listing the new proposals


class Coordinator(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: SingleLine  # goes into an email's To header: one line, no control characters
    email: EmailAddress
    proposal_emails: ProposalEmails = ProposalEmails.IMMEDIATE


class MatchLifeSettings(BaseModel):
    """When a network's matches are followed up after the introduction (docs/outcomes.md):
    the reminder of a first conversation not yet held, the check-ins, and how long a proposal
    may wait for a decision before its coordinators are reminded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    first_conversation_days: int = Field(default=14, ge=1, le=365)
    check_in_days: tuple[int, ...] = Field(default=(30, 90), max_length=12)
    proposal_wait_days: int = Field(default=7, ge=1, le=365)

    @field_validator("check_in_days")
    @classmethod
    def _sorted_days(cls, days: tuple[int, ...]) -> tuple[int, ...]:
        if any(day < 1 or day > 3650 for day in days):
            raise ValueError("check-in days are between 1 and 3650")
        return tuple(sorted(set(days)))


class NetworkUpserted(Event):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    topic: ClassVar[Topic] = Topic.NETWORKS
    event_type: Literal["network.upserted"] = "network.upserted"

    network_id: Identifier
    name: Name
    # No count bound: the administrators' pages may take a network's last coordinator away.
    coordinators: tuple[Coordinator, ...]
    life: MatchLifeSettings = Field(default_factory=MatchLifeSettings)


class TrustContact(BaseModel):
    """Someone who acts for a trust: signs in to its pages, answers its consent requests."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: SingleLine  # an email's To header
    email: EmailAddress


class TrustUpserted(Event):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    topic: ClassVar[Topic] = Topic.NETWORKS
    event_type: Literal["trust.upserted"] = "trust.upserted"

    trust_code: Identifier
    name: Name  # a secondment introduction's To and Subject headers
    region: Region
    network_id: Identifier
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    is_small: bool = False
    # Where a secondment's introduction goes for this trust (its workforce or digital lead).
    contact_email: EmailAddress | None = None
    # Who signs in for the trust and answers its consent requests (docs/trusts.md).
    contacts: tuple[TrustContact, ...] = Field(default=(), max_length=50)


class TrustSignInRequested(Event):
    """A trust's contact asked for a sign-in link; the notifier emails it (a signed, single-use
    link). Keyed by the trust code, on the networks topic with the trust's other events."""

    topic: ClassVar[Topic] = Topic.NETWORKS
    event_type: Literal["trust.sign_in_requested"] = "trust.sign_in_requested"

    trust_code: str
    contact_email: EmailAddress


class ScoreWeights(BaseModel):
    """How much each part of a match's score counts (the engine normalises them to sum to 1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    skills: float = Field(gt=0, le=1)  # what a match is for: never ignored
    region: float = Field(ge=0, le=1)
    availability: float = Field(ge=0, le=1)
    preferences: float = Field(ge=0, le=1)
    text: float = Field(ge=0, le=1)


class MatchingWeightsApplied(Event):
    """A coordinator applied learned weights to their network's matching (docs/outcomes.md):
    the matcher scores the network's next rounds with them. Versions only go forward."""

    topic: ClassVar[Topic] = Topic.NETWORKS
    event_type: Literal["network.weights_applied"] = "network.weights_applied"

    network_id: str
    version: int = Field(ge=1)
    weights: ScoreWeights
    applied_by: str


# --- people ---------------------------------------------------------------------------------


class PersonProfile(BaseModel):
    """What the matcher and notifier need to know about a mentor or a mentee.

    Every field keeps the HTTP API's rule for it (shared/people.py, shared/text.py), spaces
    around text dropped as the API drops them: an event cannot bring in what the API refuses,
    whoever wrote it to the topic (tests/unit/test_event_limits.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    person_id: UUID
    role: Role
    # Names and titles go into emails' Subject and To headers.
    name: Name
    email: EmailAddress
    job_title: Name
    trust_code: Identifier
    network_id: Identifier
    region: Region
    mode: Mode
    working_pattern: WorkingPattern
    sector: Sector
    # Part-time: the days they work (empty when not given).
    working_days: tuple[Weekday, ...] = Field(default=(), max_length=5)
    # Mentors: what they can mentor, and how much (a paused mentor's capacity is 0).
    skills: tuple[SkillLevel, ...] = Field(default=(), max_length=MAX_SKILLS)
    capacity: Capacity = 0.0
    hours_per_month: HoursPerMonth = 0.0
    bio: FreeText = ""
    # Mentees: what they want to grow.
    gaps: tuple[SkillGap, ...] = Field(default=(), max_length=MAX_SKILLS)
    goals: FreeText = ""
    open_to_secondment: bool = False
    # Two-sided preferences (docs/matching.md, "Stated preferences"). Mentees: mentors they
    # have seen, best first, and mentors they will not be matched with; the role they aim for.
    ranked_mentors: tuple[UUID, ...] = Field(default=(), max_length=MAX_RANKED_MENTORS)
    excluded_mentors: tuple[UUID, ...] = Field(default=(), max_length=MAX_RANKED_MENTORS)
    aspires_to: AspiredRole | None = None
    # Mentors: whom they would rather help.
    prefers: MentorPreferences = MentorPreferences()

    @model_validator(mode="after")
    def _ranking_is_consistent(self) -> PersonProfile:
        ranked = set(self.ranked_mentors)
        if len(ranked) < len(self.ranked_mentors):
            raise ValueError("a mentor is ranked twice")
        if ranked & set(self.excluded_mentors):
            raise ValueError("a mentor is both ranked and excluded")
        return self

    @model_validator(mode="after")
    def _what_the_role_lists(self) -> PersonProfile:
        """As the API's MentorIn and MenteeIn: a mentor lists skills and a mentee gaps (at least
        one, each skill once), neither lists the other's, and a mentor states their capacity
        and hours."""
        mentor = self.role is Role.MENTOR
        listed, others = ("skills", self.gaps) if mentor else ("gaps", self.skills)
        codes = [item.skill for item in (self.skills if mentor else self.gaps)]
        if not codes:
            raise ValueError(f"a {self.role.value} lists at least one of {listed}")
        if others:
            raise ValueError(f"a {self.role.value} lists {listed} only")
        refuse_repeated_skills(codes)
        unstated = {"capacity", "hours_per_month"} - self.model_fields_set
        if mentor and unstated:
            raise ValueError(f"a mentor states {' and '.join(sorted(unstated))}")
        return self


class PersonUpserted(Event):
    topic: ClassVar[Topic] = Topic.PEOPLE
    event_type: Literal["person.upserted"] = "person.upserted"

    profile: PersonProfile


class PersonErased(Event):
    """UK GDPR erasure: every service forgets the person."""

    topic: ClassVar[Topic] = Topic.PEOPLE
    event_type: Literal["person.erased"] = "person.erased"

    person_id: UUID


class AvailabilityChanged(Event):
    topic: ClassVar[Topic] = Topic.PEOPLE
    event_type: Literal["availability.changed"] = "availability.changed"

    person_id: UUID
    paused: bool
    capacity: Capacity
    hours_per_month: HoursPerMonth
    # A pause with an end: the mentor is reminded that morning (docs/outcomes.md).
    paused_until: date | None = None


# --- secondment placements --------------------------------------------------------------


class PlacementProfile(BaseModel):
    """A placement as the API's PlacementIn has it (the same rules), with its network."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    placement_id: UUID
    host_trust_code: Identifier
    network_id: Identifier
    region: Region
    role: Name
    skills_developed: tuple[SkillLevel, ...] = Field(min_length=1, max_length=MAX_SKILLS)
    months: PlacementMonths
    fte: FullTimeShare
    places: PlacementPlaces
    start_from: date | None = None
    start_to: date | None = None
    # The host trust asks nobody back: the placement may start a chain (A <- B <- C), whose
    # proposals share an exchange_id ("chain-...") and are decided all or none like a cycle.
    asks_nothing_back: bool = False

    @model_validator(mode="after")
    def _as_the_api_has_it(self) -> PlacementProfile:
        refuse_repeated_skills([s.skill for s in self.skills_developed])
        refuse_window_out_of_order(self.start_from, self.start_to)
        return self


class PlacementUpserted(Event):
    topic: ClassVar[Topic] = Topic.PLACEMENTS
    event_type: Literal["placement.upserted"] = "placement.upserted"

    placement: PlacementProfile


class PlacementWithdrawn(Event):
    topic: ClassVar[Topic] = Topic.PLACEMENTS
    event_type: Literal["placement.withdrawn"] = "placement.withdrawn"

    placement_id: UUID


# --- matches ------------------------------------------------------------------------------


class MatchProposed(Event):
    topic: ClassVar[Topic] = Topic.PROPOSALS
    event_type: Literal["match.proposed"] = "match.proposed"

    match_id: UUID
    network_id: str
    kind: MatchKind
    provider_id: UUID  # the mentor, or the placement for a secondment
    mentee_id: UUID
    score: float
    explanation: Explanation
    # Secondments in one trust exchange cycle share an id: approve all of them or none.
    exchange_id: str | None = None


class MatchWithdrawn(Event):
    """A pending proposal that no longer stands: a better one replaced it, or someone left."""

    topic: ClassVar[Topic] = Topic.PROPOSALS
    event_type: Literal["match.withdrawn"] = "match.withdrawn"

    match_id: UUID
    network_id: str
    reason: str


class MatchByHand(BaseModel):
    """The pair a coordinator matched by hand, and the score and explanation they saw."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal[MatchKind.MENTORING] = MatchKind.MENTORING
    provider_id: UUID  # the mentor
    mentee_id: UUID
    score: float
    explanation: Explanation


class MatchDecided(Event):
    topic: ClassVar[Topic] = Topic.DECISIONS
    event_type: Literal["match.decided"] = "match.decided"

    match_id: UUID
    network_id: str
    approved: bool
    reason: str = ""
    decided_by: str
    # A match made by hand has no proposal before its decision: it travels here, and every
    # consumer keeps it as the proposal it stands for (``proposal``).
    by_hand: MatchByHand | None = None

    @model_validator(mode="after")
    def _made_by_hand_is_approved(self) -> MatchDecided:
        if self.by_hand is not None and not self.approved:
            raise ValueError("a match made by hand is an approved one")
        return self

    def proposal(self) -> MatchProposed | None:
        """The match made by hand as the proposal it stands for; None for a decision about
        the matcher's own proposal."""
        if self.by_hand is None:
            return None
        return MatchProposed(
            entity_key=self.entity_key,
            occurred_at=self.occurred_at,
            match_id=self.match_id,
            network_id=self.network_id,
            kind=self.by_hand.kind,
            provider_id=self.by_hand.provider_id,
            mentee_id=self.by_hand.mentee_id,
            score=self.by_hand.score,
            explanation=self.by_hand.explanation,
        )


# --- secondments: the trusts' consents and each secondment's life ----------------------------
# On the decisions topic, keyed by the match id: one secondment's events stay in order with its
# decision.


class ConsentParty(StrEnum):
    HOST = "host"  # the trust that hosts the placement accepts the candidate
    HOME = "home"  # the candidate's own trust agrees to release them


class ConsentRequested(Event):
    """The coordinator approved a secondment: ``party``'s trust is asked to consent by
    ``deadline`` (the notifier emails its contacts, and reminds them once before it)."""

    topic: ClassVar[Topic] = Topic.DECISIONS
    event_type: Literal["consent.requested"] = "consent.requested"

    match_id: UUID
    network_id: str
    party: ConsentParty
    trust_code: str
    deadline: datetime


class ConsentRecorded(Event):
    """A trust answered: ``given`` or refused (with its reason), by whom and how."""

    topic: ClassVar[Topic] = Topic.DECISIONS
    event_type: Literal["consent.recorded"] = "consent.recorded"

    match_id: UUID
    network_id: str
    party: ConsentParty
    trust_code: str
    given: bool
    reason: FreeText = ""
    answered_by: str
    via: str  # "web" or "email-link"


class SecondmentStatus(StrEnum):
    AGREED = "agreed"  # every consent given (every secondment of its exchange too)
    REFUSED = "refused"  # its host or home trust refused: the pair stays out of later rounds
    NOT_AGREED = "not_agreed"  # another secondment of its exchange was refused: all or none
    STARTED = "started"
    EXTENDED = "extended"  # a new end date
    ENDED = "ended"
    ENDED_EARLY = "ended_early"


class SecondmentChanged(Event):
    """A secondment's life after the coordinator's approval, as the profiles service records
    it: the matcher frees or keeps the place, the notifier introduces an agreed one."""

    topic: ClassVar[Topic] = Topic.DECISIONS
    event_type: Literal["secondment.changed"] = "secondment.changed"

    match_id: UUID
    network_id: str
    status: SecondmentStatus
    start_date: date | None = None
    end_date: date | None = None
    reason: FreeText = ""


class SecondmentRequestDecided(Event):
    """A member of staff asked (on their own page) to be considered for secondment, and their
    home trust's contact agreed (from now on they are a secondment candidate) or declined, with
    a reason. Keyed by the person, on the people topic with their profile's events."""

    topic: ClassVar[Topic] = Topic.PEOPLE
    event_type: Literal["secondment.request_decided"] = "secondment.request_decided"

    person_id: UUID
    trust_code: str
    agreed: bool
    reason: FreeText = ""
    decided_by: str


class GroupFigures(BaseModel):
    """One group's match rate in a round (the matcher's fairness report, as published)."""

    model_config = ConfigDict(frozen=True)

    label: str
    mentees: int = Field(ge=0)
    matched: int = Field(ge=0)
    match_rate: float | None = None
    mean_score: float | None = None


class GroupComparisonFigures(BaseModel):
    model_config = ConfigDict(frozen=True)

    group: str  # part_time, social_care, small_trust
    members: GroupFigures
    others: GroupFigures


class GroupTargetFigures(BaseModel):
    """One group's fairness target in a round, and how the round met it."""

    model_config = ConfigDict(frozen=True)

    group: str  # part_time, social_care, small_trust
    target_share: float = Field(ge=0, le=1, description="of the reference rate; 0 = no target")
    rate_to_overall: float | None = None
    reference: Literal["overall", "others"] = "overall"  # others: small trusts against large
    rate_to_reference: float | None = None  # the group's rate / the reference rate
    met: bool


class FairnessPriceFigures(BaseModel):
    """What a round's fairness targets cost: the total score given up to meet them."""

    model_config = ConfigDict(frozen=True)

    total_score: float
    free_total_score: float = Field(description="the round's optimum without targets")
    price: float = Field(description="free_total_score - total_score")
    price_pct: float
    bound_gap: float = Field(ge=0, description="the chosen total is certified within this")
    targets: tuple[GroupTargetFigures, ...]


class FairnessFigures(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: MatchKind
    overall: GroupFigures
    comparisons: tuple[GroupComparisonFigures, ...]
    # Optimal-mode mentoring rounds meet fairness targets; None for a stable-mode round.
    price: FairnessPriceFigures | None = None


class RoundCompleted(Event):
    """A network's matching round ran: its fairness figures, for the coordinators' view."""

    topic: ClassVar[Topic] = Topic.PROPOSALS
    event_type: Literal["round.completed"] = "round.completed"

    network_id: str
    fairness: FairnessFigures


class JoinEmailPurpose(StrEnum):
    CONFIRM_ADDRESS = "confirm_address"  # the link that confirms their address
    WELCOME = "welcome"  # a coordinator confirmed them: the link to their own page
    DECLINED = "declined"  # a coordinator declined them (and their details were deleted)


class SelfServiceLinkRequested(Event):
    """A participant asked for their self-service link; the notifier emails it to them.

    Only the person's id travels: the email address stays in the services' own tables."""

    topic: ClassVar[Topic] = Topic.PEOPLE
    event_type: Literal["self_service.link_requested"] = "self_service.link_requested"

    person_id: UUID


# --- after the introduction: a match's life (docs/outcomes.md) ------------------------------
# On the decisions topic, keyed by the match id: one match's decision and life stay in order.


class LifeActor(StrEnum):
    MENTOR = "mentor"  # the mentor (or, for a secondment, the host trust's contact)
    MENTEE = "mentee"  # the mentee (or the secondment's candidate)
    COORDINATOR = "coordinator"


class MatchOutcome(StrEnum):
    COMPLETED = "completed"
    ENDED_EARLY = "ended_early"  # the mentee may be matched again, never with this mentor
    NO_LONGER_NEEDED = "no_longer_needed"


class FirstConversationHeld(Event):
    """Either side (or a coordinator) confirmed the pair's first conversation took place."""

    topic: ClassVar[Topic] = Topic.DECISIONS
    event_type: Literal["match.first_conversation_held"] = "match.first_conversation_held"

    match_id: UUID
    network_id: str
    confirmed_by: LifeActor


class CheckInRecorded(Event):
    """One side's answer to a check-in due ``day`` days after the introduction."""

    topic: ClassVar[Topic] = Topic.DECISIONS
    event_type: Literal["match.checked_in"] = "match.checked_in"

    match_id: UUID
    network_id: str
    day: int = Field(ge=1, le=3650)
    by: LifeActor
    met: bool
    usefulness: int = Field(ge=1, le=5)
    note: FreeText = ""  # for the coordinator


class MatchClosed(Event):
    """The match ended. The mentor's capacity (or the placement's place) comes back; after
    ``ended_early`` the mentee is matched again, never with the same mentor. ``levels`` are the
    mentee's own re-assessment of the gaps the match covered."""

    topic: ClassVar[Topic] = Topic.DECISIONS
    event_type: Literal["match.closed"] = "match.closed"

    match_id: UUID
    network_id: str
    outcome: MatchOutcome
    by: LifeActor
    levels: tuple[SkillLevel, ...] = Field(default=(), max_length=MAX_SKILLS)
    reason: FreeText = ""


class MatchRestated(Event):
    """A match as the profiles service holds it: the proposal the matcher made, what the
    coordinators decided, and what became of it since (the secondment's state, the closing).
    ``bridgework republish --matches`` sends one per match, for a matcher rebuilt from nothing
    (docs/operations.md); a matcher that knows the match, and every other consumer, ignores
    it."""

    topic: ClassVar[Topic] = Topic.DECISIONS
    event_type: Literal["match.restated"] = "match.restated"

    match_id: UUID
    network_id: str
    kind: MatchKind
    provider_id: UUID
    mentee_id: UUID
    score: float
    explanation: Explanation
    exchange_id: str | None = None
    status: Literal["pending", "withdrawn", "approved", "rejected", "closed"]
    decided_at: datetime | None = None  # approved or rejected (closed: when it was approved)
    secondment: SecondmentStatus | None = None  # an approved secondment's latest state
    outcome: MatchOutcome | None = None  # a closed match's
    closed_at: datetime | None = None


class JoinEmailRequested(Event):
    """An email to someone who volunteered or applied and is not yet a person: the link that
    confirms their address, or the coordinators' polite no. Their address travels here because
    no service holds it as a person's (profiles keeps the application until it is decided)."""

    topic: ClassVar[Topic] = Topic.PEOPLE
    event_type: Literal["join.email_requested"] = "join.email_requested"

    application_id: UUID
    purpose: JoinEmailPurpose
    role: Role
    name: Name
    email: EmailAddress
    network_name: Name
    token_id: UUID | None = None  # the confirmation link's (purpose confirm_address)
    person_id: UUID | None = None  # who they now are (purpose welcome; the event's key)


AnyEvent = Annotated[
    NetworkUpserted
    | TrustUpserted
    | PersonUpserted
    | PersonErased
    | AvailabilityChanged
    | PlacementUpserted
    | PlacementWithdrawn
    | MatchProposed
    | MatchWithdrawn
    | MatchDecided
    | RoundCompleted
    | SelfServiceLinkRequested
    | FirstConversationHeld
    | CheckInRecorded
    | MatchClosed
    | MatchingWeightsApplied
    | JoinEmailRequested
    | TrustSignInRequested
    | ConsentRequested
    | ConsentRecorded
    | SecondmentChanged
    | MatchRestated
    | SecondmentRequestDecided,
    Field(discriminator="event_type"),
]

_ANY_EVENT: TypeAdapter[Any] = TypeAdapter(AnyEvent)
# Every event type the union knows, read off the union itself so the two cannot disagree.
EVENT_TYPES: frozenset[str] = frozenset(
    str(model.model_fields["event_type"].default) for model in get_args(get_args(AnyEvent)[0])
)


class UnreadableEvent(ValueError):
    """A message no consumer can read: it belongs on the dead-letter topic, with this reason.

    ``kind`` names the class of problem (for counting): malformed, unknown_type,
    unknown_version or invalid."""

    def __init__(self, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.kind = kind


# --- upcasting: old schema versions still in the log are read, not dropped -----------------

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


class Upcasters:
    """Per event type: the current schema version, and one step (vN -> vN+1) per older version.

    When an event's shape changes, bump its version here and register the step that turns the
    previous version's JSON into the new one: messages written before the change are still in
    the log (and replayed from it), and are read through the chain instead of dead-lettered."""

    def __init__(self) -> None:
        self._current: dict[str, int] = {}
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def current_version(self, event_type: str) -> int:
        return self._current.get(event_type, 1)

    def register(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        def add(step: Upcaster) -> Upcaster:
            self._steps[(event_type, from_version)] = step
            latest = max(self.current_version(event_type), from_version + 1)
            self._current[event_type] = latest
            return step

        return add

    def upcast(self, payload: Payload) -> Payload:
        event_type = str(payload["event_type"])
        current = self.current_version(event_type)
        version = payload.get("schema_version", 1)
        if not isinstance(version, int) or version > current or version < 1:
            raise UnreadableEvent(f"unsupported schema version {version}", "unknown_version")
        while version < current:
            step = self._steps.get((event_type, version))
            if step is None:
                raise UnreadableEvent(
                    f"unsupported schema version {version} (no upcaster to {current})",
                    "unknown_version",
                )
            payload = {**step(payload), "schema_version": version + 1}
            version += 1
        return payload


# Every event is at version 1 today: no steps yet. Register them here when a schema changes.
UPCASTERS = Upcasters()


def decode_event(raw: bytes | None, upcasters: Upcasters = UPCASTERS) -> Event:
    """Parse a Kafka message body into its event (old versions upcast to the current one), or
    say exactly why it cannot be read.

    Total: whatever the bytes, the answer is an event or an ``UnreadableEvent`` (the message's
    dead-letter reason), never another exception. A consumer that let one escape would retry
    the message for ever and hold up its partition (tests/unit/test_poison_messages.py throws
    arbitrary bytes and JSON at it)."""
    event = read_current_version(raw, upcasters)
    if event is not None:
        return event
    try:
        return read_step_by_step(raw, upcasters)
    except UnreadableEvent:
        raise
    except RecursionError as error:
        raise UnreadableEvent(
            "not a valid Bridgework event: nested too deeply", "malformed"
        ) from error
    except Exception as error:  # e.g. an upcaster surprised by a value's type
        raise UnreadableEvent(
            f"not a valid Bridgework event: {type(error).__name__} while reading it", "malformed"
        ) from error


def read_step_by_step(raw: bytes | None, upcasters: Upcasters = UPCASTERS) -> Event:
    """Parse, check the type, upcast, validate: each step names what is wrong
    (``UnreadableEvent``); ``decode_event`` turns any other exception into one."""
    try:
        payload = json.loads(raw) if raw is not None else None
    except ValueError as error:
        raise UnreadableEvent(f"not a valid Bridgework event: {error}", "malformed") from error
    if not isinstance(payload, dict):
        raise UnreadableEvent("not a valid Bridgework event: not a JSON object", "malformed")
    event_type = payload.get("event_type")
    if not isinstance(event_type, str):
        raise UnreadableEvent(
            f"not a valid Bridgework event: event_type is {_json_type(event_type)}, not a string",
            "unknown_type",
        )
    if event_type not in EVENT_TYPES:
        raise UnreadableEvent(
            f"not a valid Bridgework event: unknown event type {event_type[:100]!r}",
            "unknown_type",
        )
    payload = upcasters.upcast(payload)
    try:
        event: Event = _ANY_EVENT.validate_python(payload)
    except ValueError as error:
        raise UnreadableEvent(f"not a valid Bridgework event: {error}", "invalid") from error
    return event


def read_current_version(raw: bytes | None, upcasters: Upcasters = UPCASTERS) -> Event | None:
    """The common case in one pass: the bytes of a valid event at its current version, parsed
    and validated together by pydantic-core, without building Python objects for the JSON
    first. None for anything else (an older version to upcast, or bytes that do not validate),
    which ``read_step_by_step`` reads or explains. What this takes, the step-by-step path takes
    as the same event (``schema_version`` is strict for that: a property test in
    tests/unit/test_poison_messages.py)."""
    if raw is None:
        return None
    try:
        event: Event = _ANY_EVENT.validate_json(raw)
    except Exception:  # whatever it is, the step-by-step path names it
        return None
    if event.schema_version != upcasters.current_version(event.event_type_name()):
        return None
    return event


def _json_type(value: object) -> str:
    """What a JSON value is, named without printing it (it may be nested thousands deep)."""
    names = {dict: "an object", list: "a list", bool: "a boolean", int: "a number"}
    names |= {float: "a number", type(None): "missing or null"}
    return names.get(type(value), "not a string")
