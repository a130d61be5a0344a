// The join page behind every `meeting_link`: the meeting's title and
// status; join by name as a guest (or signed in), with a password when
// the meeting asks; the waiting room; then the room, live.

import { api, ApiError, Live, CLOSED, SIGNED_OUT, el, signedIn, claims, expired, dateTime } from "/assets/api.js";
import { Room } from "/assets/room.js";

const code = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
// A guest's token lives as long as the tab: a reload rejoins as the same
// guest instead of a new one.
const GUEST_KEY = `meetings.guest.${code}`;
const $ = (id) => document.getElementById(id);

let info = null;
let waitingLive = null;
let room = null;

function user() {
  const saved = sessionStorage.getItem(GUEST_KEY);
  if (saved) return { token: saved, guest: true, me: (claims(saved) || {}).sub };
  const token = signedIn();
  const c = token && claims(token);
  if (c && !c.guest_of && !expired(token)) return { token, guest: false, me: c.sub, name: c.name || c.sub };
  return null;
}

function status(text) {
  $("status").textContent = text;
}

function error(text) {
  $("error").textContent = text || "";
}

function describe(info) {
  switch (info.status) {
    case "scheduled":
      return info.starts_at ? `Not started yet: planned for ${dateTime(info.starts_at)}.` : "Not started yet.";
    case "active":
      return `In progress · ${info.num_participants} in the meeting`;
    case "ended":
      return "This meeting has ended.";
    case "cancelled":
      return "This meeting was cancelled.";
    default:
      return info.status;
  }
}

async function load() {
  try {
    info = await api("GET", `/meetings/${encodeURIComponent(code)}/info`);
  } catch (e) {
    $("title").textContent = e.status === 404 ? "No meeting at this link" : "The meeting cannot be shown";
    error(e.status === 404 ? "Check the link you were sent." : e.message);
    return;
  }
  document.title = `${info.title} · Join`;
  $("title").textContent = info.title;
  status(describe(info));
  if (info.status === "ended" || info.status === "cancelled") return;
  const who = user();
  if (who && who.guest) return join();
  const form = $("join-form");
  form.hidden = false;
  if (who) {
    $("signed-in").hidden = false;
    $("signed-in").textContent = `Signed in as ${who.name}. Your name in this meeting:`;
    $("name").value = who.name;
  }
  if (info.status === "scheduled") {
    waitForStart();
    if (who) offerStart(who);
  }
  $("name").focus();
}

/** Its host may start a planned meeting from its link. */
async function offerStart(who) {
  let meeting;
  try {
    meeting = await api("GET", `/meetings/${encodeURIComponent(code)}`, { token: who.token });
  } catch {
    return; // Not a member: only the host starts it.
  }
  if (meeting.host_id !== who.me || meeting.status !== "scheduled") return;
  $("host-start").hidden = false;
  $("start").onclick = async () => {
    error("");
    $("start").disabled = true;
    try {
      await api("POST", `/meetings/${encodeURIComponent(code)}/start`, { token: who.token });
    } catch (e) {
      $("start").disabled = false;
      return error(e.message);
    }
    $("host-start").hidden = true;
    info = await api("GET", `/meetings/${encodeURIComponent(code)}/info`).catch(() => ({ ...info, status: "active", num_participants: 0 }));
    status(describe(info));
    $("join").focus();
  };
}

/** Reads the meeting's status again every few seconds until it starts. */
function waitForStart() {
  const timer = setInterval(async () => {
    try {
      const now = await api("GET", `/meetings/${encodeURIComponent(code)}/info`);
      info = now;
      status(describe(now));
      if (now.status !== "scheduled") clearInterval(timer);
    } catch {
      /* the next tick tries again */
    }
  }, 5000);
}

async function join() {
  error("");
  const who = user();
  const body = {};
  const name = $("name").value.trim();
  if (name && !(who && who.guest)) body.user_name = name;
  if (!who && !name) return error("Type your name to join.");
  const password = $("password").value;
  if (password) body.password = password;
  $("join").disabled = true;
  let answer;
  try {
    answer = await api("POST", `/meetings/${encodeURIComponent(code)}/join`, { token: who && who.token, body });
  } catch (e) {
    return refused(e, who);
  } finally {
    $("join").disabled = false;
  }
  if (answer.guest_token) sessionStorage.setItem(GUEST_KEY, answer.guest_token);
  if (answer.code === "WAITING_ROOM_REQUIRED") return wait();
  enter(answer);
}

function refused(e, who) {
  if (!(e instanceof ApiError)) return error(String(e));
  switch (e.code) {
    case "INVALID_PASSWORD":
      $("password-row").hidden = false;
      $("password").focus();
      return error($("password").value ? "That password is not right." : "This meeting needs a password.");
    case "MEETING_LOCKED":
      return error("This meeting is locked. Ask the host to unlock it.");
    case "ROOM_NOT_ACTIVE":
      return error("The meeting has not started yet. Join once the host starts it.");
    case "MAX_PARTICIPANTS_REACHED":
      return error("The meeting is full.");
    case "MEETING_ENDED":
      status("This meeting has ended.");
      return error("");
  }
  if (e.status === 401 && who && who.guest) {
    // The guest token expired or the meeting is over: start again.
    sessionStorage.removeItem(GUEST_KEY);
    $("join-form").hidden = false;
  }
  error(e.message);
}

/** Follows the wait over the WebSocket until admitted or turned away. */
function wait() {
  const who = user();
  $("join-form").hidden = true;
  $("waiting").hidden = false;
  status("Waiting to be let in…");
  if (waitingLive) waitingLive.stop();
  waitingLive = new Live(code, who.token, {
    onEvent: (frame) => {
      if (frame.data && frame.data.user_id !== who.me) return;
      if (frame.type === "participant_admitted") {
        waitingLive.stop();
        join();
      } else if (frame.type === "participant_rejected") {
        waitingLive.stop();
        turnedAway();
      }
    },
    onEnd: (reason) => {
      if (reason === CLOSED.NOT_ALLOWED) turnedAway();
      else if (reason === SIGNED_OUT) over(EXPIRED);
      else over("This meeting has ended.");
    },
  });
  waitingLive.start();
}

function turnedAway() {
  $("waiting").hidden = true;
  sessionStorage.removeItem(GUEST_KEY);
  status("The host did not let you in.");
}

function enter(seat) {
  const who = user();
  $("join-form").hidden = true;
  $("waiting").hidden = true;
  status(`You are in the meeting as ${seat.user_name}.`);
  showMedia(seat, who);
  room = new Room($("room"), {
    meeting: code,
    token: who.token,
    me: who.me,
    moderator: seat.role === "host" || seat.role === "co_host",
    onOver: (reason) =>
      over(
        reason === "removed"
          ? "You were removed from the meeting."
          : reason === "signed-out"
            ? EXPIRED
            : "This meeting has ended.",
      ),
    onLeft: () => {
      sessionStorage.removeItem(GUEST_KEY);
      $("media").hidden = true;
      status("You left the meeting.");
      $("join-form").hidden = false;
    },
  });
  room.start();
}

/** What a page whose token the server no longer takes says. */
const EXPIRED = "Your sign-in has expired. Reload the page to join again.";

function over(text) {
  status(text);
  $("waiting").hidden = true;
  $("media").hidden = true;
  sessionStorage.removeItem(GUEST_KEY);
}

/** "Open in LiveKit" / "Open in Jitsi" when the server hands people to one. */
async function showMedia(seat, who) {
  const links = [];
  if (seat.media && seat.media.provider === "livekit") {
    const url = `https://meet.livekit.io/custom?liveKitUrl=${encodeURIComponent(seat.media.url)}&token=${encodeURIComponent(seat.media.token)}`;
    links.push(el("a", { class: "button", href: url, target: "_blank", rel: "noopener noreferrer" }, "Open in LiveKit"));
  }
  try {
    const link = await api("GET", `/meetings/${encodeURIComponent(code)}/link`, { token: who.token });
    links.push(el("a", { class: "button", href: link.meeting_url, target: "_blank", rel: "noopener noreferrer" }, "Open in Jitsi"));
  } catch {
    /* Jitsi is not configured (503), or this caller gets no link */
  }
  $("media").replaceChildren(...links);
  $("media").hidden = links.length === 0;
}

$("join-form").addEventListener("submit", (e) => {
  e.preventDefault();
  join();
});
load();
