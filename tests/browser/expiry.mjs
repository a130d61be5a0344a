// A sign-in that runs out while the pages are open: the console's meeting
// page and the join page (one browser profile, so one stored token) are
// live in a meeting when the token's `exp` passes; their connections then
// drop, and instead of reconnecting forever each page stops and says so
// (the console goes back to its sign-in form with a notice).
//
// Run by tests/api/browser.rs with MEETINGS_URL, ARTIFACTS, SHORT_TOKEN
// (a token of "Sid Short" that expires within seconds), MEETING_ID and
// LINK (a meeting Sid hosts).

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { recordSockets } from "./sockets.mjs";

const base = process.env.MEETINGS_URL;
const artifacts = process.env.ARTIFACTS || "target/browser-artifacts";
mkdirSync(artifacts, { recursive: true });
const WAIT = 10_000;
const token = process.env.SHORT_TOKEN;
const exp = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()).exp;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
await context.addInitScript(recordSockets);
const pages = [];
const open = (page) => page.evaluate(() => window.__sockets.filter((s) => s.readyState === 1).length);

try {
  const console_ = await context.newPage();
  pages.push(console_);
  await console_.goto(`${base}/console`);
  await console_.fill("#token", token);
  await console_.click("button:text-is('Sign in')");
  await console_.locator("#who", { hasText: "Sid Short" }).waitFor({ timeout: WAIT });
  await console_.goto(`${base}/console#/meeting/${process.env.MEETING_ID}`);
  await console_.locator("#meeting-status", { hasText: "active" }).waitFor({ timeout: WAIT });

  const room = await context.newPage();
  pages.push(room);
  await room.goto(process.env.LINK);
  await room.click("#join");
  await room.locator(".people-panel .person", { hasText: "Sid Short (you)" }).waitFor({ timeout: WAIT });
  for (const page of pages) await page.waitForFunction(() => window.__sockets.some((s) => s.readyState === 1), null, { timeout: WAIT });
  console.log("ok  both pages are live");

  // The token runs out by the pages' clock; then both connections drop.
  await room.waitForFunction((exp) => Date.now() > exp * 1000, exp, { timeout: 60_000 });
  const before = [];
  for (const page of pages) {
    before.push(await page.evaluate(() => window.__sockets.length));
    await page.evaluate(() => window.__sockets.at(-1).close());
  }
  await room.locator("#status", { hasText: "Your sign-in has expired" }).waitFor({ timeout: WAIT });
  await console_.locator("p.error", { hasText: "Your sign-in has expired" }).waitFor({ timeout: WAIT });
  await console_.locator("#token").waitFor({ timeout: WAIT });
  for (const [i, page] of pages.entries()) {
    const now = await page.evaluate(() => window.__sockets.length);
    if (now !== before[i]) throw new Error(`page ${i} opened ${now - before[i]} new connections with an expired token`);
    if ((await open(page)) !== 0) throw new Error(`page ${i} still has an open connection`);
  }
  console.log("ok  both pages stop and say the sign-in expired");
  await room.screenshot({ path: join(artifacts, "join-expired.png"), fullPage: true });
  await console_.screenshot({ path: join(artifacts, "console-expired.png"), fullPage: true });
} catch (e) {
  console.log(`FAILED: ${e.message}`);
  for (const [i, page] of pages.entries()) {
    await page.screenshot({ path: join(artifacts, `failed-expiry-${i}.png`), fullPage: true }).catch(() => {});
  }
  await browser.close();
  process.exit(1);
}
await browser.close();
