// Attendance as a timeline: one row per person, a bar per session in the
// meeting (what the API saw) and, beside it, a bar per connection to the
// media room (what the media server reported); and the same as CSV.

import { el, time } from "/assets/api.js";

const at = (iso) => (iso ? Date.parse(iso) : null);

/** The timeline of `attendance` (GET .../attendance) over the meeting. */
export function timeline(attendance, { startedAt, endedAt } = {}) {
  const now = Date.now();
  const times = [];
  for (const a of attendance.attendees) {
    for (const s of a.sessions) times.push(at(s.joined_at), at(s.left_at) ?? now);
    for (const m of a.media_sessions || []) times.push(at(m.connected_at), at(m.disconnected_at) ?? now);
  }
  const from = Math.min(...[at(startedAt), ...times].filter((t) => t !== null));
  const until = Math.max(...[at(endedAt) ?? now, ...times].filter((t) => t !== null));
  if (!attendance.attendees.length || !Number.isFinite(from)) {
    return el("p", { class: "empty" }, "Nobody has joined yet.");
  }
  const span = Math.max(until - from, 1000);
  const bar = (kind, start, end, label) => {
    const node = el("span", { class: `bar ${kind}`, title: label, "aria-label": label, role: "img" });
    node.style.left = `${((start - from) / span) * 100}%`;
    node.style.width = `${Math.max(((end - start) / span) * 100, 0.6)}%`;
    return node;
  };
  const rows = attendance.attendees.map((a) => {
    const sessions = a.sessions.map((s) =>
      bar("api", at(s.joined_at), at(s.left_at) ?? now, `In the meeting ${time(s.joined_at)} to ${s.left_at ? time(s.left_at) : "now"} (${s.minutes} min)`),
    );
    const media = (a.media_sessions || [])
      .filter((m) => m.connected_at)
      .map((m) =>
        bar("media", at(m.connected_at), at(m.disconnected_at) ?? until, `In the media room ${time(m.connected_at)} to ${m.disconnected_at ? time(m.disconnected_at) : "the end"} (${m.minutes} min)`),
      );
    const count = a.sessions.length;
    return el(
      "li",
      { class: "tl-row", "data-user": a.user_id, "data-sessions": String(count) },
      el(
        "div",
        { class: "tl-name" },
        el("strong", {}, a.user_name),
        el("small", {}, `${count} session${count === 1 ? "" : "s"} · ${a.total_minutes} min · media ${a.media_minutes} min`),
      ),
      el(
        "div",
        { class: "tl-lanes" },
        el("div", { class: "tl-lane", "aria-label": "Sessions in the meeting" }, sessions),
        el("div", { class: "tl-lane", "aria-label": "Connections to the media room" }, media),
      ),
    );
  });
  return el(
    "figure",
    { class: "timeline" },
    el(
      "figcaption",
      {},
      el("span", { class: "legend api" }, "in the meeting"),
      el("span", { class: "legend media" }, "in the media room"),
      el("span", { class: "axis" }, `${time(new Date(from).toISOString())} – ${time(new Date(until).toISOString())}`),
    ),
    el("ol", { class: "tl-rows" }, rows),
  );
}

/** One line per session: who, when, how long, and their totals. */
export function attendanceCsv(attendance) {
  const cell = (v) => {
    let text = v === null || v === undefined ? "" : String(v);
    // A name a spreadsheet would run as a formula is kept as text.
    if (typeof v === "string" && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  const lines = [["user_id", "user_name", "session", "joined_at", "left_at", "leave_reason", "minutes", "total_minutes", "media_minutes"]];
  for (const a of attendance.attendees) {
    a.sessions.forEach((s, i) =>
      lines.push([a.user_id, a.user_name, i + 1, s.joined_at, s.left_at, s.leave_reason, s.minutes, a.total_minutes, a.media_minutes]),
    );
    if (!a.sessions.length) lines.push([a.user_id, a.user_name, 0, "", "", "", 0, a.total_minutes, a.media_minutes]);
  }
  return lines.map((line) => line.map(cell).join(",")).join("\r\n") + "\r\n";
}
