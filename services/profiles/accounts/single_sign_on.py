"""Single sign-on through the organisation's identity provider (OpenID Connect), as NHS mail's
Microsoft Entra ID offers it, with Authlib as the client.

The authorisation code flow with PKCE (S256), a state and a nonce kept in the signed pre-sign-in
cookie, and the ID token checked for its signature (the provider's published keys), issuer,
audience (this client), expiry (with a small leeway for clocks) and nonce. The provider only
proves who someone is: their role and network still come from Bridgework's accounts table, so
an identity without an account opens nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.base_client import OAuthError
from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import Response

from shared.settings import Settings

CALLBACK_PATH = "/sign-in/organisation/callback"


class SignOnRefused(Exception):
    """The provider's answer proves nothing (refused, replayed, expired, for another client);
    the message says why, for the log and the page (it holds no token)."""


@dataclass(frozen=True)
class ProvenIdentity:
    email: str
    id_token: str  # kept with the session, to end the provider's session on sign-out


class SingleSignOn:
    def __init__(self, settings: Settings) -> None:
        if not (settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret):
            raise ValueError("single sign-on needs BRIDGEWORK_OIDC_ISSUER, _CLIENT_ID, _SECRET")
        issuer = settings.oidc_issuer.rstrip("/")
        self._client: StarletteOAuth2App = OAuth().register(
            name="organisation",
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret.get_secret_value(),
            server_metadata_url=f"{issuer}/.well-known/openid-configuration",
            client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256"},
        )
        self._leeway = settings.oidc_clock_leeway_seconds
        self._email_claim = settings.oidc_email_claim
        self._callback = settings.public_base_url.rstrip("/") + CALLBACK_PATH
        self._after_sign_out = settings.public_base_url.rstrip("/") + "/sign-in"

    async def begin(self, request: Request) -> Response:
        """Send the browser to the provider's sign-in page."""
        try:
            response: Response = await self._client.authorize_redirect(request, self._callback)
        except (httpx.HTTPError, OAuthError, ValueError) as error:
            raise SignOnRefused(f"the identity provider cannot be reached ({error})") from error
        return response

    async def finish(self, request: Request) -> ProvenIdentity:
        """Whom the provider's answer at the callback proves; SignOnRefused otherwise."""
        try:
            token = await self._client.authorize_access_token(
                request, leeway=self._leeway, claims_options=await self._claims_options()
            )
        except (OAuthError, JoseError, httpx.HTTPError) as error:
            raise SignOnRefused(_reason(error)) from error
        claims = token.get("userinfo")
        id_token = token.get("id_token")
        if not claims or not isinstance(id_token, str):
            raise SignOnRefused("the provider sent no ID token")
        email = claims.get(self._email_claim)
        if not isinstance(email, str) or "@" not in email:
            raise SignOnRefused(f"the ID token has no {self._email_claim!r} address")
        if self._email_claim == "email" and claims.get("email_verified") is False:
            raise SignOnRefused("the provider has not verified this address")
        return ProvenIdentity(email=email, id_token=id_token)

    async def check_id_token(self, token: dict[str, Any], nonce: str) -> dict[str, Any]:
        """The claims of a token response's ID token, checked as ``finish`` checks them (the
        same Authlib call); SignOnRefused otherwise."""
        try:
            claims = await self._client.parse_id_token(
                token, nonce=nonce, leeway=self._leeway, claims_options=await self._claims_options()
            )
        except (JoseError, httpx.HTTPError) as error:
            raise SignOnRefused(_reason(error)) from error
        return dict(claims)

    async def _claims_options(self) -> dict[str, Any]:
        """The issuer and the audience an ID token must name. Authlib checks the audience only
        through ``azp`` unless told: a token for another client that named this one as its
        authorised party would pass (tests/integration/test_single_sign_on.py)."""
        metadata = await self._client.load_server_metadata()
        return {
            "iss": {"essential": True, "value": metadata["issuer"]},
            "aud": {"essential": True, "value": self._client.client_id},
        }

    async def sign_out_url(self, id_token: str) -> str | None:
        """Where to send the browser to end the provider's session too; None when the provider
        offers no RP-initiated sign-out."""
        try:
            logout = await self._client.create_logout_url(
                post_logout_redirect_uri=self._after_sign_out, id_token_hint=id_token
            )
        except (httpx.HTTPError, RuntimeError):
            return None
        url: str = logout["url"]
        return url


def _reason(error: Exception) -> str:
    if isinstance(error, OAuthError):
        return f"the identity provider refused: {error.error} {error.description or ''}".strip()
    if isinstance(error, JoseError):
        return f"the ID token is not valid: {error}"
    return f"the identity provider cannot be reached ({type(error).__name__})"
