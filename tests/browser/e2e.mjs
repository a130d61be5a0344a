// The join page and the console in a real browser (Debian's Chromium,
// driven by playwright-core), against a running server: a host creates a
// meeting in the console, a guest opens the link, waits, is admitted; both
// see each other and each other's chat within a second; a dropped
// connection resumes losing nothing; the host locks the room (a third
// person is refused), ends it (both pages say so); the host starts a
// planned meeting from its own link; the attendance
// timeline shows both with one session each and exports as CSV; an
// auditor checks the chain. Screenshots of each page go to $ARTIFACTS.
//
// Run by tests/api/browser.rs: MEETINGS_URL=http://127.0.0.1:PORT
// ARTIFACTS=target/browser-artifacts node tests/browser/e2e.mjs

import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { recordSockets } from "./sockets.mjs";

const base = process.env.MEETINGS_URL;
const artifacts = process.env.ARTIFACTS || "target/browser-artifacts";
mkdirSync(artifacts, { recursive: true });
const SECOND = 1000;
const WAIT = 10 * SECOND;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
const pages = {};

function fail(message) {
  throw new Error(message);
}

async function shot(name, page) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

async function step(name, run) {
  const started = Date.now();
  try {
    await run();
  } catch (e) {
    throw new Error(`${name}: ${e.message}`);
  }
  console.log(`ok  ${name} (${Date.now() - started} ms)`);
}

/** A fresh browser profile that records its WebSockets (to drop one). */
async function person(name, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  await context.addInitScript(recordSockets);
  const page = await context.newPage();
  page.on("dialog", (dialog) => dialog.accept());
  page.on("pageerror", (e) => console.log(`[${name}] page error: ${e.message}`));
  pages[name] = page;
  return page;
}

/** Every visible form control has a name a screen reader reads. */
async function labelled(page, where) {
  const unnamed = await page.evaluate(() =>
    [...document.querySelectorAll("input, select, textarea, button")]
      .filter((e) => e.offsetParent !== null)
      .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !(e.textContent || "").trim())
      .map((e) => e.outerHTML.slice(0, 80)),
  );
  if (unnamed.length) fail(`${where}: controls without a label: ${unnamed.join(" | ")}`);
}

/**
 * Signs in on the console: with the token the test handed over for this
 * person when there is one (pasted, as from an identity provider), else
 * by the embedded default's local sign-in.
 */
async function signIn(page, name, token, { auditor = false } = {}) {
  await page.goto(`${base}/console`);
  if (token) {
    await page.fill("#token", token);
    await page.click("button:text-is('Sign in')");
  } else {
    await page.fill("#dev-name", name);
    if (auditor) await page.check("#dev-auditor");
    await page.click("#dev-sign-in");
  }
  await page.locator("#who", { hasText: name }).waitFor({ timeout: WAIT });
}

/** Every visible text reads at a contrast of at least 4.5:1 (WCAG AA). */
async function readable(page, where) {
  const low = await page.evaluate(() => {
    const rgb = (text) => (text.match(/[\d.]+/g) || []).map(Number);
    const luminance = ([r, g, b]) => {
      const linear = (c) => ((c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
      return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    };
    const background = (node) => {
      for (let at = node; at; at = at.parentElement) {
        const [r, g, b, a = 1] = rgb(getComputedStyle(at).backgroundColor);
        if (a > 0) return [r, g, b];
      }
      return [255, 255, 255];
    };
    const found = [];
    for (const node of document.querySelectorAll("body *")) {
      const own = [...node.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim());
      if (!own || node.offsetParent === null) continue;
      const style = getComputedStyle(node);
      const [fg, bg] = [luminance(rgb(style.color)), luminance(background(node))];
      let ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
      // A disabled control is exempt (WCAG 1.4.3); its opacity is not in
      // its computed colour.
      if (node.closest("button:disabled, option")) continue;
      if (ratio < 4.5) found.push(`${node.tagName.toLowerCase()} "${node.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
    }
    return found;
  });
  if (low.length) fail(`${where}: text below 4.5:1: ${low.join(" | ")}`);
}

let link;
let guestId;
try {
  const host = await person("host");
  await step("the host signs in and sees the meetings list", async () => {
    await signIn(host, "Hana Host", process.env.HOST_TOKEN);
    await host.locator("h1", { hasText: "Meetings" }).waitFor({ timeout: WAIT });
    await labelled(host, "console, meetings");
    await readable(host, "console, meetings");
    await shot("console-meetings", host);
  });

  await step("the host creates a meeting with a waiting room, started now", async () => {
    await host.fill("#new-title", "Design review");
    await host.check("#new-waiting-room");
    await host.click("#create button[type=submit]");
    await host.locator("#meeting-status", { hasText: "active" }).waitFor({ timeout: WAIT });
    link = await host.getAttribute("#meeting-link", "href");
    if (!/\/meeting\/[a-z]{3}-[a-z]{4}-[a-z]{3}$/.test(link)) fail(`meeting link ${link}`);
    await host.click("#join-self");
    await host.locator(".people-panel .person", { hasText: "Hana Host (you)" }).waitFor({ timeout: WAIT });
  });

  await step("at phone width the join page and the console fit the screen", async () => {
    const phone = await person("phone", { width: 390, height: 844 });
    for (const [name, url] of [
      ["join-phone", link],
      ["console-phone", `${base}/console`],
    ]) {
      await phone.goto(url, { waitUntil: "networkidle" });
      const wide = await phone.evaluate(() => document.documentElement.scrollWidth);
      if (wide > 390) fail(`${name} is ${wide} px wide at 390`);
      await shot(name, phone);
    }
    // Keyboard: the name has the focus on arrival, Tab goes on to Join.
    await phone.goto(link, { waitUntil: "networkidle" });
    await phone.locator("#name:focus").waitFor({ timeout: WAIT });
    await phone.keyboard.press("Tab");
    if ((await phone.evaluate(() => document.activeElement.id)) !== "join") fail("Tab from the name does not reach Join");
  });
  const guest = await person("guest");
  await step("a guest opens the link (under 100 KB), joins by name and waits", async () => {
    let bytes = 0;
    const counted = [];
    guest.on("response", async (response) => {
      try {
        const body = await response.body();
        bytes += body.length;
        counted.push(`${response.url()} ${body.length}`);
      } catch {
        /* a redirect or a socket has no body */
      }
    });
    await guest.goto(link, { waitUntil: "networkidle" });
    await guest.locator("#title", { hasText: "Design review" }).waitFor({ timeout: WAIT });
    if (bytes >= 100 * 1024) fail(`the join page loaded ${bytes} bytes: ${counted.join(", ")}`);
    console.log(`    join page: ${bytes} bytes in ${counted.length} responses`);
    guest.removeAllListeners("response");
    await labelled(guest, "join page");
    await readable(guest, "join page");
    await shot("join-form", guest);
    await guest.fill("#name", "Gus Guest");
    await guest.keyboard.press("Enter");
    await guest.locator("#waiting").waitFor({ state: "visible", timeout: WAIT });
    await shot("join-waiting", guest);
  });

  await step("the host sees the guest in the waiting room and admits them", async () => {
    const waiting = host.locator("[data-waiting^='guest-gus-guest']");
    await waiting.waitFor({ timeout: WAIT });
    guestId = await waiting.getAttribute("data-waiting");
    await shot("console-waiting-room", host);
    await host.click("button[aria-label='Admit Gus Guest']");
  });

  await step("both see each other", async () => {
    await guest.locator(".people-panel .person[data-user='hana-host']").waitFor({ timeout: WAIT });
    await guest.locator(".people-panel .person", { hasText: "Gus Guest (you)" }).waitFor({ timeout: WAIT });
    await host.locator(`.people-panel .person[data-user='${guestId}']`).waitFor({ timeout: WAIT });
  });

  await step("each sees the other's chat message within a second", async () => {
    await guest.fill("#chat-text", "Hello from Gus");
    await guest.keyboard.press("Enter");
    await host.locator(".chat-log .message", { hasText: "Hello from Gus" }).waitFor({ timeout: SECOND });
    await host.fill("#chat-text", "Welcome, Gus");
    await host.keyboard.press("Enter");
    await guest.locator(".chat-log .message", { hasText: "Welcome, Gus" }).waitFor({ timeout: SECOND });
    await guest.click("button[aria-label='Thumbs up']");
    await host.locator(".reactions-shown .reaction", { hasText: "Gus Guest" }).waitFor({ timeout: SECOND });
    await guest.click("text=Raise hand");
    await host.locator(`.person[data-user='${guestId}'] .flags`, { hasText: "hand raised" }).waitFor({ timeout: SECOND });
    await labelled(guest, "join page, in the room");
    await readable(guest, "join page, in the room");
    await readable(host, "console, a meeting");
    await shot("join-room", guest);
    await shot("console-meeting", host);
  });

  await step("a dropped connection resumes from where it was and loses nothing", async () => {
    const before = await guest.evaluate(() => window.__sockets.length);
    await guest.evaluate(() => window.__sockets.at(-1).close());
    // Said while the guest's connection is down or coming back.
    await host.fill("#chat-text", "Said while you were away");
    await host.keyboard.press("Enter");
    await host.fill("#chat-text", "And once more");
    await host.keyboard.press("Enter");
    await guest.locator(".chat-log .message", { hasText: "And once more" }).waitFor({ timeout: WAIT });
    const sockets = await guest.evaluate(() => window.__sockets.map((s) => s.url));
    if (sockets.length <= before) fail("the page did not reconnect");
    const after = Number(new URL(sockets.at(-1)).searchParams.get("after"));
    if (!(after > 0)) fail(`the reconnection did not resume: ${sockets.at(-1)}`);
    const said = await guest.locator(".chat-log .message p").allTextContents();
    const expected = ["Hello from Gus", "Welcome, Gus", "Said while you were away", "And once more"];
    if (JSON.stringify(said) !== JSON.stringify(expected)) fail(`chat after the reconnection: ${JSON.stringify(said)}`);
  });

  await step("the host locks the room and a third person is refused", async () => {
    await host.click("#lock");
    await host.locator("#locked").waitFor({ timeout: WAIT });
    const third = await person("third");
    await third.goto(link);
    await third.fill("#name", "Tia Third");
    await third.click("#join");
    await third.locator("#error", { hasText: "locked" }).waitFor({ timeout: WAIT });
    await shot("join-locked", third);
  });

  await step("the host ends the meeting and both pages say so", async () => {
    await host.click("#end");
    await host.locator("#meeting-status", { hasText: "ended" }).waitFor({ timeout: WAIT });
    await guest.locator("#status", { hasText: "This meeting has ended." }).waitFor({ timeout: WAIT });
    await shot("join-ended", guest);
  });

  await step("the attendance timeline shows both, one session each, and exports as CSV", async () => {
    const rows = host.locator(".tl-row");
    await host.locator(".tl-row[data-user='hana-host'][data-sessions='1']").waitFor({ timeout: WAIT });
    await host.locator(`.tl-row[data-user='${guestId}'][data-sessions='1']`).waitFor({ timeout: WAIT });
    if ((await rows.count()) !== 2) fail(`timeline rows: ${await rows.count()}`);
    for (const user of ["hana-host", guestId]) {
      const bars = await host.locator(`.tl-row[data-user='${user}'] .bar.api`).count();
      if (bars !== 1) fail(`${user} has ${bars} session bars`);
    }
    await shot("console-attendance", host);
    const [download] = await Promise.all([host.waitForEvent("download"), host.click("#export-csv")]);
    const csv = readFileSync(await download.path(), "utf8").trim().split(/\r\n/);
    if (csv.length !== 3 || !csv[0].startsWith("user_id,user_name,session")) fail(`CSV: ${csv.join(" / ")}`);
    if (!csv.some((l) => l.startsWith("hana-host,Hana Host,1,")) || !csv.some((l) => l.startsWith(`${guestId},Gus Guest,1,`))) {
      fail(`CSV rows: ${csv.join(" / ")}`);
    }
  });

  await step("a meeting with a password asks for it on the join page", async () => {
    await host.click("nav >> text=Meetings");
    await host.fill("#new-title", "Board meeting");
    await host.fill("#new-password", "s3cret-board");
    await host.click("#create button[type=submit]");
    await host.locator("#meeting-status", { hasText: "active" }).waitFor({ timeout: WAIT });
    const boardLink = await host.getAttribute("#meeting-link", "href");
    const member = await person("member");
    await member.goto(boardLink);
    await member.fill("#name", "Mo Member");
    await member.click("#join");
    await member.locator("#error", { hasText: "needs a password" }).waitFor({ timeout: WAIT });
    await member.locator("#password:focus").waitFor({ timeout: WAIT });
    await member.fill("#password", "wrong");
    await member.click("#join");
    await member.locator("#error", { hasText: "not right" }).waitFor({ timeout: WAIT });
    await shot("join-password", member);
    await member.fill("#password", "s3cret-board");
    await member.click("#join");
    await member.locator(".people-panel .person", { hasText: "Mo Member (you)" }).waitFor({ timeout: WAIT });
    await host.locator(".people-panel .person", { hasText: "Mo Member" }).waitFor({ timeout: WAIT });
  });

  await step("the host finds the meeting in history and by status and title", async () => {
    await host.click("nav >> text=History");
    await host.locator("table td a", { hasText: "Design review" }).waitFor({ timeout: WAIT });
    await shot("console-history", host);
    await host.click("nav >> text=Meetings");
    await host.selectOption("#status-filter", "cancelled");
    await host.click("button:text-is('Search')");
    await host.locator("text=No meetings match.").waitFor({ timeout: WAIT });
    await host.selectOption("#status-filter", "ended");
    await host.fill("#keyword", "design");
    await host.click("button:text-is('Search')");
    await host.locator("table td a", { hasText: "Design review" }).waitFor({ timeout: WAIT });
  });

  await step("the host starts a planned meeting from its link; a guest is not offered to", async () => {
    await host.click("nav >> text=Meetings");
    await host.fill("#new-title", "Planning");
    await host.uncheck("#new-start-now");
    await host.click("#create button[type=submit]");
    await host.locator("#meeting-status", { hasText: "scheduled" }).waitFor({ timeout: WAIT });
    const planned = await host.getAttribute("#meeting-link", "href");
    const visitor = await person("visitor");
    await visitor.goto(planned);
    await visitor.locator("#status", { hasText: "Not started yet" }).waitFor({ timeout: WAIT });
    const hosting = await host.context().newPage();
    pages["host-join"] = hosting;
    await hosting.goto(planned);
    await hosting.locator("#start").waitFor({ timeout: WAIT });
    if (await visitor.locator("#start").isVisible()) fail("a guest is offered to start the meeting");
    await labelled(hosting, "join page, its host before the start");
    await readable(hosting, "join page, its host before the start");
    await shot("join-host-start", hosting);
    await hosting.click("#start");
    await hosting.locator("#status", { hasText: "In progress" }).waitFor({ timeout: WAIT });
    await hosting.click("#join");
    await hosting.locator(".people-panel .person", { hasText: "Hana Host (you)" }).waitFor({ timeout: WAIT });
    await host.locator("#meeting-status", { hasText: "active" }).waitFor({ timeout: WAIT });
  });

  await step("an auditor browses the events and verifies the chain", async () => {
    const auditor = await person("auditor");
    await signIn(auditor, "Ada Auditor", process.env.AUDITOR_TOKEN, { auditor: true });
    await auditor.click("#nav-audit");
    await auditor.locator("table.events td", { hasText: "participant_joined" }).first().waitFor({ timeout: WAIT });
    await auditor.click("#verify");
    await auditor.locator("#verdict", { hasText: "Verified" }).waitFor({ timeout: WAIT });
    await labelled(auditor, "console, audit");
    await readable(auditor, "console, audit");
    await shot("console-audit", auditor);
  });

} catch (e) {
  console.log(`FAILED: ${e.message}`);
  for (const [name, page] of Object.entries(pages)) {
    await page.screenshot({ path: join(artifacts, `failed-${name}.png`), fullPage: true }).catch(() => {});
  }
  await browser.close();
  process.exit(1);
}
await browser.close();
