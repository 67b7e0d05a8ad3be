// The record page's headings as vertical tabs (one shown at a time on screen, every one in
// print), a text filter over every heading's rows, sorting of each table by date, kept through
// the live updates. The page draws only the heading open: each other one is fetched (htmx, as
// part of the page's look) when it is opened, and all of them before filtering or printing; a
// live update names the headings that changed and those already drawn are fetched again.
// Without JavaScript the navigation is a list of links, each to the page with that heading open.

const HIDDEN = "lcr-record-panel--hidden";
const FILTERED = "lcr-filtered-out";
const PENDING = "lcr-heading-pending";

// htmx is a deferred script after this module: it has run by the time the document has loaded.
function htmxReady() {
  if (window.htmx || document.readyState === "complete") return Promise.resolve(window.htmx);
  return new Promise((resolve) => {
    const found = () => resolve(window.htmx);
    document.addEventListener("DOMContentLoaded", found, { once: true });
    window.addEventListener("load", found, { once: true });
  });
}

const isDrawn = (panel) => !panel.querySelector(`.${PENDING}`);
const loads = new Map(); // panel id -> the fetch under way

function sayFailed(panel) {
  if (panel.querySelector(".lcr-heading-failed")) return;
  const note = document.createElement("div");
  note.className = "lcr-incomplete lcr-heading-failed";
  note.setAttribute("role", "alert");
  const words = document.createElement("p");
  const label = panel.querySelector("h2")?.firstChild?.textContent.trim() || "This heading";
  words.textContent = isDrawn(panel)
    ? `${label} could not be brought up to date: it may not show the latest.`
    : `${label} could not be loaded. Nothing is shown for it: it may hold information.`;
  const retry = document.createElement("button");
  retry.type = "button";
  retry.className = "nhsuk-button nhsuk-button--secondary nhsuk-button--small";
  retry.textContent = "Try again";
  retry.addEventListener("click", () => {
    note.remove();
    panel.focus();
    loadHeading(panel, { again: isDrawn(panel) });
  });
  note.append(words, retry);
  panel.querySelector(`.${PENDING} .lcr-heading-pending__loading`)?.setAttribute("hidden", "");
  panel.prepend(note);
}

// Fetch a heading into its panel (or again, when a live update says it changed); resolves true
// once it is drawn. A fetch that fails leaves it saying so, with a way to try again.
export function loadHeading(panel, { again = false } = {}) {
  if (!again && isDrawn(panel)) return Promise.resolve(true);
  const under_way = loads.get(panel.id);
  if (under_way) {
    if (again) panel.dataset.fetchAgain = "true"; // it may have been read before the change
    return under_way;
  }
  const load = htmxReady().then((htmx) => {
    const body = panel.querySelector(":scope > div[id]"); // the heading, or its "Loading ..."
    if (!htmx || !body || !panel.dataset.headingUrl) return false;
    panel.querySelector(".lcr-heading-failed")?.remove();
    panel.querySelector(`.${PENDING} .lcr-heading-pending__loading`)?.removeAttribute("hidden");
    panel.setAttribute("aria-busy", "true");
    const hadFocus = panel.contains(document.activeElement) && document.activeElement !== panel;
    const url = panel.dataset.headingUrl.replace(/&amp;/g, "&");
    return htmx
      .ajax("GET", url, { source: body, target: body, swap: "outerHTML" })
      .then(() => !body.isConnected, () => false)
      .then((drawn) => {
        if (hadFocus && !panel.contains(document.activeElement)) panel.focus();
        return drawn;
      });
  });
  const settled = load.then((drawn) => {
    loads.delete(panel.id);
    panel.removeAttribute("aria-busy");
    if (!drawn) sayFailed(panel);
    if (panel.dataset.fetchAgain) {
      delete panel.dataset.fetchAgain;
      return loadHeading(panel, { again: true });
    }
    return drawn;
  });
  loads.set(panel.id, settled);
  return settled;
}

function loadEveryHeading(panels) {
  return Promise.all(panels.map((panel) => loadHeading(panel)));
}

function rowsOf(table) {
  return Array.from(table.tBodies[0]?.rows ?? []);
}

// Rows without a date go last whichever way the table is sorted: they cannot be placed in time.
function sortTable(table, order) {
  const body = table.tBodies[0];
  if (!body) return;
  const rows = rowsOf(table);
  rows.sort((a, b) => {
    const x = a.dataset.date || "";
    const y = b.dataset.date || "";
    if (!x || !y) return (x ? 0 : 1) - (y ? 0 : 1);
    return order === "ascending" ? x.localeCompare(y) : y.localeCompare(x);
  });
  rows.forEach((row) => body.appendChild(row));
  const header = table.querySelector("th.lcr-when");
  header?.setAttribute("aria-sort", order);
  const button = header?.querySelector("button");
  if (button) {
    button.textContent = order === "ascending" ? "When (oldest first)" : "When (newest first)";
  }
}

// The address of a tab's heading without the look: a reload is a new look, with it open.
function addressOf(tab) {
  const url = new URL(tab.href);
  url.searchParams.delete("look");
  return url.toString();
}

function setUpTabs(root, panels, tabs) {
  const select = (tab, focus) => {
    tabs.forEach((other) => {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      other.parentElement.classList.toggle("lcr-record-nav__item--selected", selected);
      document.getElementById(other.hash.slice(1))?.classList.toggle(HIDDEN, !selected);
    });
    if (focus) tab.focus();
    const panel = document.getElementById(tab.hash.slice(1));
    if (panel) loadHeading(panel);
  };
  root.querySelector(".lcr-record-nav__list").setAttribute("role", "tablist");
  root.querySelector(".lcr-record-nav__list").setAttribute("aria-orientation", "vertical");
  tabs.forEach((tab) => {
    const panel = document.getElementById(tab.hash.slice(1));
    tab.parentElement.setAttribute("role", "presentation");
    tab.setAttribute("role", "tab");
    tab.id = `${panel.id}-tab`;
    tab.setAttribute("aria-controls", panel.id);
    panel.setAttribute("role", "tabpanel");
    panel.removeAttribute("aria-label");
    panel.setAttribute("aria-labelledby", tab.id);
    panel.tabIndex = 0;
    tab.addEventListener("click", (event) => {
      event.preventDefault();
      select(tab, false);
      history.replaceState(null, "", addressOf(tab));
    });
    tab.addEventListener("keydown", (event) => {
      const at = tabs.indexOf(tab);
      const next = {
        ArrowDown: at + 1, ArrowRight: at + 1, ArrowUp: at - 1, ArrowLeft: at - 1,
        Home: 0, End: tabs.length - 1,
      }[event.key];
      if (next === undefined) return;
      event.preventDefault();
      const target = tabs[(next + tabs.length) % tabs.length];
      select(target, true);
      history.replaceState(null, "", addressOf(target));
    });
  });
  // The one asked for in the address, else the one the page drew open.
  const chosen =
    tabs.find((tab) => tab.hash === location.hash) ??
    tabs.find((tab) => isDrawn(document.getElementById(tab.hash.slice(1)))) ??
    tabs[0];
  select(chosen, false);
  return panels;
}

// Every heading is fetched before the first filtering, so that no heading reads as having no
// matching rows only because it was not there yet.
function setUpFilter(root, tabs, apply, panels) {
  const group = root.querySelector(".lcr-record-filter");
  const input = group.querySelector("input");
  const result = root.querySelector("#record-filter-result");
  group.hidden = false;
  let timer;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    if (!input.value.trim()) {
      timer = setTimeout(apply, 150);
      return;
    }
    if (!panels.every(isDrawn)) result.textContent = "Loading every heading to filter them.";
    timer = setTimeout(() => loadEveryHeading(panels).then(apply), 150);
  });
  return input;
}

// Printed, the record is every heading: the print button fetches those not drawn yet first.
// Printed another way (the browser's own menu), those still loading say so on paper.
function setUpPrinting(root, panels) {
  const button = root.querySelector(".lcr-print-record");
  if (!button) return;
  button.hidden = false;
  button.addEventListener("click", () => {
    button.disabled = true;
    loadEveryHeading(panels).then(() => {
      button.disabled = false;
      window.print();
    });
  });
  window.addEventListener("beforeprint", () => loadEveryHeading(panels));
}

// A live update names the headings whose sources saved something (care_record/updates.py):
// those drawn are fetched again; those not drawn yet will be read as they are when opened.
function followChanges(panels) {
  const fetchChanged = (names) => {
    names.forEach((name) => {
      const panel = document.getElementById(`tab-${name}`);
      if (panel && panels.includes(panel) && (isDrawn(panel) || loads.has(panel.id))) {
        loadHeading(panel, { again: true });
      }
    });
  };
  document.addEventListener("lcr:headings-changed", (event) => fetchChanged(event.detail));
}

function filterRows(root, tabs, input) {
  const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
  const result = root.querySelector("#record-filter-result");
  const found = [];
  let total = 0;
  tabs.forEach((tab) => {
    const panel = document.getElementById(tab.hash.slice(1));
    let matching = 0;
    panel.querySelectorAll("table.lcr-items").forEach((table) => {
      rowsOf(table).forEach((row) => {
        const text = row.textContent.toLowerCase();
        const shown = words.every((word) => text.includes(word));
        row.classList.toggle(FILTERED, !shown);
        if (shown) matching += 1;
      });
    });
    let count = tab.querySelector(".lcr-tab-count");
    if (words.length) {
      if (!count) {
        count = document.createElement("span");
        count.className = "lcr-tab-count";
        tab.appendChild(count);
      }
      count.textContent = ` (${matching})`;
      total += matching;
      if (matching) found.push(`${tab.firstChild.textContent.trim()} ${matching}`);
    } else {
      count?.remove();
    }
  });
  if (!words.length) {
    result.textContent = "";
  } else if (!total) {
    result.textContent = "No rows contain these words.";
  } else {
    result.textContent = `${total} matching row${total === 1 ? "" : "s"}: ${found.join(", ")}.`;
  }
}

export function initRecordView(root = document.getElementById("record-headings")) {
  if (!root) return;
  const tabs = Array.from(root.querySelectorAll("a.lcr-record-nav__tab"));
  const panelsBox = root.querySelector(".lcr-record-panels");
  const panels = tabs.map((tab) => document.getElementById(tab.hash.slice(1))).filter(Boolean);
  followChanges(panels);
  setUpTabs(root, panelsBox, tabs);
  setUpPrinting(root, panels);
  const orders = new Map(); // panel id -> "ascending" | "descending", chosen by the reader

  const addSortButtons = () => {
    panelsBox.querySelectorAll("th.lcr-when").forEach((header) => {
      if (header.querySelector("button")) return;
      const panel = header.closest(".lcr-record-panel");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "lcr-sort-button";
      button.textContent = "When (newest first)";
      button.addEventListener("click", () => {
        const order = orders.get(panel.id) === "ascending" ? "descending" : "ascending";
        orders.set(panel.id, order);
        sortTable(header.closest("table"), order);
      });
      header.replaceChildren(button);
    });
  };

  let input;
  let observer;
  const apply = () => {
    observer?.disconnect();
    addSortButtons();
    orders.forEach((order, id) => {
      const table = document.getElementById(id)?.querySelector("table.lcr-items");
      if (table) sortTable(table, order);
    });
    if (input) filterRows(root, tabs, input);
    observer?.observe(panelsBox, { childList: true, subtree: true });
  };
  input = setUpFilter(root, tabs, apply, panels);
  // Live updates replace the headings' contents: the reader's sort and filter are put back.
  let pending;
  observer = new MutationObserver(() => {
    clearTimeout(pending);
    pending = setTimeout(apply, 30);
  });
  apply();
}

// The printed record says when it was printed, not when the page was drawn.
export function initPrintedAt() {
  window.addEventListener("beforeprint", () => {
    const now = new Date().toLocaleString("en-GB", {
      day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
    });
    document.querySelectorAll("[data-lcr-printed-at]").forEach((element) => {
      element.textContent = now;
    });
  });
}
