"""Signed links in emails: a coordinator's approve/reject link, a participant's self-service
link, a trust contact's sign-in link and a trust's consent link. Tokens are signed and
timestamped (itsdangerous), carry a purpose so one kind cannot be used as another, and a unique
``token_id`` so the receiving service can make them work once."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal, TypeVar
from uuid import UUID, uuid4

from itsdangerous import BadData, BadSignature, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode
from pydantic import BaseModel, ConfigDict, ValidationError


class LinkPurpose(StrEnum):
    DECISION = "decision"  # a coordinator approves or rejects one proposal
    SELF_SERVICE = "self-service"  # a participant pauses, resumes, withdraws or is erased
    JOIN = "join"  # a volunteer or applicant confirms their email address
    TRUST_SIGN_IN = "trust-sign-in"  # a trust's contact signs in to the trust's pages
    CONSENT = "consent"  # a trust's contact gives or refuses the trust's consent
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


class JoinLink(BaseModel):
    """Confirms the address of one application; ``token_id`` is the application's latest
    link, so an earlier link of a re-sent form no longer works."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token_id: UUID
    application_id: UUID


class TrustSignInLink(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    token_id: UUID
    trust_code: str
    contact_email: str


class ConsentLink(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    token_id: UUID
    match_id: UUID
    party: str  # "host" or "home"
    trust_code: str
    give: bool
    contact_email: str


# A participant's step in their match's life: confirm the first conversation, answer the
# check-in due ``day`` days after the introduction, or (the mentee) close the match.
LifeStep = Literal["met", "check_in", "close"]


class MatchLifeLink(BaseModel):
    """One participant's step in their match's life (``LifeStep``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token_id: UUID
    match_id: UUID
    person_id: UUID
    side: Literal["mentor", "mentee"]
    step: LifeStep
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


def sign_join_link(secret_key: str, *, token_id: UUID, application_id: UUID) -> str:
    link = JoinLink(token_id=token_id, application_id=application_id)
    return _serializer(secret_key, LinkPurpose.JOIN).dumps(link.model_dump(mode="json"))


def sign_trust_sign_in_link(secret_key: str, *, trust_code: str, contact_email: str) -> str:
    link = TrustSignInLink(token_id=uuid4(), trust_code=trust_code, contact_email=contact_email)
    return _serializer(secret_key, LinkPurpose.TRUST_SIGN_IN).dumps(link.model_dump(mode="json"))


def sign_consent_link(
    secret_key: str, *, match_id: UUID, party: str, trust_code: str, give: bool, contact_email: str
) -> str:
    link = ConsentLink(
        token_id=uuid4(),
        match_id=match_id,
        party=party,
        trust_code=trust_code,
        give=give,
        contact_email=contact_email,
    )
    return _serializer(secret_key, LinkPurpose.CONSENT).dumps(link.model_dump(mode="json"))


def sign_match_life_link(
    secret_key: str,
    *,
    match_id: UUID,
    person_id: UUID,
    side: Literal["mentor", "mentee"],
    step: LifeStep,
    day: int = 0,
) -> str:
    link = MatchLifeLink(
        token_id=uuid4(), match_id=match_id, person_id=person_id, side=side, step=step, day=day
    )
    return _serializer(secret_key, LinkPurpose.MATCH_LIFE).dumps(link.model_dump(mode="json"))


def _canonical_signature(token: str) -> bool:
    """Whether the token's signature is written as it was issued. Its last base64 character
    carries bits the signature does not use, so a few other characters there decode to the
    same signature; such a token is not one we sent, and it is refused."""
    signature = token.rpartition(".")[2]
    try:
        return base64_encode(base64_decode(signature)).decode() == signature
    except BadData:  # not base64 at all: the serializer refuses it in its own words
        return True


def _load(secret_key: str, purpose: LinkPurpose, token: str, max_age_seconds: int) -> Any:
    if not _canonical_signature(token):
        raise LinkRefused("This link is not valid.")
    try:
        return _serializer(secret_key, purpose).loads(token, max_age=max_age_seconds)
    except SignatureExpired as error:
        raise LinkRefused("This link has expired. Ask for a new one.") from error
    except BadSignature as error:
        raise LinkRefused("This link is not valid.") from error


LinkT = TypeVar("LinkT", bound=BaseModel)


def _read(
    model: type[LinkT], secret_key: str, purpose: LinkPurpose, token: str, max_age_seconds: int
) -> LinkT:
    try:
        return model.model_validate(_load(secret_key, purpose, token, max_age_seconds))
    except ValidationError as error:
        raise LinkRefused("This link is not valid.") from error


def read_decision_link(secret_key: str, token: str, max_age_seconds: int) -> DecisionLink:
    """The decision a link stands for; LinkRefused when forged, altered or expired.
    Whether it was already used is the receiving service's check (by ``token_id``)."""
    return _read(DecisionLink, secret_key, LinkPurpose.DECISION, token, max_age_seconds)


def read_self_service_link(secret_key: str, token: str, max_age_seconds: int) -> SelfServiceLink:
    return _read(SelfServiceLink, secret_key, LinkPurpose.SELF_SERVICE, token, max_age_seconds)


def read_join_link(secret_key: str, token: str, max_age_seconds: int) -> JoinLink:
    return _read(JoinLink, secret_key, LinkPurpose.JOIN, token, max_age_seconds)


def read_trust_sign_in_link(secret_key: str, token: str, max_age_seconds: int) -> TrustSignInLink:
    return _read(TrustSignInLink, secret_key, LinkPurpose.TRUST_SIGN_IN, token, max_age_seconds)


def read_consent_link(secret_key: str, token: str, max_age_seconds: int) -> ConsentLink:
    return _read(ConsentLink, secret_key, LinkPurpose.CONSENT, token, max_age_seconds)


def read_match_life_link(secret_key: str, token: str, max_age_seconds: int) -> MatchLifeLink:
    return _read(MatchLifeLink, secret_key, LinkPurpose.MATCH_LIFE, token, max_age_seconds)
