// What the browser stories share: a failed check's message, the outbox's links, a page's
// heading, JSON posts, and an authenticator app (RFC 6238, as the service and pyotp count).
import { createHmac } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";

export function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`browser story: ${what}`);
}

/** The link in the newest email to `to` with this subject, waiting for the worker to send it. */
export async function emailedLink(outbox: string, to: string, subject: string): Promise<string> {
  for (let tries = 0; tries < 100; tries++) {
    const mails = readdirSync(outbox, { withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => readFileSync(join(outbox, entry.name), "utf8"))
      .filter((mail) => mail.includes(`\r\nTo: ${to}\r\n`) && mail.includes(`\r\nSubject: ${subject}\r\n`));
    const link = mails.at(-1)?.match(/https?:\/\/[^\s"<>]+\?token=[A-Za-z0-9_.-]+/)?.[0];
    if (link) return link;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no email "${subject}" reached ${to}`);
}

/** A JSON POST to the service at `base`, with a bearer token if given. */
export function poster(base: string) {
  return (path: string, body: unknown, bearer?: string): Promise<Response> =>
    fetch(`${base}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
      body: JSON.stringify(body),
    });
}

export async function heading(page: Page): Promise<string> {
  return (await page.locator("h1").textContent()) ?? "";
}

function base32(text: string): Buffer {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const c of text.replace(/=+$/, "").toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(bytes);
}

/** An authenticator app for one secret: each code of a 30-second step is given once, as the
 * service takes each once (the next step's code is taken too; past that, it waits). */
export class Authenticator {
  private lastStep = 0;
  constructor(private readonly secret: string) {}

  private codeOf(step: number): string {
    const message = Buffer.alloc(8);
    message.writeBigUInt64BE(BigInt(step));
    const hash = createHmac("sha1", base32(this.secret)).update(message).digest();
    const offset = hash[hash.length - 1] & 15;
    return ((hash.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).toString().padStart(6, "0");
  }

  async code(): Promise<string> {
    for (;;) {
      const now = Math.floor(Date.now() / 30_000);
      if (this.lastStep < now + 1) {
        this.lastStep = Math.max(this.lastStep + 1, now);
        return this.codeOf(this.lastStep);
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}
