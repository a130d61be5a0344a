// What the pages show of the media servers, in Chromium: the console's
// attendance timeline draws the media server's connections beside the
// sessions in the meeting, and the join page hands a person to LiveKit
// and Jitsi ("Open in LiveKit", "Open in Jitsi").
//
// Run by tests/api/media.rs: MEETINGS_URL, ARTIFACTS, TOKEN (the host's),
// ENDED (a meeting with media connections, over), ACTIVE (the room code
// of a meeting in progress), LIVEKIT_URL, JITSI_DOMAIN.

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const { MEETINGS_URL: base, TOKEN, ENDED, ACTIVE, LIVEKIT_URL, JITSI_DOMAIN } = process.env;
const artifacts = process.env.ARTIFACTS || "target/browser-artifacts";
mkdirSync(artifacts, { recursive: true });
const WAIT = 10000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
// Signed in as the console would leave it.
await context.addInitScript((token) => localStorage.setItem("meetings.token", token), TOKEN);
const page = await context.newPage();

function fail(message) {
  throw new Error(message);
}

async function count(selector) {
  return page.locator(selector).count();
}

try {
  await page.goto(`${base}/console#/meeting/${ENDED}`);
  await page.locator(".tl-row[data-user='bob'] .bar.media").waitFor({ timeout: WAIT });
  const lanes = {};
  for (const user of ["alice", "bob", "carol"]) {
    lanes[user] = [await count(`.tl-row[data-user='${user}'] .bar.api`), await count(`.tl-row[data-user='${user}'] .bar.media`)];
  }
  // alice joined and never connected; bob did both; carol only connected.
  const expected = { alice: [1, 0], bob: [1, 1], carol: [0, 1] };
  if (JSON.stringify(lanes) !== JSON.stringify(expected)) fail(`timeline lanes ${JSON.stringify(lanes)}`);
  await page.screenshot({ path: join(artifacts, "console-media-attendance.png"), fullPage: true });
  console.log("ok  the timeline shows the media connections beside the sessions");

  await page.goto(`${base}/meeting/${ACTIVE}`);
  await page.locator("#signed-in", { hasText: "Signed in as Alice" }).waitFor({ timeout: WAIT });
  await page.click("#join");
  const livekit = page.locator("a", { hasText: "Open in LiveKit" });
  const jitsi = page.locator("a", { hasText: "Open in Jitsi" });
  await livekit.waitFor({ timeout: WAIT });
  await jitsi.waitFor({ timeout: WAIT });
  const livekitHref = new URL(await livekit.getAttribute("href"));
  if (livekitHref.searchParams.get("liveKitUrl") !== LIVEKIT_URL || !livekitHref.searchParams.get("token")) {
    fail(`Open in LiveKit: ${livekitHref}`);
  }
  const jitsiHref = new URL(await jitsi.getAttribute("href"));
  if (jitsiHref.host !== JITSI_DOMAIN || !jitsiHref.searchParams.get("jwt")) fail(`Open in Jitsi: ${jitsiHref}`);
  await page.screenshot({ path: join(artifacts, "join-media-links.png"), fullPage: true });
  console.log("ok  the join page opens LiveKit and Jitsi");
} catch (e) {
  console.log(`FAILED: ${e.message}`);
  await page.screenshot({ path: join(artifacts, "failed-media.png"), fullPage: true }).catch(() => {});
  await browser.close();
  process.exit(1);
}
await browser.close();
