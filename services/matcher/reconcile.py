"""What a round may still write, once its plan (solved on a snapshot, without the network's lock)
meets the network as it is now (read under the lock): pure, so its rules are tested on their own.

While a round solves, batches go on: arrivals propose free places to newcomers, coordinators
decide, people pause, leave or change. So under the lock, a round's plan is written only as far
as it still holds:

- a new proposal needs its mentee still open (in the network, not paused), with nothing pending
  or approved of its kind now, its pair never rejected or closed, and its provider still open
  with a place left now, counting every live proposal (arrivals' made meanwhile included);
- secondments of one exchange are written all or none;
- a pending proposal the plan replaces is withdrawn only if still pending, and not when the
  new proposal its mentee was to get instead of it (same kind) is not written: a mentee does not
  lose a proposal to a replacement that did not happen.

What is not written waits for the network's next round: the network stays marked, since
whatever made the plan fail changed it after the round's snapshot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from shared.events import MatchProposed

KindMentee = tuple[str, UUID]  # (kind, mentee id)


@dataclass(frozen=True)
class Standing:
    """The network now, as far as a round's plan names it (read under the network's lock)."""

    room: Mapping[UUID, int]  # open providers (in the network, not paused): places left now
    open_mentees: frozenset[UUID]  # in the network and not paused
    busy: Mapping[KindMentee, int]  # live proposals (pending, or the search over) by kind
    never_again: frozenset[tuple[UUID, UUID]]  # (provider, mentee): rejected, or closed
    # The plan's replaced proposals still pending now, with their (kind, provider, mentee).
    still_pending: Mapping[UUID, tuple[str, UUID, UUID]]


@dataclass(frozen=True)
class Writes:
    new: list[MatchProposed]
    withdrawn: list[UUID]


def reconciled(new: Sequence[MatchProposed], standing: Standing) -> Writes:
    """The part of a plan that still holds (the module's rules). Withdrawals kept back and
    exchanges dropped only ever free places, so a few passes settle it."""
    withdrawn = set(standing.still_pending)
    excluded: set[UUID] = set()
    while True:
        accepted = _accepted(new, standing, withdrawn, excluded)
        dropped = [p for p in new if p.match_id not in accepted]
        broken = {p.exchange_id for p in dropped if p.exchange_id is not None}
        more_excluded = {p.match_id for p in new if p.exchange_id in broken} - excluded
        unreplaced = {(p.kind.value, p.mentee_id) for p in dropped}
        kept_back = {
            match_id
            for match_id in withdrawn
            if (standing.still_pending[match_id][0], standing.still_pending[match_id][2])
            in unreplaced
        }
        if not (more_excluded or kept_back):
            return Writes(
                new=[p for p in new if p.match_id in accepted],
                withdrawn=sorted(withdrawn),
            )
        excluded |= more_excluded
        withdrawn -= kept_back


def _accepted(
    new: Sequence[MatchProposed], standing: Standing, withdrawn: set[UUID], excluded: set[UUID]
) -> set[UUID]:
    """The new proposals that fit, best score first, given these withdrawals."""
    room: Counter[UUID] = Counter(standing.room)
    busy: Counter[KindMentee] = Counter(standing.busy)
    for match_id in withdrawn:
        kind, provider, mentee = standing.still_pending[match_id]
        if provider in standing.room:
            room[provider] += 1
        busy[(kind, mentee)] -= 1
    accepted: set[UUID] = set()
    for p in sorted(new, key=lambda p: -p.score):
        key = (p.kind.value, p.mentee_id)
        fits = (
            p.match_id not in excluded
            and p.mentee_id in standing.open_mentees
            and busy[key] <= 0
            and (p.provider_id, p.mentee_id) not in standing.never_again
            and p.provider_id in standing.room
            and room[p.provider_id] > 0
        )
        if fits:
            accepted.add(p.match_id)
            room[p.provider_id] -= 1
            busy[key] += 1
    return accepted
