// The public API from a browser: the stored sign-in, calls and their
// errors, and a meeting's live events over the WebSocket with resume.
// Nothing here is private to the pages: it is what any client does.

const TOKEN_KEY = "meetings.token";

/** The signed-in token (the console's, shared with join pages). */
export function signedIn() {
  return localStorage.getItem(TOKEN_KEY);
}

export function signIn(token) {
  localStorage.setItem(TOKEN_KEY, token.trim());
}

export function signOut() {
  localStorage.removeItem(TOKEN_KEY);
}

/** A token's claims (read, not checked: the server checks it). */
export function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const text = atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "="));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(text, (c) => c.charCodeAt(0))));
  } catch {
    return null;
  }
}

/** A refusal in the API's error format: `status`, `code`, `message`. */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || "";
    this.body = body;
  }
}

/**
 * Calls `/api/v1<path>`; answers the parsed body (and the response's
 * position), or throws an ApiError.
 */
export async function api(method, path, { token, body, minPosition } = {}) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  if (minPosition) headers["x-min-position"] = String(minPosition);
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, { code: "NETWORK", message: "The server cannot be reached." });
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** Close codes the server ends a connection with (README, "Live"). */
export const CLOSED = { OVER: 4000, NOT_ALLOWED: 4003, SLOW: 4008, IDLE: 4009 };

/**
 * What `Live` ends with when the server no longer takes its token (it
 * expired, or the server refuses it): a page cannot see an upgrade's 401,
 * so `Live` asks once a connection failed to open.
 */
export const SIGNED_OUT = "signed-out";

/** Whether a token's `exp` has passed by this clock. */
export function expired(token) {
  const c = claims(token);
  return Boolean(c && typeof c.exp === "number" && c.exp * 1000 <= Date.now());
}

/**
 * A meeting's events, from position 0 then live; reconnects by itself
 * with `after=<last position seen>`, so nothing is lost or seen twice.
 * `onEvent(frame)` for each event in order, `onCaughtUp(position)` after
 * each (re)connection's backlog, `onEnd(code)` when the server closed it
 * for good (4000 over, 4003 not allowed) or no longer takes the token
 * (`SIGNED_OUT`), or `stop()` was called.
 */
export class Live {
  constructor(meeting, token, { onEvent, onCaughtUp = () => {}, onEnd = () => {}, onLink = () => {} }) {
    Object.assign(this, { meeting, token, onEvent, onCaughtUp, onEnd, onLink });
    this.after = 0;
    this.stopped = false;
    this.retries = 0;
  }

  start() {
    if (this.stopped) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}/ws/meetings/${encodeURIComponent(this.meeting)}?after=${this.after}`;
    const ws = new WebSocket(url, ["meetings.v1", `bearer.${this.token}`]);
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.retries = 0;
      this.onLink(true);
    };
    ws.onmessage = (message) => {
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      if (frame.type === "caught_up") {
        this.onCaughtUp(frame.position);
      } else if (typeof frame.position === "number" && frame.type !== "ack") {
        if (frame.position <= this.after) return;
        this.after = frame.position;
        this.onEvent(frame);
      }
    };
    ws.onclose = async (event) => {
      if (this.stopped) return this.onLink(false);
      const over = event.code === CLOSED.OVER || event.code === CLOSED.NOT_ALLOWED;
      // The token has run out (the server would refuse the next upgrade,
      // or take it only within its leeway), or a connection that never
      // opened may have been refused for it.
      const signedOut = !over && (expired(this.token) || (!opened && (await this.refused())));
      if (this.stopped) return this.onLink(false);
      if (over || signedOut) {
        this.stopped = true;
        this.onLink(false);
        this.onEnd(over ? event.code : SIGNED_OUT);
        return;
      }
      this.onLink(null);
      // Anything else (a restart, a network change, a slow consumer):
      // resume from the last position after a short, growing pause.
      const wait = Math.min(5000, 250 * 2 ** this.retries++);
      setTimeout(() => this.start(), wait);
    };
  }

  stop() {
    this.stopped = true;
    if (this.ws) this.ws.close(1000);
  }

  /** Whether the server answers this token with a 401 now. */
  async refused() {
    try {
      await api("GET", `/meetings/${encodeURIComponent(this.meeting)}`, { token: this.token });
    } catch (e) {
      return e.status === 401;
    }
    return false;
  }
}

/** Creates an element: `el("button", {class: "x", onclick}, "text", child)`. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A time as the reader's clock shows it. */
export function time(iso) {
  return iso ? new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "";
}

export function dateTime(iso) {
  return iso ? new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "";
}
