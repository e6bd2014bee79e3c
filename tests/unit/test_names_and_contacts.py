"""Names travel into emails and pages: the API refuses markup in them; a trust may name the
contact who receives secondment introductions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.profiles.api.schemas import MentorIn, NetworkIn, TrustIn


def test_html_in_a_name_is_refused() -> None:
    with pytest.raises(ValidationError, match="HTML is not accepted in names"):
        MentorIn.model_validate(
            {
                "name": "<img src=x onerror=alert(1)>",
                "email": "a@example.org",
                "job_title": "CIO",
                "trust_code": "TA",
                "skills": [{"skill": "procurement", "level": 6}],
                "capacity": 1,
                "hours_per_month": 2,
            }
        )
    with pytest.raises(ValidationError, match="HTML is not accepted"):
        NetworkIn(name="<b>North</b>", coordinators=[{"name": "C", "email": "c@example.org"}])  # type: ignore[list-item]


def test_ordinary_punctuation_in_names_is_kept() -> None:
    trust = TrustIn(name="King's & St Thomas' (Guy's)", region="London", network_id="n")  # type: ignore[arg-type]
    assert trust.name == "King's & St Thomas' (Guy's)"


def test_a_trust_contact_must_be_an_email_address() -> None:
    trust = TrustIn.model_validate(
        {"name": "T", "region": "Y56", "network_id": "n", "contact_email": "hr@trust.example"}
    )
    assert trust.contact_email == "hr@trust.example"
    with pytest.raises(ValidationError, match="contact_email"):
        TrustIn.model_validate(
            {"name": "T", "region": "Y56", "network_id": "n", "contact_email": "not an address"}
        )
