"""Single sign-on against a real OpenID provider (issue 14, item 13): the certified
`oidc-provider` package, started by these tests (tests/support/oidc_provider.py), driven as a
browser drives it. Sign-in, a refused audience, a replayed code, an expired ID token, sign-out.

Two browsers' worth of cookies per test: one jar for Bridgework (in-process, ASGI) and one for
the provider (a real HTTP server): a redirect from one to the other is followed by hand, as
the browser would."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from services.profiles.accounts.accounts import NewAccount, create_account
from services.profiles.accounts.permissions import AccountRole
from services.profiles.accounts.single_sign_on import CALLBACK_PATH, SignOnRefused, SingleSignOn
from services.profiles.app import create_app
from services.profiles.pages import SESSION_COOKIE
from shared.settings import Settings
from tests.support.oidc_provider import RegisteredClient, RunningProvider, running_provider
from tests.support.pages import PASSWORD, csrf_of

pytestmark = pytest.mark.integration

BRIDGEWORK = "http://profiles"
CLIENT = RegisteredClient(
    client_id="bridgework",
    client_secret="bridgework-client-secret-for-tests-only",
    redirect_uris=(BRIDGEWORK + CALLBACK_PATH,),
    post_logout_redirect_uris=(BRIDGEWORK + "/sign-in",),
)
# Another application registered at the same provider (the same tenant), back to the same URL.
OTHER = RegisteredClient(
    client_id="another-application",
    client_secret="another-application-secret-for-tests",
    redirect_uris=(BRIDGEWORK + CALLBACK_PATH,),
)


@dataclass
class Browser:
    bridgework: httpx.AsyncClient
    provider: httpx.AsyncClient


@asynccontextmanager
async def bridgework_with(settings: Settings, provider: RunningProvider) -> AsyncIterator[FastAPI]:
    sso = settings.model_copy(
        update={
            "public_base_url": BRIDGEWORK,
            "oidc_issuer": provider.issuer,
            "oidc_client_id": CLIENT.client_id,
            "oidc_client_secret": SecretStr(CLIENT.client_secret),
            "oidc_clock_leeway_seconds": 5,
        }
    )
    app = create_app(sso)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="module")
def provider() -> Iterator[RunningProvider]:
    with running_provider([CLIENT, OTHER]) as running:
        yield running


@pytest.fixture(scope="module")
async def sso_app(settings: Settings, provider: RunningProvider) -> AsyncIterator[FastAPI]:
    async with bridgework_with(settings, provider) as app:
        yield app


@asynccontextmanager
async def browser_for(app: FastAPI) -> AsyncIterator[Browser]:
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url=BRIDGEWORK) as bridgework,
        httpx.AsyncClient() as provider,
    ):
        yield Browser(bridgework, provider)


async def administrator(app: FastAPI) -> str:
    email = f"sso.admin.{uuid4().hex[:8]}@nhs.example"
    new = NewAccount(email=email, name="Sam", role=AccountRole.ADMINISTRATOR, password=PASSWORD)
    async with app.state.pool.acquire() as conn:
        await create_account(conn, new, actor="test")
    return email


async def through_provider(browser: Browser, location: str, email: str) -> str:
    """Follow the provider's pages from ``location`` (signing in as ``email`` on its sign-in
    page) until it sends the browser back to Bridgework; returns that URL."""
    for _ in range(12):
        if location.startswith(BRIDGEWORK):
            return location
        response = await browser.provider.get(location)
        if response.status_code == 200 and 'name="email"' in response.text:
            action = re.search(r'action="([^"]+)"', response.text)
            assert action is not None
            response = await browser.provider.post(
                httpx.URL(location).join(action[1]), data={"email": email}
            )
        assert response.is_redirect, response.text
        location = str(httpx.URL(location).join(response.headers["location"]))
    raise AssertionError("the provider never sent the browser back")


async def start(browser: Browser) -> str:
    """Bridgework's redirect to the provider's authorisation endpoint."""
    response = await browser.bridgework.get("/sign-in/organisation")
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def back_at_bridgework(browser: Browser, callback: str) -> httpx.Response:
    parts = urlsplit(callback)
    return await browser.bridgework.get(f"{parts.path}?{parts.query}")


async def sign_in(browser: Browser, email: str) -> str:
    """The whole sign-in; returns the callback URL it used (for replaying)."""
    callback = await through_provider(browser, await start(browser), email)
    response = await back_at_bridgework(browser, callback)
    assert response.status_code == 303, response.text
    return callback


async def test_an_administrator_signs_in_through_the_provider_with_pkce_state_and_nonce(
    sso_app: FastAPI,
) -> None:
    email = await administrator(sso_app)
    async with browser_for(sso_app) as browser:
        query = parse_qs(urlsplit(await start(browser)).query)
        assert query["code_challenge_method"] == ["S256"]
        assert {"state", "nonce", "code_challenge"} <= query.keys()
        browser.bridgework.cookies.clear()
    async with browser_for(sso_app) as browser:
        await sign_in(browser, email.upper())  # the provider's spelling of the address
        assert (await browser.bridgework.get("/admin")).status_code == 200
        stored = await sso_app.state.pool.fetchval(
            "SELECT id_token FROM sessions WHERE email = $1", email
        )
        assert stored is not None


async def test_an_identity_without_a_bridgework_account_opens_nothing(sso_app: FastAPI) -> None:
    async with browser_for(sso_app) as browser:
        callback = await through_provider(browser, await start(browser), "stranger@nhs.example")
        response = await back_at_bridgework(browser, callback)
        assert response.status_code == 403
        assert "No Bridgework account" in response.text
        assert (await browser.bridgework.get("/admin")).status_code == 303


async def test_a_code_or_id_token_for_another_audience_is_refused(
    sso_app: FastAPI, provider: RunningProvider
) -> None:
    email = await administrator(sso_app)
    async with browser_for(sso_app) as browser:
        # The sign-in is started at Bridgework, but the provider is asked on behalf of another
        # application: its code, delivered to Bridgework's callback, must open nothing.
        location = (await start(browser)).replace(
            f"client_id={CLIENT.client_id}", f"client_id={OTHER.client_id}"
        )
        callback = await through_provider(browser, location, email)
        response = await back_at_bridgework(browser, callback)
        assert response.status_code == 401
        assert "Nothing was signed in" in response.text
        assert (await browser.bridgework.get("/admin")).status_code == 303

    # An ID token the provider really issued, to the other application, is refused by the
    # same check Bridgework's callback runs (the other application's own flow, PKCE and all).
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    async with browser_for(sso_app) as browser:
        metadata = (
            await browser.provider.get(f"{provider.issuer}/.well-known/openid-configuration")
        ).json()
        authorise = httpx.URL(
            metadata["authorization_endpoint"],
            params={
                "client_id": OTHER.client_id,
                "response_type": "code",
                "scope": "openid email",
                "redirect_uri": OTHER.redirect_uris[0],
                "state": "other-state",
                "nonce": nonce,
                "code_challenge": challenge.decode().rstrip("="),
                "code_challenge_method": "S256",
            },
        )
        callback = await through_provider(browser, str(authorise), email)
        token = await browser.provider.post(
            metadata["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": parse_qs(urlsplit(callback).query)["code"][0],
                "redirect_uri": OTHER.redirect_uris[0],
                "code_verifier": verifier,
            },
            auth=(OTHER.client_id, OTHER.client_secret),
        )
    assert token.status_code == 200, token.text
    single_sign_on: SingleSignOn = sso_app.state.single_sign_on
    with pytest.raises(SignOnRefused, match="aud"):
        await single_sign_on.check_id_token(token.json(), nonce)


async def test_a_replayed_code_is_refused(sso_app: FastAPI) -> None:
    email = await administrator(sso_app)
    async with browser_for(sso_app) as browser:
        callback = await sign_in(browser, email)
        # Verbatim, in the same browser: its state was used up.
        assert (await back_at_bridgework(browser, callback)).status_code == 401
        # With a fresh state of this browser's own: the provider refuses the used code.
        fresh_state = parse_qs(urlsplit(await start(browser)).query)["state"][0]
        code = parse_qs(urlsplit(callback).query)["code"][0]
        replayed = await browser.bridgework.get(
            CALLBACK_PATH, params={"code": code, "state": fresh_state}
        )
        assert replayed.status_code == 401
        assert "invalid_grant" in replayed.text
    async with browser_for(sso_app) as thief:
        assert (await back_at_bridgework(thief, callback)).status_code == 401
        assert (await thief.bridgework.get("/admin")).status_code == 303


async def test_an_expired_id_token_is_refused(settings: Settings) -> None:
    """A provider whose clock runs an hour slow issues ID tokens that expired long ago."""
    with running_provider([CLIENT], id_token_clock_offset_seconds=-3600) as slow:
        async with bridgework_with(settings, slow) as app:
            email = await administrator(app)
            async with browser_for(app) as browser:
                callback = await through_provider(browser, await start(browser), email)
                response = await back_at_bridgework(browser, callback)
                assert response.status_code == 401
                assert "expired" in response.text
                assert (await browser.bridgework.get("/admin")).status_code == 303


async def test_sign_out_ends_the_session_here_and_at_the_provider(sso_app: FastAPI) -> None:
    email = await administrator(sso_app)
    async with browser_for(sso_app) as browser:
        await sign_in(browser, email)
        stolen = browser.bridgework.cookies[SESSION_COOKIE]
        signed_out = await browser.bridgework.post(
            "/sign-out", data={"csrf_token": await csrf_of(browser.bridgework)}
        )
        assert signed_out.status_code == 303
        end_session = signed_out.headers["location"]
        assert "id_token_hint=" in end_session
        confirm = await browser.provider.get(end_session)
        form = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', confirm.text))
        action = re.search(r'action="([^"]+)"', confirm.text)
        assert action is not None
        done = await browser.provider.post(
            httpx.URL(end_session).join(action[1]), data=form | {"logout": "yes"}
        )
        assert done.headers["location"].startswith(BRIDGEWORK + "/sign-in")

        browser.bridgework.cookies.set(SESSION_COOKIE, stolen)
        assert (await browser.bridgework.get("/admin")).status_code == 303
        # The provider's session ended too: signing in again shows its sign-in page.
        first = await browser.provider.get(await start(browser))
        while first.is_redirect and not first.headers["location"].startswith(BRIDGEWORK):
            first = await browser.provider.get(httpx.URL(first.url).join(first.headers["location"]))
        assert 'name="email"' in first.text
