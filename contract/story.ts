// A front end's view of the service: a client typed by openapi-typescript from the service's
// own OpenAPI document, calling it through openapi-fetch. `tsc --strict` checks it against the
// generated types; scripts/contract runs it against the local server. Sign up, confirm the
// email from the emailed link, log in, read and change the profile, ask for a photo upload
// form, refresh, fail a login (a problem+json 401), log out. On the way, the access token is
// verified the way another service would, knowing only the issuer's URL: `jose` reads the
// OpenID discovery document, then the JWKS it names, and checks the token with the one
// algorithm the document gives; scripts/contract checks the same token with PyJWT.
import createClient from "openapi-fetch";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { components, paths } from "./api.js";

const base = process.env.UMS_BASE_URL ?? "";
const outbox = process.env.UMS_OUTBOX ?? "";
const tokenFile = process.env.UMS_TOKEN_FILE ?? "";
if (!base || !outbox || !tokenFile) throw new Error("set UMS_BASE_URL, UMS_OUTBOX and UMS_TOKEN_FILE");

const api = createClient<paths>({ baseUrl: base });
const email = `ada.${Date.now()}@example.com`;
const password = "correct horse battery staple";

function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`contract story: ${what}`);
}

/** The token in the newest email to `to`, waiting for the worker to send it. */
async function emailedToken(to: string): Promise<string> {
  for (let tries = 0; tries < 100; tries++) {
    const mails = readdirSync(outbox, { withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => readFileSync(join(outbox, entry.name), "utf8"))
      .filter((mail) => mail.includes(`\r\nTo: ${to}\r\n`));
    const token = mails.at(-1)?.match(/token=([A-Za-z0-9_-]+)/)?.[1];
    if (token) return token;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no email reached ${to}`);
}

/** The text of the newest email to `to` with this subject, waiting for the worker to send it. */
async function emailedText(to: string, subject: string): Promise<string> {
  for (let tries = 0; tries < 100; tries++) {
    const mail = readdirSync(outbox, { withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => readFileSync(join(outbox, entry.name), "utf8"))
      .filter((mail) => mail.includes(`\r\nTo: ${to}\r\n`) && mail.includes(`\r\nSubject: ${subject}\r\n`))
      .at(-1);
    if (mail) return mail;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no email "${subject}" reached ${to}`);
}

const registered = await api.POST("/api/v1/auth/register/{role}", {
  params: { path: { role: "reader" } },
  body: { email, password, first_name: "Ada", last_name: "Lovelace" },
});
check(registered.response.status === 201, `register: ${registered.response.status}`);

const confirmed = await api.GET("/api/v1/auth/confirm_email", {
  params: { query: { token: await emailedToken(email) } },
});
check(confirmed.data?.status === "active", `confirm: ${confirmed.response.status}`);

const login = await api.POST("/api/v1/auth/login", { body: { email, password } });
// A reader without a second factor gets tokens (with one, a challenge: `SecondFactorChallenge`).
check(login.data !== undefined && "access_token" in login.data, `login: ${login.response.status}`);
const tokens: components["schemas"]["TokenPair"] = login.data;
const bearer = { Authorization: `Bearer ${tokens.access_token}` };

// Another service, told only the issuer (here the service's own URL, its default issuer).
const discovery = (await (await fetch(`${base}/.well-known/openid-configuration`)).json()) as {
  issuer: string;
  jwks_uri: string;
  id_token_signing_alg_values_supported: string[];
};
const verified = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(discovery.jwks_uri)), {
  issuer: discovery.issuer,
  audience: "blog-platform",
  algorithms: discovery.id_token_signing_alg_values_supported,
});
check(verified.payload.sub === tokens.user.id && verified.payload.role === "reader", "jose verified the token");
writeFileSync(tokenFile, tokens.access_token);

const me = await api.GET("/api/v1/user", { headers: bearer });
check(me.data?.email === email && me.data.role === "reader", "profile");

const updated = await api.PUT("/api/v1/user", { headers: bearer, body: { bio: "First programmer." } });
check(updated.data?.bio === "First programmer.", `profile update: ${updated.response.status}`);

const form = await api.PUT("/api/v1/user/photo", { headers: bearer });
check(form.data !== undefined && form.data.form.url.length > 0, `photo form: ${form.response.status}`);

const refreshed = await api.POST("/api/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } });
check(refreshed.data !== undefined && refreshed.data.refresh_token !== tokens.refresh_token, "refresh");

const wrong = await api.POST("/api/v1/auth/login", { body: { email, password: "not the password" } });
check(wrong.response.status === 401, `wrong password: ${wrong.response.status}`);
check(wrong.response.headers.get("content-type") === "application/problem+json", "a problem document");
check(wrong.error?.code === "invalid_credentials", `wrong password code: ${JSON.stringify(wrong.error)}`);

const renewed = { Authorization: `Bearer ${refreshed.data.access_token}` };
const logout = await api.POST("/api/v1/auth/logout", { headers: renewed, body: {} });
check(logout.response.status === 204, `logout: ${logout.response.status}`);
const after = await api.GET("/api/v1/user", { headers: renewed });
check(after.response.status === 401, `after logout: ${after.response.status}`);

// A reader who never chooses a password: the address, then the six digits the email holds.
const reader = `nora.${Date.now()}@example.com`;
const asked = await api.POST("/api/v1/auth/email_sign_in", { body: { email: reader } });
check(asked.response.status === 202 && asked.data !== undefined, `asking to sign in by email: ${asked.response.status}`);
const flow: components["schemas"]["EmailSignInAsked"] = asked.data;
const code = (await emailedText(reader, "Your sign-in code")).match(/^(\d{6})\r?$/m)?.[1];
check(code !== undefined, "a code in the email");
const byCode = await api.POST("/api/v1/auth/email_sign_in/code", { body: { flow_id: flow.flow_id, code } });
check(byCode.data !== undefined && "access_token" in byCode.data, `signing in by code: ${byCode.response.status}`);
const readerTokens: components["schemas"]["TokenPair"] = byCode.data;
check(readerTokens.user.email === reader && readerTokens.user.role === "reader", "a new reader, signed in");
const spent = await api.POST("/api/v1/auth/email_sign_in/code", { body: { email: reader, code } });
check(spent.error?.code === "invalid_code", `the code a second time: ${JSON.stringify(spent.error)}`);

console.log(`contract story: sign-up to logout as ${email}, and a sign-up by emailed code, every step as the document says`);
