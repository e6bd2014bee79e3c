// A real OpenID provider for Bridgework's single sign-on tests and local trials: the certified
// `oidc-provider` package, with a plain sign-in page that takes any email (there is no password:
// this stands in for an organisation's identity provider, whose accounts are not Bridgework's).
//
// Configured from the environment (read once at start):
//   OIDC_PORT                  port to listen on, on 127.0.0.1
//   OIDC_CLIENTS               JSON list of clients: client_id, client_secret, redirect_uris,
//                              post_logout_redirect_uris
//   OIDC_ID_TOKEN_TTL_SECONDS  how long an ID token is valid (default 300)
//   OIDC_ID_TOKEN_CLOCK_OFFSET_SECONDS
//                              shifts the clock the provider signs ID tokens by (a server whose
//                              clock is an hour slow issues ID tokens already expired; default
//                              0). Only there: its cookies and codes keep the true time.
// Prints one JSON line {"issuer": ...} on stdout once it listens; stops on SIGTERM.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const clients = JSON.parse(process.env.OIDC_CLIENTS || '[]');
const idTokenTtl = Number(process.env.OIDC_ID_TOKEN_TTL_SECONDS || 300);
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' };

const page = (title, body) => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`;
const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function configuration() {
  return {
    clients: clients.map((c) => ({ ...c, token_endpoint_auth_method: 'client_secret_basic' })),
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    ttl: { IdToken: idTokenTtl, AuthorizationCode: 60, AccessToken: 300, Session: 3600, Interaction: 600, Grant: 3600 },
    pkce: { required: () => true },
    // The address in the ID token itself, as Entra ID puts its optional claims there.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.body = page('Sign out', `${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>`);
        },
        postLogoutSuccessSource: async (ctx) => { ctx.body = page('Signed out', '<p>Signed out.</p>'); },
      },
    },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() { return { sub: id, email: id, email_verified: true, name: id.split('@')[0] }; },
      };
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error', `<p id="error">${escape(out.error)}: ${escape(out.error_description || '')}</p>`);
    },
  };
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString());
}

// The sign-in page: an email, nothing else. Consent is given at once (Bridgework is the
// organisation's own application, as an administrator would register it).
async function interaction(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'POST' && details.prompt.name === 'login') {
    const form = await readForm(req);
    return provider.interactionFinished(req, res, { login: { accountId: form.get('email') } }, { mergeWithLastSubmission: false });
  }
  if (details.prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    grant.addOIDCScope(String(details.params.scope));
    return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
  }
  res.setHeader('content-type', 'text/html');
  res.end(page('Sign in', `<form method="post" action="/interaction/${escape(details.uid)}"><input name="email" type="email"><button>Sign in</button></form>`));
}

const port = Number(process.env.OIDC_PORT);
const provider = new Provider(`http://127.0.0.1:${port}`, configuration());
const offsetMs = Number(process.env.OIDC_ID_TOKEN_CLOCK_OFFSET_SECONDS || 0) * 1000;
if (offsetMs !== 0) {
  const issue = provider.IdToken.prototype.issue;
  const realNow = Date.now;
  provider.IdToken.prototype.issue = async function issueWithWrongClock(...args) {
    Date.now = () => realNow() + offsetMs;
    try {
      return await issue.apply(this, args);
    } finally {
      Date.now = realNow;
    }
  };
}
const handle = provider.callback();
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(provider, req, res).catch((error) => {
      res.statusCode = 400;
      res.end(String(error.message));
    });
  } else {
    handle(req, res);
  }
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ issuer: provider.issuer })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
