"""End to end: a mentor and a mentee go in over HTTP; the three services run as processes on
the real broker and database; the coordinator's email arrives at a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from devtools.stack import StackConfig
from tests.support.mail import wait_for_mail
from tests.support.stack import e2e_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(
    database_url: str, kafka: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[StackConfig, Path]]:
    with e2e_stack(database_url, kafka, tmp_path_factory.mktemp("e2e")) as running:
        yield running


def test_mentor_and_mentee_over_http_become_an_email_to_the_coordinator(
    stack: tuple[StackConfig, Path],
) -> None:
    config, maildir = stack
    tag = uuid4().hex[:6]
    coordinator = f"coordinator.{tag}@network.example"
    with httpx.Client(base_url=config.base_url, headers=config.api_headers, timeout=10) as http:
        assert (
            http.put(
                f"/networks/e2e-{tag}",
                json={
                    "name": "E2E Digital Leaders",
                    "coordinators": [{"name": "Cleo Coordinator", "email": coordinator}],
                },
            ).status_code
            == 204
        )
        for code, region in ((f"A{tag}", "North West"), (f"B{tag}", "Midlands")):
            assert (
                http.put(
                    f"/trusts/{code}",
                    json={
                        "name": f"Trust {code}",
                        "region": region,
                        "network_id": f"e2e-{tag}",
                    },
                ).status_code
                == 204
            )
        mentor = http.post(
            "/mentors",
            json={
                "name": f"Morag Mentor{tag}",
                "email": f"morag.{tag}@example.org",
                "job_title": "Chief Clinical Information Officer",
                "trust_code": f"A{tag}",
                "skills": [
                    {"skill": "clinical-engagement", "level": 7},
                    {"skill": "board-influence", "level": 6},
                ],
                "capacity": 1,
                "hours_per_month": 4,
            },
        )
        mentee = http.post(
            "/mentees",
            json={
                "name": f"Tariq Mentee{tag}",
                "email": f"tariq.{tag}@example.org",
                "job_title": "Digital Nurse Specialist",
                "trust_code": f"B{tag}",
                "working_pattern": "part_time",
                "gaps": [{"skill": "clinical-engagement", "current": 2, "target": 5}],
            },
        )
        assert (mentor.status_code, mentee.status_code) == (201, 201)

    message = wait_for_mail(maildir, coordinator)
    assert coordinator in str(message["To"])
    assert f"Tariq Mentee{tag}" in str(message["Subject"])
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert f"Mentor: Morag Mentor{tag}, Chief Clinical Information Officer, Trust A{tag}" in text
    assert f"Mentee: Tariq Mentee{tag}, Digital Nurse Specialist, Trust B{tag}" in text
    assert "Clinical engagement: from level 2 to 5 (mentor is at level 7)" in text
    assert "Region: neighbouring regions (Midlands / North West)" in text
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    assert f"Morag Mentor{tag}" in html.get_content()
