// What the browser tests share: a page script that records every
// WebSocket the page opens in `window.__sockets`, so a test can drop one
// (`window.__sockets.at(-1).close()`) or count them.

/** For `context.addInitScript(recordSockets)`. */
export function recordSockets() {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      window.__sockets.push(this);
    }
  };
}
