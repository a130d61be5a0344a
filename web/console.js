// The console: sign in (a pasted token, or the embedded default's local
// sign-in), meetings (list, search, create), a meeting live (people,
// waiting room, chat, host controls, the event feed, attendance as a
// timeline), history, and for auditors the event browser and the chain
// check. Only the public API and the WebSocket; the token is the one the
// API checks.

import { api, ApiError, el, signedIn, signIn, signOut, claims, expired, dateTime, time } from "/assets/api.js";
import { Room } from "/assets/room.js";
import { timeline, attendanceCsv } from "/assets/timeline.js";

const view = document.getElementById("view");
const devLogin = document.body.dataset.devLogin === "true";
let leaving = () => {};

function identity() {
  const token = signedIn();
  const c = token && claims(token);
  if (!c || expired(token)) return null;
  const roles = Array.isArray(c.roles) ? c.roles : [];
  return { token, sub: c.sub, name: c.name || c.sub, roles, admin: roles.includes("admin"), auditor: roles.includes("auditor") };
}

function show(title, ...children) {
  document.title = `${title} · Meetings console`;
  view.replaceChildren(el("h1", {}, title), ...children);
  view.focus();
}

function field(label, input) {
  const id = input.id || `f-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  return el("div", { class: "field" }, el("label", { for: id }, label), input);
}

function check(label, input) {
  const id = input.id || `f-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  return el("div", { class: "check" }, input, el("label", { for: id }, label));
}

/** A table: a header row, then one row per array of cells. */
function table(headers, rows, attributes = {}) {
  return el(
    "table",
    attributes,
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((cell) => el("td", {}, cell))))),
  );
}

const message = (e) => (e instanceof ApiError ? `${e.message}${e.code ? ` (${e.code})` : ""}` : String(e));

/** Shows the page the address names; `notice` on the sign-in form. */
function route(notice = "") {
  leaving();
  leaving = () => {};
  const who = identity();
  document.getElementById("nav").hidden = !who;
  document.getElementById("sign-out").hidden = !who;
  document.getElementById("nav-audit").hidden = !(who && (who.admin || who.auditor));
  document.getElementById("who").textContent = who ? `${who.name}${who.roles.length ? ` (${who.roles.join(", ")})` : ""}` : "";
  if (!who) return signInView(notice);
  const [, page, id] = (location.hash || "#/meetings").split("/");
  if (page === "meeting" && id) return meetingView(who, decodeURIComponent(id));
  if (page === "history") return historyView(who);
  if (page === "audit") return auditView(who);
  return meetingsView(who);
}

function signInView(notice = "") {
  const token = el("textarea", { id: "token", rows: "4", autocomplete: "off", spellcheck: "false", required: true });
  const error = el("p", { class: "error", role: "alert" }, notice);
  const pasted = el(
    "form",
    {
      class: "card",
      onsubmit: async (e) => {
        e.preventDefault();
        const text = token.value.trim();
        try {
          await api("GET", "/meetings?page_size=1", { token: text });
          signIn(text);
          route();
        } catch (err) {
          error.textContent = err.status === 401 ? "The server does not accept this token." : message(err);
        }
      },
    },
    el("h2", {}, "Sign in with a token"),
    field("Token (a JWT from your identity provider or `meetings token`)", token),
    el("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  const parts = [pasted];
  if (devLogin) {
    const name = el("input", { id: "dev-name", type: "text", maxlength: "100", autocomplete: "name", required: true });
    const admin = el("input", { id: "dev-admin", type: "checkbox" });
    const auditor = el("input", { id: "dev-auditor", type: "checkbox" });
    parts.unshift(
      el(
        "form",
        {
          class: "card",
          onsubmit: async (e) => {
            e.preventDefault();
            const roles = [admin.checked && "admin", auditor.checked && "auditor"].filter(Boolean);
            try {
              const answer = await fetch("/console/dev-login", {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify({ name: name.value, roles }),
              });
              const body = await answer.json();
              if (!answer.ok) throw new ApiError(answer.status, body);
              signIn(body.token);
              route();
            } catch (err) {
              error.textContent = message(err);
            }
          },
        },
        el("h2", {}, "Local sign-in"),
        el("p", { class: "hint" }, "This server runs on the embedded default with MEETINGS_DEV_LOGIN on: any name signs in."),
        field("Your name", name),
        check("admin", admin),
        check("auditor", auditor),
        el("button", { type: "submit", class: "primary", id: "dev-sign-in" }, "Sign in"),
      ),
    );
  }
  show("Sign in", ...parts, error);
}

async function meetingsView(who) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const page = Math.max(1, Number(params.get("page")) || 1);
  const status = params.get("status") || "";
  const keyword = params.get("keyword") || "";
  const list = el("div", { class: "table-wrap" }, el("p", {}, "Loading…"));
  const pager = el("nav", { class: "pager", "aria-label": "Pages" });
  const statusSelect = el(
    "select",
    { id: "status-filter" },
    ["", "scheduled", "active", "ended", "cancelled"].map((s) => el("option", { value: s, selected: s === status }, s || "any")),
  );
  const search = el("input", { id: "keyword", type: "search", value: keyword });
  const go = (p, s, k) => (location.hash = `#/meetings?${new URLSearchParams({ page: p, status: s, keyword: k })}`);
  const filters = el(
    "form",
    { class: "filters", role: "search", onsubmit: (e) => (e.preventDefault(), go(1, statusSelect.value, search.value.trim())) },
    field("Status", statusSelect),
    field("Search titles", search),
    el("button", { type: "submit" }, "Search"),
  );
  show("Meetings", createForm(), filters, list, pager);
  try {
    const query = new URLSearchParams({ page, page_size: 20 });
    if (status) query.set("status", status);
    if (keyword) query.set("keyword", keyword);
    const answer = await api("GET", `/meetings?${query}`, { token: who.token });
    list.replaceChildren(
      answer.items.length
        ? table(
            ["Title", "Status", "Room", "Host", "Created"],
            answer.items.map((m) => [
              el("a", { href: `#/meeting/${m.meeting_id}` }, m.title),
              el("span", { class: `badge ${m.status}` }, m.status),
              el("code", {}, m.room_code),
              m.host_name,
              dateTime(m.created_at),
            ]),
          )
        : el("p", { class: "empty" }, "No meetings match."),
    );
    const pages = Math.max(1, Math.ceil(answer.total / answer.page_size));
    pager.replaceChildren(
      el("button", { type: "button", disabled: page <= 1, onclick: () => go(page - 1, status, keyword) }, "Previous"),
      el("span", {}, `Page ${page} of ${pages} · ${answer.total} meetings`),
      el("button", { type: "button", disabled: page >= pages, onclick: () => go(page + 1, status, keyword) }, "Next"),
    );
  } catch (e) {
    list.replaceChildren(el("p", { class: "error", role: "alert" }, message(e)));
  }

  function createForm() {
    const title = el("input", { id: "new-title", type: "text", maxlength: "200", required: true });
    const description = el("textarea", { id: "new-description", rows: "2" });
    const max = el("input", { id: "new-max", type: "number", min: "1", max: "1000", value: "100" });
    // Choosing a time schedules the meeting instead of starting it.
    const startsAt = el("input", { id: "new-starts-at", type: "datetime-local", onchange: () => (startNow.checked = !startsAt.value) });
    const password = el("input", { id: "new-password", type: "password", autocomplete: "new-password" });
    const startNow = el("input", { id: "new-start-now", type: "checkbox", checked: true });
    const waitingRoom = el("input", { id: "new-waiting-room", type: "checkbox" });
    const chat = el("input", { id: "new-chat", type: "checkbox", checked: true });
    const recording = el("input", { id: "new-recording", type: "checkbox" });
    const error = el("p", { class: "error", role: "alert" });
    return el(
      "details",
      { class: "card", open: true },
      el("summary", {}, "New meeting"),
      el(
        "form",
        {
          id: "create",
          onsubmit: async (e) => {
            e.preventDefault();
            const body = {
              title: title.value,
              description: description.value,
              max_participants: Number(max.value) || undefined,
              start_now: startNow.checked,
              settings: { waiting_room: waitingRoom.checked, enable_chat: chat.checked, enable_recording: recording.checked },
            };
            if (startsAt.value) body.starts_at = new Date(startsAt.value).toISOString();
            if (password.value) body.password = password.value;
            try {
              const created = await api("POST", "/meetings", { token: who.token, body });
              location.hash = `#/meeting/${created.meeting_id}`;
            } catch (err) {
              error.textContent = message(err);
            }
          },
        },
        el("div", { class: "grid" }, field("Title", title), field("Max participants", max), field("Starts at (to schedule)", startsAt), field("Password (optional)", password)),
        field("Description", description),
        el("div", { class: "checks" }, check("Start now", startNow), check("Waiting room", waitingRoom), check("Chat", chat), check("Recording allowed", recording)),
        el("button", { type: "submit", class: "primary" }, "Create"),
        error,
      ),
    );
  }
}

async function meetingView(who, id) {
  const head = el("div", { class: "meeting-head" });
  const controls = el("div", { class: "controls", role: "toolbar", "aria-label": "Host controls" });
  const error = el("p", { class: "error", role: "alert" });
  const roomBox = el("section", { "aria-label": "Live" });
  const feed = el("ol", { class: "feed", "aria-label": "Live events", "aria-live": "off" });
  const attendanceBox = el("div", { class: "attendance" });
  const exportButton = el("button", { type: "button", id: "export-csv", disabled: true }, "Export CSV");
  show(
    "Meeting",
    head,
    controls,
    error,
    roomBox,
    el("section", { class: "panel" }, el("h2", {}, "Attendance ", exportButton), attendanceBox),
    el("section", { class: "panel" }, el("h2", {}, "Live events"), feed),
  );
  let meeting;
  try {
    meeting = await api("GET", `/meetings/${encodeURIComponent(id)}`, { token: who.token });
  } catch (e) {
    return show("Meeting", el("p", { class: "error", role: "alert" }, message(e)));
  }
  const isHost = () => who.sub === meeting.host_id || who.admin;
  const link = `${location.origin}/meeting/${meeting.room_code}`;
  let attendance = null;
  let attendanceTimer = null;

  const act = async (method, path, body) => {
    try {
      const done = await api(method, `/meetings/${meeting.meeting_id}${path}`, { token: who.token, body });
      error.textContent = "";
      await reload(done && done.position);
      return done;
    } catch (e) {
      error.textContent = message(e);
    }
  };

  async function reload(position) {
    try {
      meeting = await api("GET", `/meetings/${meeting.meeting_id}`, { token: who.token, minPosition: position });
    } catch (e) {
      error.textContent = message(e);
    }
    render();
  }

  let drawn = null;
  function render() {
    // Drawn again only when it changed (see Room.changed).
    const key = JSON.stringify([meeting.title, meeting.status, meeting.settings]);
    if (key === drawn) return;
    drawn = key;
    document.title = `${meeting.title} · Meetings console`;
    view.querySelector("h1").textContent = meeting.title;
    const s = meeting.settings;
    head.replaceChildren(
      ...[
        el("span", { class: `badge ${meeting.status}`, id: "meeting-status" }, meeting.status),
        s.lock_room && el("span", { class: "badge locked", id: "locked" }, "locked"),
        el("span", {}, "Room ", el("code", {}, meeting.room_code)),
        el("span", {}, "Host ", meeting.host_name),
        el("a", { href: link, target: "_blank", rel: "noopener", id: "meeting-link" }, link),
        el("button", { type: "button", onclick: () => navigator.clipboard && navigator.clipboard.writeText(link) }, "Copy link"),
      ].filter(Boolean),
    );
    const live = meeting.status === "active";
    const open = meeting.status === "scheduled" || live;
    const buttons = [];
    if (isHost() && meeting.status === "scheduled") buttons.push(el("button", { type: "button", class: "primary", onclick: () => act("POST", "/start") }, "Start"));
    if (live) buttons.push(el("button", { type: "button", id: "join-self", onclick: () => act("POST", "/join", { user_name: who.name }) }, "Join"));
    if (isHost() && live) {
      buttons.push(
        el("button", { type: "button", id: "lock", onclick: () => act("PATCH", "/config", { lock_room: !s.lock_room }) }, s.lock_room ? "Unlock" : "Lock"),
      );
    }
    if (isHost() && live) buttons.push(el("button", { type: "button", class: "danger", id: "end", onclick: () => confirm("End the meeting for everyone?") && act("POST", "/end") }, "End meeting"));
    if (isHost() && meeting.status === "scheduled") buttons.push(el("button", { type: "button", class: "danger", onclick: () => confirm("Cancel this meeting?") && act("DELETE", "") }, "Cancel meeting"));
    if (isHost() && open) buttons.push(settingsForm(s, live));
    controls.replaceChildren(...buttons);
    controls.hidden = buttons.length === 0;
  }

  function settingsForm(s, live) {
    const boxes = [
      ["enable_chat", "Chat"],
      ["enable_screen_share", "Screen share"],
      ["waiting_room", "Waiting room"],
      ["mute_on_entry", "Mute on entry"],
      ["enable_recording", "Recording allowed"],
    ].map(([name, label]) => [name, el("input", { type: "checkbox", id: `setting-${name}`, checked: s[name] }), label]);
    return el(
      "details",
      { class: "settings" },
      el("summary", {}, "Settings"),
      el(
        "form",
        {
          onsubmit: (e) => {
            e.preventDefault();
            const settings = Object.fromEntries(boxes.map(([name, input]) => [name, input.checked]));
            // A live room is configured; a planned one is edited.
            if (live) act("PATCH", "/config", settings);
            else act("PUT", "", { settings });
          },
        },
        boxes.map(([, input, label]) => check(label, input)),
        el("button", { type: "submit" }, "Save settings"),
      ),
    );
  }

  async function loadAttendance() {
    try {
      attendance = await api("GET", `/meetings/${meeting.meeting_id}/attendance`, { token: who.token });
      attendanceBox.replaceChildren(timeline(attendance, { startedAt: meeting.started_at, endedAt: meeting.ended_at }));
      exportButton.disabled = false;
    } catch (e) {
      attendanceBox.replaceChildren(el("p", { class: "hint" }, e.status === 403 ? "Attendance is shown to hosts, co-hosts, admins and auditors." : message(e)));
    }
  }

  exportButton.addEventListener("click", () => {
    if (!attendance) return;
    const blob = new Blob([attendanceCsv(attendance)], { type: "text/csv" });
    const a = el("a", { href: URL.createObjectURL(blob), download: `attendance-${meeting.room_code}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
  });

  render();
  loadAttendance();
  const room = new Room(roomBox, {
    meeting: meeting.meeting_id,
    token: who.token,
    me: who.sub,
    moderator: isHost(),
    onEvent: (frame) => {
      const actor = frame.user_id ? ` by ${frame.user_id}` : "";
      feed.prepend(el("li", {}, el("time", { datetime: frame.timestamp }, time(frame.timestamp)), ` #${frame.position} `, el("strong", {}, frame.type), actor));
      while (feed.children.length > 200) feed.lastChild.remove();
      // The backlog is read once, at its end (onCaughtUp).
      if (room.caughtUp && /^meeting_|room_config_updated|security_policy_applied/.test(frame.type)) reload(frame.position);
      if (/^participant_(joined|left)$|^media_/.test(frame.type) || frame.type === "meeting_ended") {
        clearTimeout(attendanceTimer);
        attendanceTimer = setTimeout(loadAttendance, 300);
      }
    },
    onCaughtUp: (position) => reload(position),
    onOver: (reason) => {
      if (reason !== "signed-out") return reload();
      signOut();
      // Without a hashchange, whose route() would not carry the notice.
      history.replaceState(null, "", location.pathname);
      route("Your sign-in has expired. Sign in again.");
    },
  });
  room.start();
  leaving = () => room.stop();
}

async function historyView(who) {
  const list = el("div", { class: "table-wrap" }, el("p", {}, "Loading…"));
  show("History", list);
  try {
    const answer = await api("GET", "/meetings/history?role=any&page_size=50", { token: who.token });
    list.replaceChildren(
      answer.items.length
        ? table(
            ["Meeting", "Started", "Ended", "Minutes", "People"],
            answer.items.map((m) => [
              el("a", { href: `#/meeting/${m.meeting_id}` }, m.name),
              dateTime(m.started_at),
              dateTime(m.ended_at),
              m.duration_minutes,
              m.participant_count,
            ]),
          )
        : el("p", { class: "empty" }, "No ended meetings yet."),
    );
  } catch (e) {
    list.replaceChildren(el("p", { class: "error", role: "alert" }, message(e)));
  }
}

function auditView(who) {
  const after = el("input", { id: "audit-after", type: "number", min: "0", value: "0" });
  const limit = el("input", { id: "audit-limit", type: "number", min: "1", max: "1000", value: "50" });
  const meeting = el("input", { id: "audit-meeting", type: "text", placeholder: "meeting id" });
  const type = el("input", { id: "audit-type", type: "text", placeholder: "participant_joined" });
  const results = el("div", { class: "table-wrap" });
  const more = el("button", { type: "button", hidden: true }, "Next page");
  const verdict = el("p", { id: "verdict", role: "status", "aria-live": "polite" });
  // A meeting's stream is `meeting-<id>`.
  const meetingLink = (stream) => {
    const id = stream.replace(/^meeting-/, "");
    return el("a", { href: `#/meeting/${id}`, title: id }, el("code", {}, id.slice(0, 8)));
  };
  const load = async (from) => {
    const query = new URLSearchParams({ after: from, limit: limit.value || 50 });
    if (meeting.value.trim()) query.set("meeting", meeting.value.trim());
    if (type.value.trim()) query.set("type", type.value.trim());
    try {
      const page = await api("GET", `/events?${query}`, { token: who.token });
      results.replaceChildren(
        el("p", { class: "hint" }, `Head of the log: position ${page.head}.`),
        table(
          ["Position", "Recorded", "Type", "Meeting", "Actor", "Hash"],
          page.events.map((e) => [
            e.position,
            dateTime(e.recorded_at),
            e.event_type,
            meetingLink(e.stream_id),
            (e.metadata && e.metadata.actor && e.metadata.actor.user_id) || "",
            el("code", { title: e.hash }, e.hash.slice(0, 16)),
          ]),
          { class: "events" },
        ),
      );
      more.hidden = page.next_after === null || page.next_after === undefined || page.next_after >= page.head;
      more.onclick = () => {
        after.value = page.next_after;
        load(page.next_after);
      };
    } catch (e) {
      results.replaceChildren(el("p", { class: "error", role: "alert" }, message(e)));
    }
  };
  show(
    "Audit",
    el(
      "section",
      { class: "panel" },
      el("h2", {}, "Hash chain"),
      el(
        "button",
        {
          type: "button",
          id: "verify",
          onclick: async () => {
            verdict.textContent = "Checking…";
            try {
              const v = await api("GET", "/audit/verify", { token: who.token });
              verdict.textContent = v.verified
                ? `Verified: ${v.events_checked} events from ${v.from} to ${v.to}; head ${v.head_position}, hash ${v.head_hash.slice(0, 16)}…`
                : `Broken at position ${v.first_bad_position}: ${v.reason}`;
              verdict.className = v.verified ? "ok" : "error";
            } catch (e) {
              verdict.textContent = message(e);
              verdict.className = "error";
            }
          },
        },
        "Verify the chain",
      ),
      verdict,
    ),
    el(
      "section",
      { class: "panel" },
      el("h2", {}, "Events"),
      el(
        "form",
        { class: "filters", onsubmit: (e) => (e.preventDefault(), load(after.value || 0)) },
        field("After position", after),
        field("Limit", limit),
        field("Meeting", meeting),
        field("Type", type),
        el("button", { type: "submit" }, "Load"),
      ),
      results,
      more,
    ),
  );
  load(0);
}

document.getElementById("sign-out").addEventListener("click", () => {
  signOut();
  location.hash = "";
  route();
});
window.addEventListener("hashchange", () => route());
route();
