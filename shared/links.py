"""Signed links in emails: a coordinator's approve/reject link and a participant's self-service
link. Tokens are signed and timestamped (itsdangerous), carry a purpose so one kind cannot be
used as another, and a unique ``token_id`` so the receiving service can make them work once."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal
from uuid import UUID, uuid4

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from pydantic import BaseModel, ConfigDict, ValidationError


class LinkPurpose(StrEnum):
    DECISION = "decision"  # a coordinator approves or rejects one proposal
    SELF_SERVICE = "self-service"  # a participant pauses, resumes, withdraws or is erased
    MATCH_LIFE = "match-life"  # a participant confirms a first conversation or checks in


class DecisionLink(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    token_id: UUID
    match_id: UUID
    network_id: str
    approve: bool
    coordinator_email: str


class SelfServiceLink(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    token_id: UUID
    person_id: UUID


class MatchLifeLink(BaseModel):
    """One participant's step in their match's life: confirm the first conversation (``met``)
    or answer the check-in due ``day`` days after the introduction."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token_id: UUID
    match_id: UUID
    person_id: UUID
    side: Literal["mentor", "mentee"]
    step: Literal["met", "check_in"]
    day: int = 0


class LinkRefused(ValueError):
    """The link cannot be used; the message says why, in words fit for the person holding it."""


def _serializer(secret_key: str, purpose: LinkPurpose) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=f"bridgework.link.{purpose.value}")


def sign_decision_link(
    secret_key: str, *, match_id: UUID, network_id: str, approve: bool, coordinator_email: str
) -> str:
    link = DecisionLink(
        token_id=uuid4(),
        match_id=match_id,
        network_id=network_id,
        approve=approve,
        coordinator_email=coordinator_email,
    )
    return _serializer(secret_key, LinkPurpose.DECISION).dumps(link.model_dump(mode="json"))


def sign_self_service_link(secret_key: str, *, person_id: UUID) -> str:
    link = SelfServiceLink(token_id=uuid4(), person_id=person_id)
    return _serializer(secret_key, LinkPurpose.SELF_SERVICE).dumps(link.model_dump(mode="json"))


def sign_match_life_link(
    secret_key: str,
    *,
    match_id: UUID,
    person_id: UUID,
    side: Literal["mentor", "mentee"],
    step: Literal["met", "check_in"],
    day: int = 0,
) -> str:
    link = MatchLifeLink(
        token_id=uuid4(), match_id=match_id, person_id=person_id, side=side, step=step, day=day
    )
    return _serializer(secret_key, LinkPurpose.MATCH_LIFE).dumps(link.model_dump(mode="json"))


def _load(secret_key: str, purpose: LinkPurpose, token: str, max_age_seconds: int) -> Any:
    try:
        return _serializer(secret_key, purpose).loads(token, max_age=max_age_seconds)
    except SignatureExpired as error:
        raise LinkRefused("This link has expired. Ask for a new one.") from error
    except BadSignature as error:
        raise LinkRefused("This link is not valid.") from error


def read_decision_link(secret_key: str, token: str, max_age_seconds: int) -> DecisionLink:
    """The decision a link stands for; LinkRefused when forged, altered or expired.
    Whether it was already used is the receiving service's check (by ``token_id``)."""
    try:
        return DecisionLink.model_validate(
            _load(secret_key, LinkPurpose.DECISION, token, max_age_seconds)
        )
    except ValidationError as error:
        raise LinkRefused("This link is not valid.") from error


def read_self_service_link(secret_key: str, token: str, max_age_seconds: int) -> SelfServiceLink:
    try:
        return SelfServiceLink.model_validate(
            _load(secret_key, LinkPurpose.SELF_SERVICE, token, max_age_seconds)
        )
    except ValidationError as error:
        raise LinkRefused("This link is not valid.") from error


def read_match_life_link(secret_key: str, token: str, max_age_seconds: int) -> MatchLifeLink:
    try:
        return MatchLifeLink.model_validate(
            _load(secret_key, LinkPurpose.MATCH_LIFE, token, max_age_seconds)
        )
    except ValidationError as error:
        raise LinkRefused("This link is not valid.") from error
