// Live updates of an open record page: while a source is still answering, the sources' section
// names its look's updates address (data-live-updates). Each update (care_record/updates.py)
// carries the parts that changed, swapped in by id, so the reader stays on the tab they chose,
// and names the headings that changed (#record-changed): record-view.js fetches again those the
// page has drawn. Server-sent events first; if the stream cannot be had, a poll with a short
// back-off.

const POLL_DELAYS_MS = [250, 500, 1000, 2000, 4000];
const STREAM_FAILURES_BEFORE_POLLING = 2;
const ENDED = "These updates have stopped. Open the record again to see the latest.";

// What the page listens to now ({address, stop}): one stream or poll per page at a time.
let current = null;

function stopListening() {
  if (current) current.stop();
  current = null;
}

// Tell record-view.js which headings changed, once per update (the marker is emptied).
function announceChanges() {
  const marker = document.getElementById("record-changed");
  const names = (marker?.dataset.headings || "").split(" ").filter(Boolean);
  if (!names.length) return;
  marker.dataset.headings = "";
  document.dispatchEvent(new CustomEvent("lcr:headings-changed", { detail: names }));
}

function swapIn(html) {
  const parts = new DOMParser().parseFromString(html, "text/html").body.children;
  for (const part of Array.from(parts)) {
    const here = part.id && document.getElementById(part.id);
    if (!here) continue;
    here.replaceWith(part);
    // The new sources' section holds the htmx "Refresh now" form.
    if (window.htmx) window.htmx.process(part);
  }
  announceChanges();
}

function sayEnded(text) {
  const sources = document.getElementById("record-sources");
  if (!sources || sources.querySelector(".lcr-updates-ended")) return;
  const note = document.createElement("p");
  note.className = "nhsuk-body-s lcr-updates-ended";
  note.setAttribute("role", "status");
  note.textContent = text;
  sources.appendChild(note);
}

function withCursor(address, cursor) {
  const url = new URL(address, window.location.href);
  if (cursor) url.searchParams.set("after", cursor);
  return url.toString();
}

function poll(address, cursor, attempt) {
  const delay = POLL_DELAYS_MS[Math.min(attempt, POLL_DELAYS_MS.length - 1)];
  const mine = current;
  window.setTimeout(async () => {
    if (current !== mine) return; // stopped, or replaced by the updates of a refresh
    let answer;
    try {
      // Named as htmx's own requests are, so that polling is not taken for the reader's activity.
      answer = await fetch(withCursor(address, cursor), {
        headers: { "HX-Request": "true" },
        credentials: "same-origin",
      });
    } catch {
      poll(address, cursor, attempt + 1);
      return;
    }
    if (current !== mine) return;
    const redirect = answer.headers.get("HX-Redirect");
    if (redirect) {
      window.location.assign(redirect);
      return;
    }
    if (!answer.ok) {
      if (answer.status >= 500) {
        poll(address, cursor, attempt + 1);
      } else {
        stopListening();
        sayEnded(answer.status === 410 ? await answer.text() : ENDED);
      }
      return;
    }
    const body = await answer.text();
    if (body) swapIn(body);
    if (answer.headers.get("X-Record-Settled") === "1") {
      stopListening();
      return;
    }
    // News resets the back-off: the next answer is probably close behind.
    poll(address, answer.headers.get("X-Record-Cursor") || cursor, body ? 0 : attempt + 1);
  }, delay);
}

function pollInstead(address, cursor) {
  current = { address, stop() {} };
  poll(address, cursor, 0);
}

function listen(address) {
  if (current && current.address === address) return;
  stopListening();
  if (!window.EventSource) {
    pollInstead(address, "");
    return;
  }
  const stream = new EventSource(address);
  current = { address, stop: () => stream.close() };
  let failures = 0;
  let cursor = "";
  stream.addEventListener("open", () => {
    failures = 0;
  });
  stream.addEventListener("update", (event) => {
    failures = 0;
    cursor = event.lastEventId || cursor;
    swapIn(event.data);
  });
  stream.addEventListener("settled", stopListening);
  stream.addEventListener("ended", (event) => {
    stopListening();
    sayEnded(event.data);
  });
  stream.addEventListener("error", () => {
    // The browser reconnects by itself (Last-Event-ID carries the cursor); if it keeps failing,
    // or has given up, ask by polling instead.
    failures += 1;
    if (stream.readyState === EventSource.CLOSED || failures >= STREAM_FAILURES_BEFORE_POLLING) {
      stream.close();
      pollInstead(address, cursor);
    }
  });
}

function start() {
  const sources = document.getElementById("record-sources");
  const address = sources && sources.dataset.liveUpdates;
  if (address) listen(address);
}

start();
// After "Refresh now" (htmx), the sources are being asked again: listen to the new updates.
document.body.addEventListener("htmx:afterSettle", () => {
  announceChanges();
  start();
});
