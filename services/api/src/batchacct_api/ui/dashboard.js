// batchacct dashboard: asks for an API token (kept in sessionStorage), sends it as a bearer
// token on every /api/v1 request, draws the charts and fills the tables.
"use strict";

(function () {
  const TOKEN_KEY = "batchacct.token";
  const API = new URL("../api/v1/", window.location.href);
  const PUBLICATIONS_SHOWN = 25;
  const QUARANTINE_SHOWN = 50;
  const MAX_PAGES = 20;
  const $ = (id) => document.getElementById(id);

  class AuthError extends Error {}
  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  let generation = 0; // a newer load makes older ones drop their results

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function setStatus(text) {
    $("status").textContent = text;
  }

  // The readable part of an error answer: FastAPI's {"detail": "..."} or [{"msg": ...}].
  function detailOf(body) {
    if (!body || body.detail === undefined) return "";
    if (typeof body.detail === "string") return body.detail;
    if (Array.isArray(body.detail)) {
      return body.detail
        .map((e) => (e.loc ? `${e.loc.filter((p) => p !== "query").join(".")}: ` : "") + e.msg)
        .join("; ");
    }
    return JSON.stringify(body.detail);
  }

  async function api(path, params) {
    const url = new URL(path, API);
    for (const [key, value] of Object.entries(params || {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
    }
    const response = await fetch(url, {
      headers: { Authorization: `Bearer ${token()}`, Accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
    });
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (response.status === 401 || response.status === 403) {
      const why = detailOf(body) || response.statusText;
      throw new AuthError(`The API refused the token (${response.status}): ${why}.`);
    }
    if (!response.ok) {
      throw new ApiError(response.status, detailOf(body) || `HTTP ${response.status}`);
    }
    return body;
  }

  // The last `keep` items of a keyset-paginated list (oldest first), newest first.
  async function lastItems(path, params, keep) {
    let items = [];
    let cursor = null;
    let truncated = false;
    for (let page = 0; page < MAX_PAGES; page++) {
      const body = await api(path, { ...params, cursor });
      items = items.concat(body.items).slice(-keep);
      cursor = body.next_cursor;
      if (!cursor) break;
      if (page === MAX_PAGES - 1) truncated = true;
    }
    return { items: items.reverse(), truncated };
  }

  // --- Sign in / out -------------------------------------------------------------------------

  function showLogin(message) {
    generation++;
    sessionStorage.removeItem(TOKEN_KEY);
    $("dashboard").hidden = true;
    $("sign-out").hidden = true;
    $("login").hidden = false;
    const error = $("login-error");
    error.textContent = message || "";
    error.hidden = !message;
    setStatus(message ? "Not signed in" : "Sign in to see the accounting data");
    $("token").value = "";
    $("token").focus();
  }

  function showDashboard() {
    $("login").hidden = true;
    $("dashboard").hidden = false;
    $("sign-out").hidden = false;
    load();
  }

  // --- Filters -------------------------------------------------------------------------------

  function filters() {
    const form = $("filters");
    const value = (name) => form.elements[name].value.trim();
    const day = (name) => (value(name) ? `${value(name)}T00:00:00Z` : "");
    return {
      site: value("site"),
      vo: value("vo"),
      user: value("user"),
      queue: value("queue"),
      account: value("account"),
      since: day("since"),
      until: day("until"),
      invalid_only: form.elements.invalid_only.checked ? "true" : "",
    };
  }

  // --- Tables --------------------------------------------------------------------------------

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    if (className) td.className = className;
    return td;
  }

  const time = (v) => (v ? v.replace("T", " ").replace(/(\.\d+)?Z$/, "Z") : "");
  const num = (v) => (v === null || v === undefined ? "" : Number(v).toLocaleString("en"));

  // columns: [header, item => text, className]
  function table(containerId, columns, items, summary) {
    const container = $(containerId);
    container.replaceChildren();
    if (summary) {
      const p = document.createElement("p");
      p.className = "summary";
      p.textContent = summary;
      container.appendChild(p);
    }
    if (!items.length) {
      const p = document.createElement("p");
      p.className = "empty";
      p.textContent = "Nothing to show.";
      container.appendChild(p);
      return;
    }
    const t = document.createElement("table");
    const head = t.createTHead().insertRow();
    for (const [title] of columns) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = title;
      head.appendChild(th);
    }
    const body = t.createTBody();
    for (const item of items) {
      const row = body.insertRow();
      for (const [, get, className] of columns) row.appendChild(cell(get(item), className));
    }
    container.appendChild(t);
  }

  function tableError(containerId, err) {
    const container = $(containerId);
    container.replaceChildren();
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = `Could not load: ${err.message}`;
    container.appendChild(p);
  }

  async function loadPublications(f) {
    const { items, truncated } = await lastItems("publications", { site: f.site }, PUBLICATIONS_SHOWN);
    table("table-publications", [
      ["Queued (UTC)", (p) => time(p.queued_at)],
      ["Kind", (p) => p.kind],
      ["Sites", (p) => p.sites.join(", ")],
      ["Months", (p) => p.months.join(", ")],
      ["Records", (p) => num(p.records), "num"],
      ["Bytes", (p) => num(p.bytes), "num"],
      ["Destination", (p) => p.destination],
      ["Message", (p) => p.message_id, "wrap"],
      ["Status", (p) => p.status],
      ["Error", (p) => p.error, "wrap"],
    ], items, `The last ${items.length} messages, newest first${truncated ? " (of the first pages only)" : ""}.`);
  }

  async function loadQuarantine(f) {
    const { items, truncated } = await lastItems("quarantine", { site: f.site }, QUARANTINE_SHOWN);
    table("table-quarantine", [
      ["Received (UTC)", (q) => time(q.received_at)],
      ["Site", (q) => q.site],
      ["Format", (q) => q.source_format],
      ["File", (q) => `${q.file}:${q.line}`, "wrap"],
      ["Reason", (q) => q.reason],
      ["Detail", (q) => q.detail, "wrap"],
      ["Retries", (q) => num(q.retries), "num"],
    ], items, `The last ${items.length} rejected lines, newest first${truncated ? " (of the first pages only)" : ""}.`);
  }

  async function loadFiles(f) {
    const body = await api("files", { site: f.site });
    table("table-files", [
      ["Collector", (x) => x.collector],
      ["Site", (x) => x.site],
      ["Format", (x) => x.source_format],
      ["Path", (x) => x.path, "wrap"],
      ["State", (x) => x.state + (x.detail ? `: ${x.detail}` : "")],
      ["Read (bytes)", (x) => `${num(x.offset)} / ${num(x.size)}`, "num"],
      ["Records", (x) => num(x.records), "num"],
      ["Rejected", (x) => num(x.rejected), "num"],
      ["Last seen (UTC)", (x) => time(x.last_seen)],
    ], body.items, body.next_cursor ? `The first ${body.items.length} files.` : `${body.items.length} files.`);
  }

  async function loadMissing(f) {
    const body = await api("benchmarks/missing", { site: f.site });
    table("table-missing", [
      ["Site", (m) => m.site],
      ["CE (submit host)", (m) => m.submit_host ?? "(local jobs)"],
      ["Batch host", (m) => m.machine_name],
      ["Jobs", (m) => num(m.jobs), "num"],
      ["First end (UTC)", (m) => time(m.first_end_time)],
      ["Last end (UTC)", (m) => time(m.last_end_time)],
    ], body.items, `${num(body.jobs)} stored jobs without a benchmark (not normalised, not published).`);
  }

  // --- Charts --------------------------------------------------------------------------------

  async function loadCharts(f, list) {
    const container = $("charts");
    container.replaceChildren();
    await Promise.all(list.items.map(async (item) => {
      const figure = document.createElement("figure");
      figure.className = "chart";
      figure.dataset.chart = item.name;
      figure.textContent = `Loading ${item.title}…`;
      container.appendChild(figure);
      try {
        const data = await api(`charts/${encodeURIComponent(item.name)}`, f);
        window.BatchacctCharts.draw(figure, data);
      } catch (err) {
        if (err instanceof AuthError) throw err;
        figure.textContent = `${item.title}: ${err.message}`;
        figure.classList.add("error");
        if (err instanceof ApiError && err.status === 422) {
          $("filter-error").textContent = `Invalid filters: ${err.message}`;
          $("filter-error").hidden = false;
        }
      }
    }));
  }

  async function load() {
    const mine = ++generation;
    const f = filters();
    $("filter-error").hidden = true;
    setStatus("Loading…");
    try {
      const list = await api("charts"); // also checks the token
      if (mine !== generation) return;
      const guarded = (id, fn) => fn(f).catch((err) => {
        if (err instanceof AuthError) throw err;
        tableError(id, err);
      });
      await Promise.all([
        loadCharts(f, list),
        guarded("table-publications", loadPublications),
        guarded("table-quarantine", loadQuarantine),
        guarded("table-files", loadFiles),
        guarded("table-missing", loadMissing),
      ]);
      if (mine === generation) setStatus(`Updated ${new Date().toISOString().slice(0, 19).replace("T", " ")} UTC`);
    } catch (err) {
      if (mine !== generation) return;
      if (err instanceof AuthError) showLogin(err.message);
      else setStatus(`Error: ${err.message}`);
    }
  }

  // --- Wiring --------------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("token").value.trim();
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      showDashboard();
    });
    $("sign-out").addEventListener("click", () => showLogin(""));
    $("filters").addEventListener("submit", (event) => {
      event.preventDefault();
      load();
    });
    $("filters").addEventListener("reset", () => window.setTimeout(load, 0));
    if (token()) showDashboard();
    else showLogin("");
  });
})();
