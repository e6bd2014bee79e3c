"""What a matching round reads from the matcher's tables, and the rules that decide who is
still open for a match (capacity left after approved matches, a mentee's searches still open,
a placement's places left). The rules are pure functions of a row's values."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ConfigDict

from services.matcher.engine.contract import (
    MatchingInput,
    MenteeInput,
    MentorInput,
    PendingProposal,
    PlacementInput,
    TrustInfo,
)
from shared.events import PlacementProfile
from shared.matching import MatchKind
from shared.people import (
    AspiredRole,
    MentorPreferences,
    Mode,
    Role,
    Sector,
    SkillGap,
    SkillLevel,
    WorkingPattern,
)
from shared.regions import Region

Row = Mapping[str, Any]  # a database row, or any mapping of the same columns
Value = TypeVar("Value")

PairKey = tuple[str, str, str]  # (kind, provider id, mentee id)

# A mentee's search for a kind of match is over while one is approved, or once one closed
# other than early (completed, no longer needed); ended early, they are matched again
# (docs/outcomes.md). ``a`` is the proposal.
SEARCH_OVER = "(a.status = 'approved' OR (a.status = 'closed' AND a.outcome <> 'ended_early'))"
# Pairs never proposed again: the rejected ones, and matches that ran and closed.
NEVER_AGAIN = ("rejected", "closed")


@dataclass(frozen=True)
class RoundInput:
    data: MatchingInput
    pending_match_ids: dict[PairKey, UUID]


@dataclass(frozen=True)
class RoundRows:
    """A network's rows as its round reads them, before they become the engine's input."""

    trusts: Sequence[Row]
    people: Sequence[Row]
    placements: Sequence[Row]
    proposals: list[Row]
    profiles_read: int = 0  # stored profiles read from the database (the others were kept)
    network_id: str = ""


async def read_round_rows(
    conn: asyncpg.Connection, network_id: str, profiles: StoredProfiles | None = None
) -> RoundRows:
    """What the network's round works with: capacity not taken by approved matches, mentees
    still seeking each kind of match, pending proposals (kept unless clearly beaten), pairs
    rejected before or whose match closed. A person's stored profile is read only when
    ``profiles`` (kept by the process between rounds) does not have their row's version: a
    round reads its whole network, but between two rounds only the people who changed."""
    trusts = await conn.fetch("SELECT * FROM trusts WHERE network_id = $1", network_id)
    # Only a mentor provides (a placement is not a person), and a mentee's two counts come
    # from one look into their proposals: three lookups a person were about 40 % of this read.
    people = await conn.fetch(
        f"""
        SELECT p.id, p.role, p.network_id, p.paused, p.capacity, p.hours_per_month,
          {ROW_VERSION} AS version,
          CASE WHEN p.role = 'mentor' THEN
            (SELECT count(*) FROM proposals a WHERE a.provider_id = p.id AND a.status = 'approved')
          ELSE 0 END AS approved_as_provider,
          coalesce(s.mentoring, 0) AS approved_mentoring,
          coalesce(s.secondment, 0) AS approved_secondment
        FROM people p LEFT JOIN LATERAL (
          SELECT count(*) FILTER (WHERE a.kind = 'mentoring') AS mentoring,
            count(*) FILTER (WHERE a.kind = 'secondment') AS secondment
          FROM proposals a WHERE a.mentee_id = p.id AND {SEARCH_OVER}
        ) s ON true
        WHERE p.network_id = $1
        """,
        network_id,
    )
    profiles = StoredProfiles() if profiles is None else profiles
    fresh = sum(1 for r in people if profiles.get(r["id"], r["version"]) is None)
    people = await with_profiles(conn, people, profiles)
    placements = await conn.fetch(
        """
        SELECT pl.profile, (SELECT count(*) FROM proposals a
                            WHERE a.provider_id = pl.id AND a.status = 'approved') AS taken
        FROM placements pl WHERE pl.network_id = $1
        """,
        network_id,
    )
    proposals = await conn.fetch(
        """
        SELECT match_id, kind, provider_id, mentee_id, exchange_id, status FROM proposals
        WHERE network_id = $1 AND status = ANY($2::text[])
        """,
        network_id,
        ["pending", *NEVER_AGAIN],
    )
    return RoundRows(
        trusts, people, placements, proposals, profiles_read=fresh, network_id=network_id
    )


# A row's version: the transaction that wrote it and where. Every update writes a new row
# version (PostgreSQL's MVCC), with its writer's transaction id, at a new place: two updates in
# one transaction differ by place, two at one place (after a vacuum) by transaction.
ROW_VERSION = "p.xmin::text || ':' || p.ctid::text"


class PerPerson(Generic[Value]):
    """One value a person (or a proposal: any id), served only under the key it was put with
    (a row's version, a profile's text): a stale entry is never used, and a person's newer value
    replaces the old one, so the size follows the people. Bounded: past ``max_size`` people it
    starts again."""

    def __init__(self, max_size: int) -> None:
        self._max_size = max_size
        self._values: dict[UUID, tuple[str, Value]] = {}

    def __len__(self) -> int:
        return len(self._values)

    def get(self, person_id: UUID, key: str) -> Value | None:
        known = self._values.get(person_id)
        return known[1] if known is not None and known[0] == key else None

    def put(self, person_id: UUID, key: str, value: Value) -> None:
        if len(self._values) >= self._max_size and person_id not in self._values:
            self._values.clear()  # rare (more people than max_size): start again
        self._values[person_id] = (key, value)


class StoredProfiles(PerPerson[str]):
    """Stored profiles (as JSON text) by person, each with the version of its row
    (``ROW_VERSION``), so that a reader asks the database only for the profiles that are new or
    changed since it last read them."""

    def __init__(self, max_size: int = 20_000) -> None:
        super().__init__(max_size)


async def with_profiles(
    conn: asyncpg.Connection, rows: Sequence[Row], profiles: StoredProfiles
) -> list[Row]:
    """``rows`` (each with the person's ``id`` and row ``version``) with their stored profile as
    ``profile_json``, read from the database only where ``profiles`` lacks that version. In one
    snapshot (a round's) the second read finds the versions of the first. Outside one (a batch
    of arrivals), a profile changed between the two reads is taken as it is now: only the
    profile comes from the second read, the rest of each row from the first."""
    unknown = [r["id"] for r in rows if profiles.get(r["id"], r["version"]) is None]
    fresh = await read_profiles(conn, unknown, profiles)
    return [
        {**r, "profile_json": profile}
        for r in rows
        if (profile := fresh.get(r["id"]) or profiles.get(r["id"], r["version"])) is not None
    ]


async def read_profiles(
    conn: asyncpg.Connection, person_ids: Sequence[UUID], profiles: StoredProfiles
) -> dict[UUID, str]:
    """The stored profiles of ``person_ids`` as they are now, each kept in ``profiles`` at its
    row's version."""
    fresh: dict[UUID, str] = {}
    if person_ids:
        for r in await conn.fetch(
            f"SELECT p.id, {ROW_VERSION} AS version, p.profile::text AS profile_json"
            " FROM people p WHERE p.id = ANY($1::uuid[])",
            person_ids,
        ):
            profiles.put(r["id"], r["version"], r["profile_json"])
            fresh[r["id"]] = r["profile_json"]
    return fresh


def round_input(rows: RoundRows) -> RoundInput:
    """The engine's input from a round's rows: CPU-bound in a large network (a mentee built
    per person, a pending proposal per match), so a round builds it in a worker thread, not on
    the event loop the consumer's batches share. What was built from rows that
    have not changed since the network's last round in this process is reused (``round_mentee``,
    ``round_pending``): between two rounds of a network, only its newcomers and the people and
    proposals that changed cost anything. What this round built replaces what the last one
    kept (``KeptInputs``)."""
    earlier, now = kept_inputs(rows.network_id), KeptInputs()
    pending = {
        row["match_id"]: round_pending(row, earlier, now)
        for row in rows.proposals
        if row["status"] == "pending"
    }
    data = MatchingInput(
        trusts=tuple(trust_info(row) for row in rows.trusts),
        mentors=tuple(
            m for row in rows.people if row["role"] == Role.MENTOR and (m := open_mentor(row))
        ),
        mentees=tuple(
            e
            for row in rows.people
            if row["role"] == Role.MENTEE and (e := round_mentee(row, earlier, now))
        ),
        placements=tuple(p for row in rows.placements if (p := open_placement(row))),
        rejected_pairs=frozenset(
            (str(r["provider_id"]), str(r["mentee_id"]))
            for r in rows.proposals
            if r["status"] in NEVER_AGAIN
        ),
        pending=tuple(proposal for _, proposal in pending.values()),
    )
    _kept[rows.network_id] = now
    return RoundInput(
        data=data,
        pending_match_ids={key: match_id for match_id, (key, _) in pending.items()},
    )


def trust_info(row: Row, network_id: str | None = None) -> TrustInfo:
    """``network_id`` when the trust goes into an input of several networks (arrivals)."""
    return _cached_trust_info(
        row["code"],
        row["name"],
        row["region"],
        row["latitude"],
        row["longitude"],
        row["is_small"],
        network_id,
    )


@functools.lru_cache(maxsize=10_000)
def _cached_trust_info(
    code: str,
    name: str,
    region: str,
    latitude: float | None,
    longitude: float | None,
    is_small: bool,
    network_id: str | None,
) -> TrustInfo:
    # Trusts are re-read by every batch of arrivals and every round, and rarely change.
    return TrustInfo(
        code=code,
        name=name,
        region=Region(region),
        latitude=latitude,
        longitude=longitude,
        is_small=is_small,
        network_id=network_id,
    )


class StoredProfile(BaseModel):
    """The part of a stored profile (a ``PersonProfile``, validated when its event arrived)
    that matching reads: not the name or email address, whose validation (EmailStr) was most
    of the cost of loading the people of a batch's networks."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    person_id: UUID
    trust_code: str
    region: Region
    mode: Mode
    working_pattern: WorkingPattern
    sector: Sector
    skills: tuple[SkillLevel, ...] = ()
    bio: str = ""
    gaps: tuple[SkillGap, ...] = ()
    goals: str = ""
    open_to_secondment: bool = False
    ranked_mentors: tuple[UUID, ...] = ()
    excluded_mentors: tuple[UUID, ...] = ()
    aspires_to: AspiredRole | None = None
    prefers: MentorPreferences = MentorPreferences()


# The people columns a round reads, the profile as JSON text (parsed and cached below).
PEOPLE_COLUMNS = (
    "p.id, p.role, p.network_id, p.paused, p.capacity, p.hours_per_month,"
    " p.profile::text AS profile_json"
)


# How many people's profiles a matcher keeps between rounds and batches, one entry a person, as
# JSON text (``StoredProfiles``; their memory is in docs/scaling.md), held only by a matcher
# whose networks have that many people (a national scheme's 120,000 fit). Rounds visit every
# network's people in turn, so a bound below the people of the networks one process solves
# keeps almost nothing: each round reads and builds its whole network again.
PROFILES_KEPT = 200_000


@functools.lru_cache(maxsize=20_000)
def stored_profile(profile_json: str) -> StoredProfile:
    """A stored profile, parsed once per version: every batch of arrivals and every round
    reads its networks' mentors again, and their profiles rarely change between reads."""
    return StoredProfile.model_validate_json(profile_json)


class ParsedProfiles:
    """Each person's stored profile parsed, for as long as its text is the one last seen: one
    entry a person, so memory follows the people, not how often their profiles change (a cache
    by text would keep every version until evicted)."""

    def __init__(self, max_size: int) -> None:
        self._parsed = PerPerson[StoredProfile](max_size)

    def __len__(self) -> int:
        return len(self._parsed)

    def get(self, person_id: UUID, profile_json: str) -> StoredProfile:
        parsed = self._parsed.get(person_id, profile_json)
        if parsed is None:
            parsed = StoredProfile.model_validate_json(profile_json)
            self._parsed.put(person_id, profile_json, parsed)
        return parsed


_parsed_profiles = ParsedProfiles(PROFILES_KEPT)


class KeptInputs:
    """What a network's round built from its rows, by person and by match, each under the key
    it was built with: its mentees and pending proposals as the engine takes them. The next
    round reuses what its rows have not changed (building a large network's mentees and
    pending proposals was most of a round's input step, docs/scaling.md)."""

    def __init__(self) -> None:
        self.mentees: dict[UUID, tuple[str, MenteeInput | None]] = {}
        self.pending: dict[UUID, tuple[PairKey, PendingProposal]] = {}


# Each network's, as its last round in this process left them. A round keeps only what it
# read, so memory follows each network's people and pending proposals as they are now: kept by
# person and match for ever, every proposal decided, withdrawn or replaced stayed, and the
# matcher grew by about 0.8 kB a proposal in the soak (docs/scaling.md, "The matcher's memory
# in the soak").
_kept: dict[str, KeptInputs] = {}


def kept_inputs(network_id: str) -> KeptInputs:
    """What the network's last round in this process built (empty before its first)."""
    return _kept.get(network_id, KeptInputs())


def round_mentee(row: Row, earlier: KeptInputs, now: KeptInputs) -> MenteeInput | None:
    """``open_mentee`` of a round's row, reused from ``earlier`` when the person's row version
    (their profile and pause) and counts of approved matches, all it depends on, are the same;
    kept in ``now``."""
    key = f"{row['version']}/{row['approved_mentoring']}/{row['approved_secondment']}"
    known = earlier.mentees.get(row["id"])
    if known is None or known[0] != key:
        # Parsed for this once, not kept parsed too: the input is what rounds keep of a mentee.
        known = (key, open_mentee(row, parse=parsed_once))
    now.mentees[row["id"]] = known
    return known[1]


def round_pending(
    row: Row, earlier: KeptInputs, now: KeptInputs
) -> tuple[PairKey, PendingProposal]:
    """A pending proposal's pair and the engine's view of it, reused from ``earlier`` by match
    id (a match's kind, pair and exchange never change; its status is read every round); kept
    in ``now``."""
    known = earlier.pending.get(row["match_id"])
    if known is None:
        provider_id, mentee_id = str(row["provider_id"]), str(row["mentee_id"])
        known = (
            (row["kind"], provider_id, mentee_id),
            PendingProposal(
                kind=MatchKind(row["kind"]),
                provider_id=provider_id,
                mentee_id=mentee_id,
                exchange_id=row["exchange_id"],
            ),
        )
    now.pending[row["match_id"]] = known
    return known


def parsed_once(row: Row) -> StoredProfile:
    """The row's profile parsed and not kept: ``stored_profile`` would keep it (its cache)."""
    return StoredProfile.model_validate_json(row["profile_json"])


def row_profile(row: Row) -> StoredProfile:
    """The row's stored profile, parsed: kept by person when the row names one (a by-hand
    check's rows; a round keeps its mentees' inputs instead, ``round_mentee``)."""
    person_id = row.get("id")
    if person_id is None:
        return stored_profile(row["profile_json"])
    return _parsed_profiles.get(person_id, row["profile_json"])


@functools.lru_cache(maxsize=20_000)  # mentors only
def mentor_input(profile_json: str, capacity: float, hours_per_month: float) -> MentorInput:
    """A mentor as the engine takes them, with ``capacity`` places left: made once per profile
    text, places and hours."""
    profile = stored_profile(profile_json)
    return MentorInput(
        id=str(profile.person_id),
        trust_code=profile.trust_code,
        region=profile.region,
        skills=profile.skills,
        capacity=capacity,
        hours_per_month=hours_per_month,
        mode=profile.mode,
        bio=profile.bio,
        prefers=profile.prefers,
    )


def open_mentor(row: Row) -> MentorInput | None:
    remaining = row["capacity"] - row["approved_as_provider"]
    if row["paused"] or remaining <= 0:
        return None
    return mentor_input(row["profile_json"], remaining, row["hours_per_month"])


def open_mentee(
    row: Row, parse: Callable[[Row], StoredProfile] = row_profile
) -> MenteeInput | None:
    """The mentee as far as they still seek a match: an approved mentor or secondment ends
    that kind of search, not the other."""
    if row["paused"]:  # withdrawn (self-service): matched with nobody
        return None
    profile = parse(row)
    seeking_mentoring = row["approved_mentoring"] == 0
    open_to_secondment = profile.open_to_secondment and row["approved_secondment"] == 0
    if not (seeking_mentoring or open_to_secondment):
        return None
    return MenteeInput(
        id=str(profile.person_id),
        trust_code=profile.trust_code,
        region=profile.region,
        gaps=profile.gaps,
        working_pattern=profile.working_pattern,
        sector=profile.sector,
        mode=profile.mode,
        goals=profile.goals,
        open_to_secondment=open_to_secondment,
        seeking_mentoring=seeking_mentoring,
        ranked_mentors=tuple(str(m) for m in profile.ranked_mentors),
        excluded_mentors=frozenset(str(m) for m in profile.excluded_mentors),
        aspires_to=profile.aspires_to,
    )


def open_placement(row: Row) -> PlacementInput | None:
    placement = PlacementProfile.model_validate(row["profile"])
    remaining = placement.places - row["taken"]
    if remaining <= 0:
        return None
    return PlacementInput(
        id=str(placement.placement_id),
        host_trust_code=placement.host_trust_code,
        region=placement.region,
        role=placement.role,
        skills_developed=placement.skills_developed,
        places=remaining,
        months=placement.months,
        fte=placement.fte,
        asks_nothing_back=placement.asks_nothing_back,
    )
