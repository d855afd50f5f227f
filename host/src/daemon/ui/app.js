// Tandem's web UI: plain JavaScript over the /api/v1 JSON API.
"use strict";

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return e;
};
const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

const state = {
  token: localStorage.getItem("tandem.token") || "",
  role: null,
  pairs: [],
  pair: localStorage.getItem("tandem.pair") || null,
  tab: "calendar",
  month: null, // "YYYY-MM"
  selectedDay: null,
  hours: "0".repeat(168),
  histPage: 1,
  histPages: 1,
  watching: false,
};

// ---- API ---------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const opts = { method, headers: { Authorization: "Bearer " + state.token } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch("/api/v1" + path, opts);
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: text }; }
  if (res.status === 401) { askToken("The token was refused; sign in again."); throw new ApiError(401, data?.error || "unauthorized"); }
  if (!res.ok) throw new ApiError(res.status, data?.error || res.statusText);
  return data;
}

function say(text, error = false) {
  const m = $("#message");
  m.textContent = text;
  m.className = error ? "error" : "";
}

async function act(what, fn) {
  try { return await fn(); }
  catch (e) { say(what + ": " + e.message, true); return null; }
}

const pairPath = (rest) => "/pairs/" + encodeURIComponent(state.pair) + rest;

// ---- sign in -----------------------------------------------------------

function askToken(error = "") {
  $("#token-error").textContent = error;
  const d = $("#token-dialog");
  if (!d.open) d.showModal();
  $("#token-input").focus();
}

$("#token-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  state.token = $("#token-input").value.trim();
  try {
    await signIn();
    localStorage.setItem("tandem.token", state.token);
    $("#token-dialog").close();
    $("#token-input").value = "";
  } catch (e) {
    $("#token-error").textContent = e.message;
  }
});

$("#logout").addEventListener("click", () => {
  localStorage.removeItem("tandem.token");
  state.token = "";
  askToken();
});

async function signIn() {
  const me = await api("GET", "/me");
  state.role = me.role;
  document.body.classList.toggle("viewer", me.role !== "admin");
  for (const i of document.querySelectorAll(".admin-input")) i.disabled = me.role !== "admin";
  $("#whoami").textContent = me.name + " (" + me.role + ")";
  await loadPairs();
}

// ---- pairs and the status bar -------------------------------------------

async function loadPairs() {
  state.pairs = await api("GET", "/pairs");
  const sel = $("#pair-select");
  sel.replaceChildren(...state.pairs.map((p) => el("option", { value: p.pair }, p.pair)));
  if (!state.pairs.some((p) => p.pair === state.pair)) {
    state.pair = (state.pairs.find((p) => p.has_ledger) || state.pairs[0] || {}).pair || null;
  }
  sel.value = state.pair || "";
  await showPair();
}

$("#pair-select").addEventListener("change", async (ev) => {
  state.pair = ev.target.value;
  localStorage.setItem("tandem.pair", state.pair);
  state.month = null;
  state.selectedDay = null;
  state.histPage = 1;
  await showPair();
});

function current() { return state.pairs.find((p) => p.pair === state.pair); }

async function refreshStatus() {
  if (!state.pair) return null;
  const p = await api("GET", pairPath("/status"));
  const i = state.pairs.findIndex((x) => x.pair === p.pair);
  if (i >= 0) state.pairs[i] = p;
  renderStatus(p);
  return p;
}

function renderStatus(p) {
  const btn = $("#sync-now-status");
  const pending = p.poll?.pending;
  btn.classList.remove("pending", "aligned", "unknown");
  btn.classList.add(pending == null ? "unknown" : pending > 0 ? "pending" : "aligned");
  btn.disabled = !!p.live;
  $("#pending-count").textContent = pending == null
    ? (p.poll?.error ? "poll failed" : "not polled yet")
    : pending + (pending === 1 ? " element" : " elements") + " to sync";
  $("#pending-count").title = p.poll?.error || ("polled " + (p.poll ? fmtTime(p.poll.at) : "never"));
  const last = p.ledger?.last_sync || (p.last_run && ["completed", "partial"].includes(p.last_run.status) ? p.last_run.ended : null);
  $("#last-sync").textContent = last ? fmtTime(last) : "never";
  const cov = p.ledger?.covered;
  $("#covered").textContent = cov ? (cov.from === cov.to ? cov.from : cov.from + " – " + cov.to) : "–";
  const live = p.live;
  $("#live").hidden = !live;
  if (live) {
    const total = Math.max(1, (p.links || 0) + (pending || 0));
    const pct = Math.min(99, Math.round((100 * (live.progress.read_a || 0)) / total));
    $("#progress").value = pct;
    $("#progress-text").textContent = "run " + (live.run_id ?? "…") + ": read " + live.progress.read_a + " / " +
      live.progress.read_b + ", applied " + live.progress.applied + (live.stopping ? " (stopping)" : "");
  }
}

function fmtTime(ts) {
  if (!ts) return "–";
  const d = new Date(ts);
  return d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

async function showPair() {
  const p = current();
  if (!p) { say("The manifest declares no pairs."); return; }
  renderStatus(p);
  if (p.live) watch();
  await showTab(state.tab);
}

// While a run of the pair goes on: refresh the status every second; then the tab.
async function watch() {
  if (state.watching) return;
  state.watching = true;
  try {
    for (;;) {
      await new Promise((r) => setTimeout(r, 700));
      const p = await refreshStatus();
      if (!p || !p.live) break;
    }
    const p = current();
    const r = p?.last_run;
    if (r) say("Run " + r.id + " " + r.status + (r.errors?.length ? ": " + r.errors[r.errors.length - 1].message : ""), r.status === "error");
    await showTab(state.tab);
  } finally {
    state.watching = false;
  }
}

async function startSync(body, what) {
  const res = await act(what, () => api("POST", pairPath("/sync"), body));
  if (!res) return;
  if (res.run_id != null && res.started) say(what + ": run " + res.run_id + " started");
  else if (res.report && res.report.days?.length) say(what + ": already synced; use Resynchronize to sync again");
  else say(what + ": nothing to do");
  await refreshStatus();
  watch();
}

$("#sync-now-status").addEventListener("click", () => startSync({}, "Sync now"));
$("#poll-refresh").addEventListener("click", () => act("Poll", async () => {
  await api("POST", pairPath("/poll"));
  await refreshStatus();
}));
$("#stop-run").addEventListener("click", () => act("Stop", async () => {
  const id = current()?.live?.run_id;
  if (id == null) return;
  await api("POST", "/runs/" + id + "/stop");
  say("Run " + id + " is stopping: it rolls back");
}));

// ---- tabs --------------------------------------------------------------

for (const b of document.querySelectorAll("nav .tab")) {
  b.addEventListener("click", () => showTab(b.dataset.tab));
}

async function showTab(tab) {
  state.tab = tab;
  for (const b of document.querySelectorAll("nav .tab")) b.classList.toggle("active", b.dataset.tab === tab);
  for (const s of document.querySelectorAll(".tab-body")) s.hidden = s.id !== "tab-" + tab;
  if (!state.pair) return;
  if (tab === "calendar") await act("Calendar", loadCalendar);
  if (tab === "scheduling") await act("Schedule", loadSchedule);
  if (tab === "history") await act("History", loadHistory);
  if (tab === "window") await act("Sync window", loadWindow);
}

// ---- calendar ----------------------------------------------------------

function shiftMonth(month, by) {
  let [y, m] = month.split("-").map(Number);
  m += by;
  while (m < 1) { m += 12; y -= 1; }
  while (m > 12) { m -= 12; y += 1; }
  return y + "-" + String(m).padStart(2, "0");
}

async function loadCalendar() {
  const p = current();
  $("#no-ledger").hidden = p.has_ledger;
  $("#calendar-view").hidden = !p.has_ledger;
  if (!p.has_ledger) return;
  const q = state.month ? "?month=" + state.month : "";
  const cal = await api("GET", pairPath("/calendar" + q));
  state.month = cal.month;
  const [y, m] = cal.month.split("-").map(Number);
  $("#cal-title").textContent = new Date(y, m - 1, 1).toLocaleString("en", { month: "long", year: "numeric" });
  const grid = $("#cal-grid");
  grid.replaceChildren(...DAYS.map((d) => el("div", { class: "dow" }, d)));
  const lead = (new Date(y, m - 1, 1).getDay() + 6) % 7;
  for (let i = 0; i < lead; i++) grid.append(el("div"));
  for (const d of cal.days) {
    const cls = ["day", d.status];
    if (d.day === cal.today) cls.push("today");
    if (d.day === state.selectedDay) cls.push("selected");
    grid.append(el("div", {
      class: cls.join(" "), dataset: { day: d.day, status: d.status },
      title: d.day + ": " + d.status.replace("_", " ") + (d.events ? ", " + d.events + " saved" : ""),
      onclick: () => selectDay(d),
    }, String(Number(d.day.slice(8)))));
  }
  $("#cal-summary").textContent = cal.synced + "/" + cal.days_in_month + " days synchronized";
  const saved = cal.days.filter((d) => d.status === "synced");
  $("#cal-saved").replaceChildren(...saved.map((d) =>
    el("li", { dataset: { day: d.day } }, d.day.slice(8) + "/" + d.day.slice(5, 7) + "/" + d.day.slice(0, 4) + "  Saved: " + d.events)));
  const sel = cal.days.find((d) => d.day === state.selectedDay);
  if (sel) selectDay(sel); else $("#day-actions").hidden = true;
}

function selectDay(d) {
  state.selectedDay = d.day;
  for (const c of document.querySelectorAll("#cal-grid .day")) c.classList.toggle("selected", c.dataset.day === d.day);
  $("#day-actions").hidden = state.role !== "admin";
  $("#day-selected").textContent = d.day + " (" + d.status.replace("_", " ") + ")";
  const grey = d.status === "not_synced" || d.status === "failed";
  $("#cal-sync-day").hidden = !grey;
  $("#cal-resync-day").hidden = grey;
}

$("#cal-prev").addEventListener("click", () => { state.month = shiftMonth(state.month, -1); act("Calendar", loadCalendar); });
$("#cal-next").addEventListener("click", () => { state.month = shiftMonth(state.month, 1); act("Calendar", loadCalendar); });
$("#cal-sync-day").addEventListener("click", () => startSync({ day: state.selectedDay }, "Sync " + state.selectedDay));
$("#cal-resync-day").addEventListener("click", () => startSync({ day: state.selectedDay, force: true }, "Resynchronize " + state.selectedDay));
$("#cal-resync-month").addEventListener("click", () => startSync({ month: state.month }, "Resynchronize " + state.month));
$("#cal-custom").addEventListener("click", () => { $("#custom-range").hidden = !$("#custom-range").hidden; });
$("#custom-go").addEventListener("click", () => {
  const from = $("#custom-from").value, to = $("#custom-to").value;
  if (!from || !to) { say("Custom Sync: choose both dates", true); return; }
  startSync({ from, to }, "Custom Sync " + from + " – " + to);
});

// ---- scheduling --------------------------------------------------------

async function loadSchedule() {
  const s = await api("GET", pairPath("/schedule"));
  state.hours = s.hours;
  $("#sched-active").checked = s.active;
  $("#sched-active-label").textContent = s.active ? "Active scheduling" : "Inactive scheduling";
  $("#sched-source").textContent = (s.source === "saved" ? "saved " + fmtTime(s.updated) : "from the manifest") + "; hours in " + s.time_zone;
  $("#sched-every").value = s.every_secs ? Math.round(s.every_secs / 60) : 0;
  $("#sched-after-start").value = s.after_start_secs || 0;
  $("#sched-after-change").checked = s.after_change;
  $("#sched-skip-error").checked = s.skip_after_error;
  renderGrid();
}

function renderGrid() {
  const t = $("#sched-grid");
  t.classList.toggle("inactive", !$("#sched-active").checked);
  const head = el("tr", {}, el("th"), ...Array.from({ length: 24 }, (_, h) => el("th", {}, String(h).padStart(2, "0"))));
  const rows = DAYS.map((name, d) => el("tr", {}, el("th", {}, name), ...Array.from({ length: 24 }, (_, h) => {
    const i = d * 24 + h;
    return el("td", {
      class: state.hours[i] === "1" ? "on" : "", dataset: { day: d, hour: h },
      title: name + " " + String(h).padStart(2, "0") + ":00–" + String(h + 1).padStart(2, "0") + ":00",
      onclick: () => toggleSlot(i),
    });
  })));
  t.replaceChildren(head, ...rows);
}

function toggleSlot(i) {
  if (state.role !== "admin") return;
  state.hours = state.hours.slice(0, i) + (state.hours[i] === "1" ? "0" : "1") + state.hours.slice(i + 1);
  renderGrid();
}

$("#sched-active").addEventListener("change", () => {
  $("#sched-active-label").textContent = $("#sched-active").checked ? "Active scheduling" : "Inactive scheduling";
  renderGrid();
});
$("#sched-save").addEventListener("click", () => act("Save", async () => {
  await api("PUT", pairPath("/schedule"), {
    hours: state.hours,
    active: $("#sched-active").checked,
    every_secs: Math.max(0, Number($("#sched-every").value) || 0) * 60,
    after_start_secs: Math.max(0, Number($("#sched-after-start").value) || 0),
    after_change: $("#sched-after-change").checked,
    skip_after_error: $("#sched-skip-error").checked,
  });
  await loadSchedule();
  say("Schedule saved");
}));
$("#sched-reset").addEventListener("click", () => act("Reset", async () => {
  await api("POST", pairPath("/schedule/reset"));
  await loadSchedule();
  say("Schedule reset to the manifest's");
}));

// ---- history -----------------------------------------------------------

async function loadHistory() {
  const per = $("#hist-per-page").value;
  const h = await api("GET", "/history?pair=" + encodeURIComponent(state.pair) + "&page=" + state.histPage + "&per_page=" + per);
  state.histPages = h.pages;
  $("#hist-page").textContent = "page " + h.page + " of " + h.pages + " (" + h.total + " runs)";
  $("#hist-prev").disabled = h.page <= 1;
  $("#hist-next").disabled = h.page >= h.pages;
  $("#hist-table tbody").replaceChildren(...h.runs.map((r) => el("tr", { dataset: { run: r.id }, onclick: () => showRun(r.id) },
    el("td", {}, String(r.id)),
    el("td", { class: "status-" + r.status }, r.status === "completed" ? "Completed" : r.status === "partial" ? "Partial (records held)" : r.status),
    el("td", {}, r.trigger + (r.dry_run ? " (dry)" : "") + (r.mode === "undo" || r.mode === "resolve" ? " · " + r.mode : "")),
    el("td", {}, r.period ? (r.period[0] === r.period[1] ? r.period[0] : r.period[0] + " – " + r.period[1]) : "–"),
    el("td", {}, fmtTime(r.started)),
    el("td", {}, r.ended ? fmtTime(r.ended) : "–"),
    el("td", {}, String(r.saved_days)),
    el("td", {}, String(r.saved_events)),
  )));
}

$("#hist-per-page").addEventListener("change", () => { state.histPage = 1; act("History", loadHistory); });
$("#hist-refresh").addEventListener("click", () => act("History", loadHistory));
$("#hist-prev").addEventListener("click", () => { state.histPage = Math.max(1, state.histPage - 1); act("History", loadHistory); });
$("#hist-next").addEventListener("click", () => { state.histPage = Math.min(state.histPages, state.histPage + 1); act("History", loadHistory); });

async function showRun(id) {
  const { run: r, live } = await api("GET", "/runs/" + id);
  const counts = ["conflict", "new", "deleted", "disabled", "synchronized", "inactive", "changed_a", "changed_b", "merged"]
    .map((c) => c + " " + (r.counts[c] || 0)).join(", ");
  const writes = "side a: " + r.counts.created_a + " created, " + r.counts.updated_a + " updated, " + r.counts.deleted_a + " deleted; side b: " +
    r.counts.created_b + " created, " + r.counts.updated_b + " updated, " + r.counts.deleted_b + " deleted";
  const body = el("div", {},
    el("h2", {}, "Run " + r.id + " of " + r.pair),
    el("p", {}, "Status: ", el("b", { class: "status-" + r.status }, r.status), " · mode " + r.mode + " · trigger " + r.trigger),
    el("p", {}, "Started " + fmtTime(r.started) + ", ended " + (r.ended ? fmtTime(r.ended) : "not yet")),
    el("p", {}, "Saved days: " + r.saved_days + ", saved events: " + r.saved_events),
    el("p", {}, "Categories: " + counts),
    el("p", {}, writes),
  );
  if (live) body.append(el("p", {}, "Live: read " + live.progress.read_a + " / " + live.progress.read_b + ", applied " + live.progress.applied));
  if (r.days.length) {
    body.append(el("table", { class: "table" }, el("tbody", {}, ...r.days.map((d) =>
      el("tr", {}, el("td", {}, d.day), el("td", {}, d.status), el("td", {}, d.events + " events"), el("td", {}, d.note || ""))))));
  }
  if (r.errors.length) body.append(el("pre", {}, r.errors.map((e) => [e.location, e.entity, e.key].filter(Boolean).join(", ") + ": " + e.message).join("\n")));
  if (state.role === "admin" && !["running", "stopping"].includes(r.status) && r.mode !== "undo") {
    body.append(el("button", { id: "run-undo", onclick: async () => {
      const res = await act("Undo", () => api("POST", "/runs/" + r.id + "/undo", {}));
      if (res) { say("Run " + r.id + " undone (run " + res.run_id + ")"); $("#run-dialog").close(); await refreshStatus(); await showTab(state.tab); }
    } }, "Undo this run"));
  }
  if (state.role === "admin" && r.status === "running") {
    body.append(el("button", { onclick: () => act("Stop", () => api("POST", "/runs/" + r.id + "/stop")) }, "Stop"));
  }
  $("#run-detail").replaceChildren(body);
  $("#run-dialog").showModal();
}

// ---- sync window -------------------------------------------------------

const CAT_TITLES = {
  conflict: "Conflicts: data differs; choose which value to keep",
  new: "New: in one system only; pair it or import it",
  deleted: "Deleted: previously synced, deleted in one system",
  disabled: "Sync disabled",
  synchronized: "Synchronized",
  inactive: "Inactive: not synced until re-activated",
  changed_a: "Changed in A: goes to B",
  changed_b: "Changed in B: goes to A",
  merged: "Merged: different fields changed on each side",
};

async function loadWindow() {
  $("#win-cats").replaceChildren(el("p", { class: "hint" }, "Reading both sides…"));
  const w = await api("GET", pairPath("/window"));
  const admin = state.role === "admin";
  $("#win-cats").replaceChildren(...w.categories.map((c) => {
    const rows = c.records.map((r) => recordRow(c.category, r, admin));
    return el("section", { class: "cat", dataset: { cat: c.category } },
      el("h3", {}, CAT_TITLES[c.category], el("span", { class: "count" }, String(c.count))),
      rows.length ? el("table", {}, el("tbody", {}, ...rows)) : el("span", { class: "hint" }, c.count ? "" : "none"));
  }));
}

function recordRow(cat, r, admin) {
  const key = r.a_key ?? r.b_key;
  const cells = [el("td", {}, "a: " + (r.a_key ?? "–")), el("td", {}, "b: " + (r.b_key ?? "–"))];
  if (r.action) cells.push(el("td", { class: "hint" }, "sync: " + r.action));
  if (cat === "conflict" && r.conflict) {
    const diff = r.conflict.differences.map((d) => d.field + ": a " + JSON.stringify(d.a) + " / b " + JSON.stringify(d.b)).join("; ");
    cells.push(el("td", { class: "diff" }, diff));
    if (admin) {
      for (const side of ["a", "b"]) {
        cells.push(el("td", {}, el("button", { class: "take-" + side, onclick: () => windowAct("Resolve", "/resolve", { id: r.conflict.id, take: side }) }, "Keep " + side.toUpperCase())));
      }
    }
  }
  if (admin && cat === "new") {
    const other = r.a_key != null ? "b" : "a";
    const input = el("input", { placeholder: other + " key", size: "8" });
    cells.push(el("td", {}, input, el("button", { class: "pair-btn", onclick: () => {
      const v = input.value.trim();
      if (!v) { say("Pair: give the other side's key", true); return; }
      windowAct("Pair", "/link", other === "b" ? { a_key: r.a_key, b_key: v } : { a_key: v, b_key: r.b_key });
    } }, "Pair")));
  }
  if (admin && cat === "disabled") {
    const side = r.a_key != null ? "a" : "b";
    cells.push(el("td", {}, el("button", { class: "enable-btn", onclick: () => windowAct("Enable", "/enable", { key, side }) }, "Enable sync")));
  } else if (admin && key != null && ["synchronized", "new", "deleted", "conflict"].includes(cat)) {
    const side = r.a_key != null ? "a" : "b";
    cells.push(el("td", {}, el("button", { class: "disable-btn", onclick: () => windowAct("Disable", "/disable", { key, side }) }, "Disable sync")));
  }
  return el("tr", { dataset: { key: key ?? "" } }, ...cells);
}

async function windowAct(what, path, body) {
  const res = await act(what, () => api("POST", pairPath(path), body));
  if (res) { say(what + ": done"); await refreshStatus(); await act("Sync window", loadWindow); }
}
$("#win-refresh").addEventListener("click", () => act("Sync window", loadWindow));

// ---- start -------------------------------------------------------------

setInterval(() => { if (state.role && !state.watching) refreshStatus().catch(() => {}); }, 15000);

(async () => {
  if (!state.token) { askToken(); return; }
  try { await signIn(); } catch (e) { if (e.status !== 401) say(e.message, true); }
})();
