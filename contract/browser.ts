// The emailed links as a person uses them, in a real browser (Debian's Chromium, driven by
// playwright-core): sign up, open the confirmation link, press the button, see the answer;
// ask for a reset, open its link, type a new password into the form, and log in with it.
// The pages must render under their own Content-Security-Policy with nothing blocked (the
// browser reports any violation on the console, which fails the run). scripts/contract runs
// it against the local server after the contract story.
// Then a passkey as a person makes one: Chromium's own WebAuthn client with its virtual
// authenticator (DevTools' WebAuthn domain) registers one from the service's options, and signs
// in with it, the JSON crossing both ways as the browser's `toJSON()` and
// `parseCreationOptionsFromJSON()` make and read it.
import { chromium } from "playwright-core";
import { check, emailedLink as emailedLinkIn, heading, poster } from "./support.js";

const base = process.env.UMS_BASE_URL ?? "";
const outbox = process.env.UMS_OUTBOX ?? "";
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
if (!base || !outbox) throw new Error("set UMS_BASE_URL and UMS_OUTBOX");

const email = `grace.${Date.now()}@example.com`;
const post = poster(base);
const emailedLink = (to: string, subject: string) => emailedLinkIn(outbox, to, subject);

const registered = await post("/api/v1/auth/register/reader", {
  email,
  password: "correct horse battery staple",
  first_name: "Grace",
  last_name: "Hopper",
});
check(registered.status === 201, `register: ${registered.status}`);

const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage();
  const complaints: string[] = [];
  // A refused password is a 422 page, which Chromium notes on the console too: that one is
  // meant; anything else (a blocked style, a script) is not.
  page.on("console", (message) => {
    const text = message.text();
    const meant = text.includes("status of 422");
    if ((message.type() === "error" || message.type() === "warning") && !meant) {
      complaints.push(`${message.location().url}: ${text}`);
    }
  });

  // Confirm: the link opens a page; only the button confirms.
  const confirmLink = await emailedLink(email, "Confirm your email address");
  const opened = await page.goto(confirmLink);
  check(opened?.status() === 200, `the confirmation page: ${opened?.status()}`);
  check((await heading(page)) === "Confirm your email address", "the confirmation page's heading");
  const buttonColour = await page.locator("button").evaluate((button) => getComputedStyle(button).backgroundColor);
  check(buttonColour === "rgb(26, 115, 232)", `the page's own style applies under its policy: ${buttonColour}`);
  const early = await post("/api/v1/auth/login", { email, password: "correct horse battery staple" });
  check(early.status === 403, `opening the link confirmed nothing yet: ${early.status}`);
  await Promise.all([page.waitForURL(/\/confirm-email$/), page.getByRole("button").click()]);
  check((await heading(page)) === "Email address confirmed", `after the button: ${await heading(page)}`);
  check(!page.url().includes("token="), "the token is not in the address the browser shows after posting");

  // Reset: the link opens a form; a refused password shows it again; an accepted one works.
  const asked = await post("/api/v1/auth/send_reset_password_email", { email });
  check(asked.status === 202, `reset request: ${asked.status}`);
  const resetLink = await emailedLink(email, "Reset your password");
  await page.goto(resetLink);
  check((await heading(page)) === "Choose a new password", "the reset page's heading");
  await page.locator("#password").fill("password");
  await Promise.all([page.waitForURL(/\/reset-password$/), page.getByRole("button").click()]);
  const why = (await page.locator(".problem").allTextContents()).join(" ");
  check(why.includes("common"), `why it was refused: ${why}`);
  await page.locator("#password").fill("a brand new garden path");
  await Promise.all([page.waitForURL(/\/reset-password$/), page.getByRole("button").click()]);
  check((await heading(page)) === "Password changed", `after the form: ${await heading(page)}`);

  const login = await post("/api/v1/auth/login", { email, password: "a brand new garden path" });
  check(login.status === 200, `logging in with the new password: ${login.status}`);
  check(complaints.length === 0, `the browser complained: ${complaints.join(" | ")}`);

  // A passkey, on the service's own origin (`localhost`: the one name a browser takes over http).
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
    },
  });
  await page.goto(`${base.replace("127.0.0.1", "localhost")}/api/v1/health`);
  const passkey = await page.evaluate(async ({ email, password }) => {
    const send = async (path: string, body?: unknown, token?: string) => {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (token) headers.authorization = `Bearer ${token}`;
      const response = await fetch(path, { method: "POST", headers, body: body ? JSON.stringify(body) : undefined });
      return { status: response.status, body: await response.json().catch(() => null) };
    };
    const login = await send("/api/v1/auth/login", { email, password });
    const access = login.body.access_token;
    const started = await send("/api/v1/auth/factors/passkeys", undefined, access);
    const created = (await navigator.credentials.create({
      publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(started.body.options.publicKey),
    })) as PublicKeyCredential;
    const registered = await send(
      "/api/v1/auth/factors/passkeys/confirm",
      { ceremony: started.body.ceremony, credential: created.toJSON(), name: "Chromium" },
      access,
    );
    const options = await send("/api/v1/auth/passkey/options", { email });
    const got = (await navigator.credentials.get({
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.body.options.publicKey),
    })) as PublicKeyCredential;
    const signedIn = await send("/api/v1/auth/passkey", { ceremony: options.body.ceremony, credential: got.toJSON() });
    const again = await send("/api/v1/auth/passkey", { ceremony: options.body.ceremony, credential: got.toJSON() });
    const payload = signedIn.body?.access_token?.split(".")[1] ?? "";
    const amr = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))).amr;
    return { access, started: started.status, registered: registered.status, codes: registered.body?.recovery_codes?.length,
      signedIn: signedIn.status, again: again.status, amr, problem: registered.body?.detail ?? signedIn.body?.detail };
  }, { email, password: "a brand new garden path" });
  check(passkey.started === 201 && passkey.registered === 201, `registering a passkey: ${JSON.stringify(passkey)}`);
  check(passkey.codes === 10, `a first factor's recovery codes: ${JSON.stringify(passkey)}`);
  check(passkey.signedIn === 200, `signing in with the passkey: ${JSON.stringify(passkey)}`);
  check(passkey.again === 401, `the same answer again: ${JSON.stringify(passkey)}`);
  check(JSON.stringify(passkey.amr) === '["hwk","mfa"]', `amr: ${JSON.stringify(passkey.amr)}`);

  // Chromium was a new device: its password login was alerted, and the alert's page ends it.
  // (The passkey's replayed answer was a 401 the console noted: meant. The pages are checked anew.)
  complaints.length = 0;
  const alertLink = await emailedLink(email, "A new sign-in to your account");
  await page.goto(alertLink);
  check((await heading(page)) === "End that session", `the alert's page: ${await heading(page)}`);
  const stillIn = await fetch(`${base}/api/v1/user`, { headers: { authorization: `Bearer ${passkey.access}` } });
  check(stillIn.status === 200, `opening the alert's link ended nothing: ${stillIn.status}`);
  await Promise.all([page.waitForURL(/\/end-session$/), page.getByRole("button").click()]);
  check((await heading(page)) === "Session ended", `after the alert's button: ${await heading(page)}`);
  const ended = await fetch(`${base}/api/v1/user`, { headers: { authorization: `Bearer ${passkey.access}` } });
  check(ended.status === 401, `the alerted session is over: ${ended.status}`);
  check(complaints.length === 0, `the browser complained: ${complaints.join(" | ")}`);

  // Signing in with a provider: the front end sends Chromium to the service, which sends it to
  // the provider's own sign-in page (oidc-provider's, the tests' provider); Chromium signs in
  // there and comes back through the service to the front end's page with a code, which the
  // front end exchanges for tokens (here from this process, on the same machine).
  const providerUrl = process.env.UMS_TEST_PROVIDER_URL ?? "";
  check(providerUrl !== "", "UMS_TEST_PROVIDER_URL is not set: the test provider (scripts/contract starts one)");
  const sub = `ada-${Date.now()}`;
  const person = { sub, email: `${sub}@example.com`, email_verified: true, given_name: "Ada", family_name: "Lovelace" };
  const made = await fetch(`${providerUrl}/test/users`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(person),
  });
  check(made.status === 201, `a person at the provider: ${made.status}`);
  // The front end's page (the test provider serves one, on the operator's list of the settings).
  const frontEnd = `${providerUrl}/signed-in`;
  complaints.length = 0;
  await page.goto(`${base}/api/v1/auth/providers/start?provider=test&redirect_to=${encodeURIComponent(frontEnd)}`);
  check(page.url().startsWith(`${providerUrl}/interaction/`), `at the provider's sign-in page: ${page.url()}`);
  await page.locator('input[name="login"]').fill(sub);
  await Promise.all([page.waitForURL((url) => url.href.startsWith(`${frontEnd}?code=`)), page.getByRole("button").click()]);
  check((await heading(page)) === "Welcome back", `the front end's page: ${await heading(page)}`);
  const code = new URL(page.url()).searchParams.get("code");
  const exchanged = await post("/api/v1/auth/providers/exchange", { code });
  check(exchanged.status === 200, `exchanging the code: ${exchanged.status}`);
  const signedIn = await exchanged.json();
  check(signedIn.user?.email === person.email && signedIn.user?.first_name === "Ada", `signed in: ${JSON.stringify(signedIn.user)}`);
  const again = await post("/api/v1/auth/providers/exchange", { code });
  check(again.status === 400, `the code a second time: ${again.status}`);
  // The provider's and the front end's pages are not ours (they have no favicon, say).
  const ours = complaints.filter((complaint) => complaint.startsWith(base));
  check(ours.length === 0, `the browser complained: ${ours.join(" | ")}`);
  // Signing in by an emailed link: the front end asks, keeping the flow id (bound to this
  // browser); Chromium opens the link, whose page's button sends it on to the front end's page
  // with a code; only the flow id exchanges it.
  const reader = `nora.${Date.now()}@example.com`;
  const askedByEmail = await post("/api/v1/auth/email_sign_in", { email: reader, redirect_to: frontEnd, same_browser: true });
  check(askedByEmail.status === 202, `asking to sign in by email: ${askedByEmail.status}`);
  const { flow_id } = (await askedByEmail.json()) as { flow_id: string };
  complaints.length = 0;
  const signInLink = await emailedLink(reader, "Your sign-in code");
  await page.goto(signInLink);
  check((await heading(page)) === "Sign in", `the sign-in link's page: ${await heading(page)}`);
  await Promise.all([page.waitForURL((url) => url.href.startsWith(`${frontEnd}?code=`)), page.getByRole("button").click()]);
  const linkCode = new URL(page.url()).searchParams.get("code");
  const elsewhere = await post("/api/v1/auth/email_sign_in/exchange", { code: linkCode });
  check(elsewhere.status === 400, `the link's code without the flow id: ${elsewhere.status}`);
  const byLink = await post("/api/v1/auth/email_sign_in/exchange", { code: linkCode, flow_id });
  check(byLink.status === 200, `exchanging the link's code with the flow id: ${byLink.status}`);
  const byLinkBody = (await byLink.json()) as { user?: { email?: string } };
  check(byLinkBody.user?.email === reader, `signed in by the link: ${JSON.stringify(byLinkBody.user)}`);
  const oursNow = complaints.filter((complaint) => complaint.startsWith(base));
  check(oursNow.length === 0, `the browser complained: ${oursNow.join(" | ")}`);
  console.log(
    "browser story: confirmed by the page's button, reset through the form, logged in; " +
      "a passkey registered by Chromium's WebAuthn client (virtual authenticator) signed in once; " +
      "the new-device alert's page ended Chromium's session; " +
      "signed in through the provider's own page, back on the front end's with a code exchanged once; " +
      "signed up by an emailed link's button, its code exchanged only with the flow id",
  );
} finally {
  await browser.close();
}
