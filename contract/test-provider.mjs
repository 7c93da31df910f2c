// "The provider" of the test suite: a real OpenID provider (oidc-provider, OpenID Certified) at
// /, a GitHub-shaped OAuth 2 stand-in at /github, and at /rogue an OpenID issuer that answers
// with the id_tokens an attacker would try (another key, another audience, another nonce, another
// issuer, expired). One node process; scripts/test starts it and tells the tests its URL.
//
// It also serves a front end's page (/signed-in) for the browser story to land on.
//
// Tests make their people first: POST /test/users {"sub", "email", "email_verified",
// "given_name", "family_name"}. Signing in at any of the three is a form whose `login` names one.
//
// Usage: node contract/test-provider.mjs PORT
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const port = Number(process.argv[2] || 0);
const base = `http://127.0.0.1:${port}`;
const clientId = 'ums-test';
const clientSecret = 'ums-test-secret';
const callbackPath = '/api/v1/auth/providers/callback';

const people = new Map();

const provider = new Provider(base, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    // A native client may come back to any port of the loopback address (RFC 8252): every test
    // server listens on its own.
    application_type: 'native',
    redirect_uris: [`http://127.0.0.1${callbackPath}`],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  async findAccount(ctx, sub) {
    const person = people.get(sub);
    if (!person) return undefined;
    return { accountId: sub, async claims() { return { sub, ...person }; } };
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['given_name', 'family_name'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  pkce: { required: () => true },
  ttl: { Session: 600, Interaction: 600, Grant: 600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
});
const oidc = provider.callback();

const html = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><title>Test provider</title>${body}`);
};
const json = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const readBody = (req) => new Promise((resolve, reject) => {
  let data = '';
  req.on('data', (chunk) => { data += chunk; if (data.length > 65536) req.destroy(); });
  req.on('end', () => resolve(data));
  req.on('error', reject);
});
const escape = (v) => String(v).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
// A sign-in form: the hidden fields carry the authorization request on (the stand-ins'), and
// `login` names the test person.
const loginForm = (action, hidden = {}, extra = '') => `<form method="post" action="${escape(action)}">
  ${Object.entries(hidden).map(([k, v]) => `<input type="hidden" name="${escape(k)}" value="${escape(v)}">`).join('')}
  <label>Login <input name="login" autofocus></label>${extra}<button>Sign in</button></form>`;

// The GitHub stand-in's and the rogue issuer's codes: code -> what the token endpoint answers for.
const codes = new Map();
const accessTokens = new Map();

// The Apple-style client's key (contract/test-sign-in-providers.json holds its private half): a
// token request of the `apple` provider must carry a client secret signed with it.
const appleKey = await jose.importSPKI(`-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEVtMQWhMzcIV3Vo7ybU+qwXghHGSc
p2Ps4UGk5Zx3KDbS+nmwRaP3/T8wwlQl2jxChm5PKrsE8sUT+PPKvI3KQA==
-----END PUBLIC KEY-----`, 'ES256');

const rogueKey = await jose.generateKeyPair('ES256');
const otherKey = await jose.generateKeyPair('ES256');
const roguePublic = { ...(await jose.exportJWK(rogueKey.publicKey)), kid: 'rogue', alg: 'ES256', use: 'sig' };

async function rogueIdToken({ person, mischief, nonce }) {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: mischief === 'wrong_issuer' ? `${base}/elsewhere` : `${base}/rogue`,
    aud: mischief === 'wrong_audience' ? 'another-client' : clientId,
    sub: person.sub,
    email: person.email,
    email_verified: person.email_verified,
    nonce: mischief === 'wrong_nonce' ? 'not-the-nonce' : nonce,
    iat: now,
    exp: mischief === 'expired' ? now - 600 : now + 300,
  };
  const key = mischief === 'wrong_key' ? otherKey.privateKey : rogueKey.privateKey;
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'rogue' }).sign(key);
}

function s256(verifier) {
  return crypto.createHash('sha256').update(verifier).digest('base64url');
}

async function standIn(req, res, url) {
  const path = url.pathname;
  // A front end's page, for the browser story to land on (the settings list it).
  if (path === '/signed-in' && req.method === 'GET') {
    return html(res, 200, '<h1>Welcome back</h1>');
  }
  // People.
  if (path === '/test/users' && req.method === 'POST') {
    const person = JSON.parse(await readBody(req));
    people.set(person.sub, person);
    return json(res, 201, person);
  }
  // The certified provider's sign-in page.
  const interaction = path.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (interaction && req.method === 'GET') {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === 'consent') {
      // A test person grants what the client asks (a native client is asked every time).
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
      grant.addOIDCScope(details.params.scope);
      const grantId = await grant.save();
      return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }
    return html(res, 200, loginForm(`/interaction/${interaction[1]}/login`));
  }
  if (interaction && interaction[2] && req.method === 'POST') {
    const login = new URLSearchParams(await readBody(req)).get('login');
    if (!people.has(login)) return html(res, 400, 'No such test person');
    return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }
  // GitHub (OAuth 2 and its REST API).
  if (path === '/github/login/oauth/authorize' && req.method === 'GET') {
    const q = Object.fromEntries(url.searchParams);
    if (q.client_id !== clientId || q.code_challenge_method !== 'S256' || !q.code_challenge) {
      return html(res, 400, 'bad authorization request');
    }
    return html(res, 200, loginForm('/github/login/oauth/authorize', q));
  }
  if (path === '/github/login/oauth/authorize' && req.method === 'POST') {
    const form = Object.fromEntries(new URLSearchParams(await readBody(req)));
    const person = people.get(form.login);
    if (!person) return html(res, 400, 'No such test person');
    const code = crypto.randomBytes(16).toString('hex');
    codes.set(code, { kind: 'github', person, challenge: form.code_challenge, redirect: form.redirect_uri });
    const back = new URL(form.redirect_uri);
    back.searchParams.set('code', code);
    back.searchParams.set('state', form.state);
    res.writeHead(302, { location: back.toString() });
    return res.end();
  }
  if (path === '/github/login/oauth/access_token' && req.method === 'POST') {
    const form = Object.fromEntries(new URLSearchParams(await readBody(req)));
    const auth = Buffer.from((req.headers.authorization || '').replace(/^Basic /, ''), 'base64').toString();
    const [id, secret] = auth.split(':').map(decodeURIComponent);
    const grant = codes.get(form.code);
    codes.delete(form.code);
    if (id !== clientId || secret !== clientSecret || !grant || grant.kind !== 'github'
        || s256(form.code_verifier || '') !== grant.challenge || form.redirect_uri !== grant.redirect) {
      return json(res, 400, { error: 'bad_verification_code' });
    }
    const token = crypto.randomBytes(16).toString('hex');
    accessTokens.set(token, grant.person);
    return json(res, 200, { access_token: token, token_type: 'bearer', scope: 'read:user,user:email' });
  }
  if (path.startsWith('/github/api/') && req.method === 'GET') {
    const person = accessTokens.get((req.headers.authorization || '').replace(/^Bearer /, ''));
    if (!person) return json(res, 401, { message: 'Bad credentials' });
    if (path === '/github/api/user') return json(res, 200, { id: Number(person.github_id), login: person.sub, name: person.given_name ? `${person.given_name} ${person.family_name || ''}`.trim() : null });
    if (path === '/github/api/user/emails') {
      return json(res, 200, [
        { email: `${person.sub}-old@example.net`, primary: false, verified: true },
        { email: person.email, primary: true, verified: Boolean(person.email_verified) },
      ]);
    }
  }
  // The rogue issuer: a discovery document and key set of its own; its sign-in page lets the
  // test choose what its id_token gets wrong (`mischief`).
  if (path === '/rogue/.well-known/openid-configuration') {
    return json(res, 200, {
      issuer: `${base}/rogue`,
      authorization_endpoint: `${base}/rogue/auth`,
      token_endpoint: `${base}/rogue/token`,
      jwks_uri: `${base}/rogue/jwks`,
      response_types_supported: ['code'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['ES256'],
    });
  }
  if (path === '/rogue/jwks') return json(res, 200, { keys: [roguePublic] });
  if (path === '/rogue/auth' && req.method === 'GET') {
    return html(res, 200, loginForm('/rogue/auth', Object.fromEntries(url.searchParams), '<input name="mischief">'));
  }
  if (path === '/rogue/auth' && req.method === 'POST') {
    const form = Object.fromEntries(new URLSearchParams(await readBody(req)));
    const person = people.get(form.login);
    if (!person) return html(res, 400, 'No such test person');
    const code = crypto.randomBytes(16).toString('hex');
    codes.set(code, { kind: 'rogue', person, mischief: form.mischief || 'none', nonce: form.nonce, challenge: form.code_challenge });
    if (form.response_mode === 'form_post') {
      // As Apple answers: a page that posts the result to the client, from this site.
      const fields = { state: form.state, code };
      return html(res, 200, `<form method="post" action="${escape(form.redirect_uri)}">${Object.entries(fields)
        .map(([k, v]) => `<input type="hidden" name="${k}" value="${escape(v)}">`).join('')}</form>`
        + '<script>document.forms[0].submit()</script>');
    }
    const back = new URL(form.redirect_uri);
    back.searchParams.set('code', code);
    back.searchParams.set('state', form.state);
    res.writeHead(302, { location: back.toString() });
    return res.end();
  }
  if (path === '/rogue/token' && req.method === 'POST') {
    const form = Object.fromEntries(new URLSearchParams(await readBody(req)));
    const grant = codes.get(form.code);
    codes.delete(form.code);
    if (!grant || grant.kind !== 'rogue' || s256(form.code_verifier || '') !== grant.challenge) {
      return json(res, 400, { error: 'invalid_grant' });
    }
    if (form.client_secret !== undefined) {
      // A client that sends its secret in the body is the Apple-style one: its secret is a JWT
      // by its team, about itself, for Apple, signed with its key.
      try {
        await jose.jwtVerify(form.client_secret, appleKey, {
          issuer: 'TEAMTEST01', audience: 'https://appleid.apple.com', subject: form.client_id, maxTokenAge: '10m',
        });
      } catch (e) {
        return json(res, 401, { error: 'invalid_client', error_description: String(e) });
      }
    }
    return json(res, 200, { access_token: 'rogue', token_type: 'Bearer', expires_in: 300, id_token: await rogueIdToken(grant) });
  }
  return null;
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, base);
    const handled = await standIn(req, res, url);
    if (handled === null && !res.headersSent) oidc(req, res);
  } catch (e) {
    console.error(e);
    if (!res.headersSent) json(res, 500, { error: String(e) });
  }
});
server.listen(port, '127.0.0.1', () => console.log(`test provider: ${base}`));
