// A meeting as one person sees it live: who is in it (with role, mute,
// video, hand), the waiting room (for moderators), chat (with private
// messages) and the person's own controls. Used by the join page (a
// participant or guest) and by the console's meeting page (a host).
//
// State comes from the public API: the WebSocket's events in order (chat,
// the waiting room, reactions, the meeting's end) and the participants
// query, read again at the position of each event that changes them.

import { api, ApiError, Live, CLOSED, SIGNED_OUT, el, time } from "/assets/api.js";

const REACTIONS = [
  ["thumbs_up", "👍", "Thumbs up"],
  ["clap", "👏", "Applause"],
  ["heart", "❤️", "Heart"],
  ["laugh", "😂", "Laugh"],
  ["tada", "🎉", "Celebrate"],
];

const SEAT_EVENTS = new Set([
  "participant_joined",
  "participant_left",
  "participant_role_changed",
  "participant_media_changed",
  "participant_admitted",
  "hand_raised",
  "hand_lowered",
  "meeting_ended",
]);

const ROLE_NAMES = { host: "Host", co_host: "Co-host", participant: "Participant", guest: "Guest" };

export class Room {
  /**
   * `root`: the element to draw in. `meeting`: id or room code. `me`: the
   * viewer's user id. `moderator`: show the waiting room and controls on
   * others. `onEvent(frame)`: every event too (the console's feed).
   * `onCaughtUp(position)`: after each (re)connection's backlog.
   * `onOver(reason)`: the meeting ended ("ended"), the viewer was turned
   * away ("removed"), or the server no longer takes their token
   * ("signed-out").
   */
  constructor(root, { meeting, token, me, moderator = false, onEvent = () => {}, onCaughtUp = () => {}, onOver = () => {}, onLeft = () => {} }) {
    Object.assign(this, { root, meeting, token, me, moderator, onEvent, onCaughtUp, onOver, onLeft });
    this.participants = [];
    this.waiting = new Map();
    this.messages = [];
    this.caughtUp = false;
    this.over = false;
    this.refreshAt = 0;
    this.refreshing = null;
    this.drawn = {};
    this.build();
  }

  build() {
    this.linkState = el("span", { class: "link-state", "aria-live": "polite" }, "connecting…");
    this.peopleList = el("ul", { class: "people", "aria-label": "Participants" });
    this.waitingList = el("ul", { class: "people waiting-list", "aria-label": "Waiting room" });
    this.waitingBox = el("section", { class: "panel waiting-panel", hidden: true }, el("h3", {}, "Waiting room"), this.waitingList);
    this.controls = el("div", { class: "controls", role: "toolbar", "aria-label": "Your controls" });
    this.reactionsShown = el("div", { class: "reactions-shown", "aria-live": "polite" });
    this.chatLog = el("ol", { class: "chat-log", "aria-label": "Chat messages", "aria-live": "polite" });
    this.recipient = el("select", { id: "chat-recipient", "aria-label": "Send to" });
    this.chatInput = el("input", { id: "chat-text", type: "text", maxlength: "2000", autocomplete: "off", placeholder: "Message", "aria-label": "Message" });
    this.chatForm = el(
      "form",
      { class: "chat-form", hidden: true, onsubmit: (e) => (e.preventDefault(), this.sendChat()) },
      this.recipient,
      this.chatInput,
      el("button", { type: "submit" }, "Send"),
    );
    this.notice = el("p", { class: "error", role: "alert" });
    this.mePanel = el("section", { class: "panel me-panel", hidden: true }, this.controls);
    this.root.replaceChildren(
      el("div", { class: "room-notes" }, this.reactionsShown, this.notice),
      el(
        "div",
        { class: "room" },
        el(
          "section",
          { class: "panel people-panel" },
          el("h3", {}, "In the meeting ", this.linkState),
          this.peopleList,
        ),
        this.waitingBox,
        el(
          "section",
          { class: "panel chat-panel" },
          el("h3", {}, "Chat"),
          this.chatLog,
          this.chatForm,
        ),
        this.mePanel,
      ),
    );
  }

  start() {
    this.live = new Live(this.meeting, this.token, {
      onEvent: (frame) => this.handle(frame),
      onCaughtUp: (position) => {
        this.caughtUp = true;
        this.refresh(position);
        this.onCaughtUp(position);
      },
      onEnd: (code) => {
        if (code === CLOSED.NOT_ALLOWED) this.end("removed");
        else if (code === SIGNED_OUT) this.end("signed-out");
        else this.end("ended");
      },
      onLink: (up) => (this.linkState.textContent = up ? "live" : up === null ? "reconnecting…" : ""),
    });
    this.live.start();
  }

  stop() {
    if (this.live) this.live.stop();
  }

  handle(frame) {
    const data = frame.data || {};
    switch (frame.type) {
      case "participant_waiting":
        this.waiting.set(data.participant_id, data);
        break;
      case "participant_admitted":
      case "participant_rejected":
        this.waiting.delete(data.participant_id);
        break;
      case "participant_left":
        this.waiting.delete(data.participant_id);
        break;
      case "chat_message_sent":
        this.messages.push(data);
        this.showMessage(data);
        break;
      case "reaction_sent":
        if (this.caughtUp) this.showReaction(data);
        break;
      case "meeting_ended":
      case "meeting_cancelled":
        this.end("ended");
        break;
    }
    if (frame.type.startsWith("participant_")) this.renderWaiting();
    if (SEAT_EVENTS.has(frame.type) && this.caughtUp) this.refresh(frame.position);
    this.onEvent(frame);
  }

  /** Reads who is present once the read models reached `position`. */
  refresh(position) {
    this.refreshAt = Math.max(this.refreshAt, position);
    if (this.refreshing) return;
    this.refreshing = (async () => {
      try {
        while (true) {
          const at = this.refreshAt;
          const answer = await api("GET", `/meetings/${encodeURIComponent(this.meeting)}/participants`, {
            token: this.token,
            minPosition: at,
          });
          this.participants = answer.participants;
          this.renderPeople();
          if (this.refreshAt === at) break;
        }
      } catch (e) {
        if (!this.over) this.say(e);
      } finally {
        this.refreshing = null;
      }
    })();
  }

  /**
   * Whether `part` must be drawn again for `state`: redrawing what did not
   * change would swallow a click on a button replaced under the pointer.
   */
  changed(part, state) {
    const key = JSON.stringify(state);
    if (this.drawn[part] === key) return false;
    this.drawn[part] = key;
    return true;
  }

  mySeat() {
    return this.participants.find((p) => p.user_id === this.me);
  }

  renderPeople() {
    const seat = this.mySeat();
    this.renderControls(seat);
    if (!this.changed("people", this.participants)) return;
    this.renderRecipients();
    this.peopleList.replaceChildren(
      ...this.participants.map((p) => {
        const flags = [
          p.is_muted ? "muted" : "mic on",
          p.is_video_enabled ? "video on" : "video off",
          p.is_hand_raised ? "✋ hand raised" : null,
          p.is_screen_sharing ? "sharing screen" : null,
        ].filter(Boolean);
        const actions = [];
        if (this.moderator && p.user_id !== this.me && p.role !== "host") {
          if (!p.is_muted) actions.push(this.button("Mute", `Mute ${p.user_name}`, () => this.command("PUT", "/participants/status", { user_id: p.user_id, is_muted: true })));
          actions.push(this.button("Remove", `Remove ${p.user_name}`, () => this.command("DELETE", `/participants/${encodeURIComponent(p.user_id)}`)));
        }
        return el(
          "li",
          { class: "person", "data-user": p.user_id },
          el("span", { class: "name" }, p.user_name, p.user_id === this.me ? " (you)" : ""),
          el("span", { class: `role role-${p.role}` }, ROLE_NAMES[p.role] || p.role),
          el("span", { class: "flags" }, flags.join(" · ")),
          actions.length ? el("span", { class: "actions" }, actions) : null,
        );
      }),
    );
    if (!this.participants.length) this.peopleList.replaceChildren(el("li", { class: "empty" }, "Nobody is in the meeting."));
  }

  renderWaiting() {
    if (!this.moderator || !this.changed("waiting", [...this.waiting.keys()])) return;
    this.waitingBox.hidden = this.waiting.size === 0;
    this.waitingList.replaceChildren(
      ...[...this.waiting.values()].map((w) =>
        el(
          "li",
          { class: "person", "data-waiting": w.user_id },
          el("span", { class: "name" }, w.user_name),
          el("span", { class: "flags" }, `waiting since ${time(w.waiting_since)}`),
          el(
            "span",
            { class: "actions" },
            this.button("Admit", `Admit ${w.user_name}`, () => this.command("POST", `/waiting-room/${w.participant_id}/admit`)),
            this.button("Reject", `Reject ${w.user_name}`, () => this.command("POST", `/waiting-room/${w.participant_id}/reject`)),
          ),
        ),
      ),
    );
  }

  renderControls(seat) {
    const present = Boolean(seat) && !this.over;
    const state = present && [seat.is_muted, seat.is_video_enabled, seat.is_hand_raised];
    if (!this.changed("controls", state)) return;
    this.mePanel.hidden = !present;
    this.chatForm.hidden = !present;
    if (!present) return;
    const status = (change) => () => this.command("PUT", "/participants/status", change);
    this.controls.replaceChildren(
      this.button(seat.is_muted ? "Unmute" : "Mute", seat.is_muted ? "Unmute yourself" : "Mute yourself", status({ is_muted: !seat.is_muted })),
      this.button(seat.is_video_enabled ? "Stop video" : "Start video", null, status({ is_video_enabled: !seat.is_video_enabled })),
      this.button(seat.is_hand_raised ? "Lower hand" : "Raise hand", null, status({ is_hand_raised: !seat.is_hand_raised })),
      el(
        "span",
        { class: "reactions", role: "group", "aria-label": "Reactions" },
        REACTIONS.map(([type, glyph, label]) =>
          this.button(glyph, label, () => this.command("POST", "/reactions", { reaction_type: type })),
        ),
      ),
      this.button("Leave", "Leave the meeting", () => this.leave(), "danger"),
    );
  }

  renderRecipients() {
    const chosen = this.recipient.value;
    this.recipient.replaceChildren(
      el("option", { value: "" }, "Everyone"),
      ...this.participants
        .filter((p) => p.user_id !== this.me)
        .map((p) => el("option", { value: p.user_id }, `${p.user_name} (private)`)),
    );
    this.recipient.value = [...this.recipient.options].some((o) => o.value === chosen) ? chosen : "";
  }

  showMessage(m) {
    const to = m.recipient_id
      ? ` → ${m.recipient_id === this.me ? "you" : this.nameOf(m.recipient_id)} (private)`
      : "";
    this.chatLog.append(
      el(
        "li",
        { class: m.recipient_id ? "message private" : "message" },
        el("span", { class: "who" }, m.sender_name, to),
        el("time", { datetime: m.sent_at }, time(m.sent_at)),
        el("p", {}, m.content),
      ),
    );
    this.chatLog.scrollTop = this.chatLog.scrollHeight;
  }

  showReaction(r) {
    const glyph = (REACTIONS.find(([type]) => type === r.reaction_type) || [null, r.reaction_type])[1];
    const shown = el("span", { class: "reaction" }, `${glyph} ${this.nameOf(r.user_id)}`);
    this.reactionsShown.append(shown);
    setTimeout(() => shown.remove(), 4000);
  }

  nameOf(userId) {
    const seat = this.participants.find((p) => p.user_id === userId);
    return seat ? seat.user_name : userId;
  }

  async sendChat() {
    const content = this.chatInput.value.trim();
    if (!content) return;
    const body = { content };
    if (this.recipient.value) body.recipient_id = this.recipient.value;
    // Cleared at once, so what is typed next is not cleared with it.
    this.chatInput.value = "";
    if (!(await this.command("POST", "/chat", body)) && !this.chatInput.value) this.chatInput.value = content;
  }

  async leave() {
    if (await this.command("POST", "/leave")) {
      this.stop();
      this.onLeft();
    }
  }

  /** Runs a command on this meeting; true when it was accepted. */
  async command(method, path, body) {
    try {
      await api(method, `/meetings/${encodeURIComponent(this.meeting)}${path}`, { token: this.token, body });
      this.notice.textContent = "";
      return true;
    } catch (e) {
      this.say(e);
      return false;
    }
  }

  say(e) {
    this.notice.textContent = e instanceof ApiError ? e.message : String(e);
  }

  /** The meeting is over for this viewer (the server then closes the
   * connection after the backlog: 4000, or 4003 for a ban). */
  end(reason) {
    if (this.over) return;
    this.over = true;
    this.renderControls(null);
    this.onOver(reason);
  }

  button(text, label, onclick, kind) {
    return el("button", { type: "button", "aria-label": label, title: label, class: kind, onclick }, text);
  }
}
