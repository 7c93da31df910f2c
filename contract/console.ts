// The staff console as its people use it, in a real browser (Debian's Chromium, driven by
// playwright-core), run by scripts/console-story against the local server and the AWS path.
// A moderator signs in with password and code, with scripts off (the console must work without
// them), opens the newest report and flags its author. An admin signs in (scripts on: times in
// the viewer's zone), suspends the author with a reason and sees it on the audit trail, finds
// an account, resets its factors and ends its sessions: that account's tokens are refused
// after. A reader signing in is turned away. No page may make the browser complain (a
// Content-Security-Policy violation would). A screenshot of each page is kept.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { Authenticator, check, emailedLink, heading, poster } from "./support.js";

const base = process.env.UMS_BASE_URL ?? "";
const outbox = process.env.UMS_OUTBOX ?? "";
const adminEmail = process.env.UMS_CONSOLE_ADMIN ?? "";
const adminPassword = process.env.UMS_CONSOLE_ADMIN_PASSWORD ?? "";
const shots = process.env.UMS_SCREENSHOTS ?? "";
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
if (!base || !outbox || !adminEmail || !adminPassword || !shots) {
  throw new Error("set UMS_BASE_URL, UMS_OUTBOX, UMS_CONSOLE_ADMIN(_PASSWORD) and UMS_SCREENSHOTS");
}
mkdirSync(shots, { recursive: true });

const post = poster(base);
const password = "correct horse battery staple";
const stamp = Date.now();
const address = (name: string) => `${name}.${stamp}@example.com`;

async function json(response: Response, what: string, status: number): Promise<any> {
  check(response.status === status, `${what}: ${response.status} ${await response.clone().text()}`);
  return response.json();
}

/** Logs in through the API; a staff account without a factor enrols an app first. */
async function apiSignIn(email: string, pass: string, app?: Authenticator): Promise<{ access: string; app?: Authenticator }> {
  const login = await json(await post("/api/v1/auth/login", { email, password: pass }), `login ${email}`, 200);
  if (login.challenge) {
    check(app !== undefined, `${email} has a factor this story does not hold`);
    const done = await post("/api/v1/auth/login/second_factor", { challenge: login.challenge, code: await app.code() });
    return { access: (await json(done, `second factor ${email}`, 200)).access_token, app };
  }
  if (!login.second_factor_enrolment_required) return { access: login.access_token };
  const started = await json(await post("/api/v1/auth/factors/totp", {}, login.access_token), "enrolling", 201);
  const enrolled = new Authenticator(started.secret);
  await json(await post("/api/v1/auth/factors/totp/confirm", { code: await enrolled.code() }, login.access_token), "confirming", 200);
  const refreshed = await json(await post("/api/v1/auth/refresh", { refresh_token: login.refresh_token }), "refresh", 200);
  return { access: refreshed.access_token, app: enrolled };
}

/** Registers `role` (staff: by the admin), confirms from the emailed link, signs in. */
async function account(role: string, name: string, first: string, last: string, adminAccess?: string) {
  const email = address(name);
  const body = { email, password, first_name: first, last_name: last };
  await json(await post(`/api/v1/auth/register/${role}`, body, adminAccess), `registering ${email}`, 201);
  const link = new URL(await emailedLink(outbox, email, "Confirm your email address"));
  const confirmed = await fetch(`${base}/api/v1/auth/confirm_email?token=${link.searchParams.get("token")}`);
  check(confirmed.status === 200, `confirming ${email}: ${confirmed.status}`);
  const signedIn = await apiSignIn(email, password);
  const me = await json(await fetch(`${base}/api/v1/user`, { headers: { authorization: `Bearer ${signedIn.access}` } }), "me", 200);
  return { email, id: me.id as string, ...signedIn };
}

async function statusOf(access: string): Promise<number> {
  return (await fetch(`${base}/api/v1/user`, { headers: { authorization: `Bearer ${access}` } })).status;
}

const complaints: string[] = [];
let shot = 0;

/** A new window, its complaints collected. */
async function windowOf(browser: Browser, options: { javaScriptEnabled: boolean; phone?: boolean }) {
  const context: BrowserContext = await browser.newContext({
    javaScriptEnabled: options.javaScriptEnabled,
    viewport: options.phone ? { width: 390, height: 844 } : { width: 1280, height: 800 },
    timezoneId: "America/New_York",
  });
  const page = await context.newPage();
  page.on("console", (message) => {
    // A refused step (a 403 page, a wrong code's 401) is noted by Chromium as a failed load:
    // meant. Anything else (a blocked style or script, a policy violation) is not.
    const meant = /status of (401|403)/.test(message.text());
    if ((message.type() === "error" || message.type() === "warning") && !meant) {
      complaints.push(`${message.location().url}: ${message.text()}`);
    }
  });
  page.on("pageerror", (error) => complaints.push(`script error: ${error.message}`));
  return page;
}

async function screenshot(page: Page, name: string) {
  shot += 1;
  const file = join(shots, `${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
}

/** Submits the form whose button has this name, waiting for the page it leads to. */
async function press(page: Page, button: string) {
  await Promise.all([page.waitForLoadState("load"), page.getByRole("button", { name: button }).click()]);
  await page.waitForLoadState("load");
}

/** Registers a passkey for the account of `access` with Chromium's own WebAuthn client and a
 * virtual authenticator (DevTools' WebAuthn domain), from a console page on `localhost` (the one
 * name a browser takes for passkeys over http). */
async function registerPasskey(page: Page, at: string, access: string) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
  await page.goto(`${at}/console/sign-in`);
  const registered = await page.evaluate(async (access) => {
    const send = async (path: string, body?: unknown) => {
      const headers = { "content-type": "application/json", authorization: `Bearer ${access}` };
      const response = await fetch(path, { method: "POST", headers, body: body ? JSON.stringify(body) : undefined });
      return { status: response.status, body: await response.json().catch(() => null) };
    };
    const started = await send("/api/v1/auth/factors/passkeys");
    const created = (await navigator.credentials.create({
      publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(started.body.options.publicKey),
    })) as PublicKeyCredential;
    const done = await send("/api/v1/auth/factors/passkeys/confirm", {
      ceremony: started.body.ceremony,
      credential: created.toJSON(),
      name: "Chromium",
    });
    return done.status;
  }, access);
  check(registered === 201, `registering the admin's passkey: ${registered}`);
}

/** Signs in to the console: the password form, then the code (or, `passkey`, the browser's
 * passkey through the page's button). */
async function consoleSignIn(
  page: Page,
  email: string,
  pass: string,
  app: Authenticator | undefined,
  name: string,
  at = base,
  passkey = false,
) {
  await page.goto(`${at}/console`);
  check((await heading(page)) === "Sign in", `${name}: the console sends to sign in: ${await heading(page)}`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(pass);
  await screenshot(page, `${name}-sign-in`);
  await press(page, "Continue");
  if (!app) return;
  check((await heading(page)) === "Your second factor", `${name}: the second factor's form: ${await heading(page)}`);
  await screenshot(page, `${name}-second-factor`);
  if (passkey) {
    // The page's script asks the browser for the passkey, then posts its answer.
    const button = page.getByRole("button", { name: "Use a passkey" });
    await Promise.all([page.waitForURL((url) => url.pathname.endsWith("/console")), button.click()]);
  } else {
    await page.getByLabel("Code from your authenticator app").fill(await app.code());
    await press(page, "Sign in");
  }
  check((await heading(page)) === "Start", `${name}: signed in: ${await heading(page)}`);
}

/** An action that changes who may sign in: fills its form (`fill`), presses `button`, and if
 * the console asks to confirm it is you first (a step-up: the sign-in is older than its age),
 * answers with the app's next code, is sent back to the page, and does it again. `done` is what
 * the page says after. */
async function act(page: Page, app: Authenticator, button: string, done: string, fill = async () => {}) {
  await fill();
  await press(page, button);
  if ((await heading(page)) === "Confirm it is you") {
    await screenshot(page, "admin-step-up");
    await page.getByLabel("Code from your authenticator app").fill(await app.code());
    await press(page, "Confirm");
    await fill();
    await press(page, button);
  }
  check(await page.getByText(done).isVisible(), `${button}: ${await heading(page)}`);
}

// The people: an admin (the operator's), a moderator the admin registers, an author, two readers
// who report the author (and another author, earlier).
const admin = await apiSignIn(adminEmail, adminPassword);
check(admin.app !== undefined, "the admin enrolled an authenticator app");
const moderator = await account("moderator", "mo", "Margaret", "Hamilton", admin.access);
const author = await account("author", "bob", "Bob", "Spammer");
const other = await account("author", "old", "Olive", "Older");
const reader = await account("reader", "rita", "Rita", "Reader");
const reader2 = await account("reader", "sam", "Sam", "Second");
const report = (by: string, id: string, reason: string) =>
  post(`/api/v1/report/author?id=${id}`, { reason }, by).then((r) => json(r, "a report", 201));
await report(reader2.access, other.id, "An older report about someone else");
await report(reader.access, author.id, "Posts the same casino link in every comment");
check(moderator.app !== undefined, "the moderator enrolled an authenticator app");

const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
try {
  // The moderator, with scripts off: every step is a link or a form.
  const mo = await windowOf(browser, { javaScriptEnabled: false });
  await consoleSignIn(mo, moderator.email, password, moderator.app, "moderator");
  await screenshot(mo, "moderator-start");
  await Promise.all([mo.waitForLoadState("load"), mo.getByRole("link", { name: "Reports", exact: true }).click()]);
  check((await heading(mo)) === "Reports", `the reports queue: ${await heading(mo)}`);
  const rows = await mo.locator("tbody tr").allTextContents();
  const older = rows.findIndex((row) => row.includes("Olive Older"));
  check(rows[0].includes("casino link") && older > 0, `the newest report first: ${JSON.stringify(rows)}`);
  await screenshot(mo, "moderator-reports");
  await Promise.all([mo.waitForLoadState("load"), mo.locator("tbody tr").first().getByRole("link").click()]);
  check((await heading(mo)) === "Author", `the author's page: ${await heading(mo)}`);
  check(await mo.getByText("Posts the same casino link in every comment").first().isVisible(), "the report on the author's page");
  check((await mo.getByRole("button", { name: "Suspend" }).count()) === 0, "a moderator is offered no suspension");
  await screenshot(mo, "moderator-author");
  await mo.getByLabel("Why").fill("Spam: the same casino link, reported");
  await press(mo, "Flag");
  check(await mo.getByText("The author is flagged").isVisible(), "flagged");
  await screenshot(mo, "moderator-flagged");
  // The moderator's pages on a phone: the queue reads as cards.
  const phone = await windowOf(browser, { javaScriptEnabled: true, phone: true });
  await phone.context().addCookies(await mo.context().cookies());
  await phone.goto(`${base}/console/reports?status=all`);
  check((await heading(phone)) === "Reports", "the queue on a phone");
  await screenshot(phone, "moderator-reports-phone");

  // A reader signing in is turned away.
  const rita = await windowOf(browser, { javaScriptEnabled: true });
  await consoleSignIn(rita, reader.email, password, undefined, "reader");
  check((await heading(rita)) === "The console is for moderators and admins", `a reader: ${await heading(rita)}`);
  await screenshot(rita, "reader-turned-away");

  // The admin, with scripts on, signs in with a passkey (on `localhost`: passkeys take no
  // address for a name).
  const root = await windowOf(browser, { javaScriptEnabled: true });
  const at = base.replace("127.0.0.1", "localhost");
  await registerPasskey(root, at, admin.access);
  await consoleSignIn(root, adminEmail, adminPassword, admin.app, "admin", at, true);
  await screenshot(root, "admin-start");
  await root.goto(`${at}/console/author?id=${author.id}`);
  check(await root.getByText("Spam: the same casino link, reported").first().isVisible(), "the moderator's flag on the author's page");
  const why = () => root.getByLabel("Why (the author is told this when they try to sign in)").fill("Spam after a flag");
  await act(root, admin.app, "Suspend", "The author is suspended", why);
  await screenshot(root, "admin-author-suspended");
  check((await statusOf(author.access)) === 401, "the suspended author's tokens are refused");
  await Promise.all([root.waitForLoadState("load"), root.getByRole("link", { name: "Audit trail" }).click()]);
  const trail = await root.locator("tbody").textContent();
  check((trail ?? "").includes("Spam after a flag") && (trail ?? "").includes("suspend"), `on the audit trail: ${trail}`);
  const when = root.locator("tbody time").first();
  const utc = (await when.getAttribute("title")) ?? "";
  check(utc.endsWith(" UTC") && (await when.textContent()) !== utc, `a time in the viewer's zone, UTC on hover: ${utc}`);
  await screenshot(root, "admin-audit-trail");

  // The admin finds the moderator's account, resets its factors; ends the reader's sessions.
  await Promise.all([root.waitForLoadState("load"), root.getByRole("link", { name: "Accounts" }).click()]);
  await root.getByLabel("Address").fill(moderator.email);
  await press(root, "Find");
  await screenshot(root, "admin-accounts");
  await Promise.all([root.waitForLoadState("load"), root.getByRole("link", { name: "Margaret Hamilton" }).click()]);
  check((await heading(root)) === "Account", `the account's page: ${await heading(root)}`);
  await screenshot(root, "admin-account");
  await act(root, admin.app, "Reset every factor (lost authenticator)", "Every second factor is removed");
  check((await statusOf(moderator.access)) === 401, "the moderator's tokens are refused after the reset");
  await root.goto(`${at}/console/accounts?email=${encodeURIComponent(reader.email)}`);
  await Promise.all([root.waitForLoadState("load"), root.getByRole("link", { name: "Rita Reader" }).click()]);
  await act(root, admin.app, "End every session", "Every session of the account is ended");
  check((await statusOf(reader.access)) === 401, "the reader's tokens are refused after their sessions ended");
  await screenshot(root, "admin-account-sessions-ended");
  await Promise.all([root.waitForLoadState("load"), root.getByRole("link", { name: "Webhooks" }).click()]);
  await screenshot(root, "admin-webhooks");
  await Promise.all([root.waitForLoadState("load"), root.getByRole("link", { name: "Register staff" }).click()]);
  await screenshot(root, "admin-register-staff");
  await press(root, "Sign out");
  check((await heading(root)) === "Sign in", `signed out: ${await heading(root)}`);

  check(complaints.length === 0, `the browser complained: ${complaints.join(" | ")}`);
  console.log(
    `console story: a moderator (scripts off) signed in with password and code, flagged the newest report's author; ` +
      `a reader was turned away; an admin signed in with a passkey (Chromium's WebAuthn), suspended the author with a reason (on the audit trail, in the viewer's zone), ` +
      `reset a moderator's factors and ended a reader's sessions (their tokens refused after); ${shot} screenshots in ${shots}`,
  );
} finally {
  await browser.close();
}
