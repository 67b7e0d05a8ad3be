// The record page's headings as vertical tabs (one shown at a time on screen, every one in
// print), a text filter over every heading's rows, sorting of each table by date, kept through
// the live updates that replace the headings' contents. Without JavaScript every heading is
// shown in turn and the navigation is a list of links to them.

const HIDDEN = "lcr-record-panel--hidden";
const FILTERED = "lcr-filtered-out";

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
      history.replaceState(null, "", tab.hash);
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
      history.replaceState(null, "", target.hash);
    });
  });
  const chosen = tabs.find((tab) => tab.hash === location.hash) ?? tabs[0];
  select(chosen, false);
  return panels;
}

function setUpFilter(root, tabs, apply) {
  const group = root.querySelector(".lcr-record-filter");
  const input = group.querySelector("input");
  group.hidden = false;
  let timer;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(apply, 150);
  });
  return input;
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
  setUpTabs(root, panelsBox, tabs);
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
  input = setUpFilter(root, tabs, apply);
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
