// The operations page (#/ops): this replica live, from GET /v1/admin/live every 2 s. Rates and
// latencies are the service's over its last minute; the sparklines are this tab's samples of
// them over the last 10 minutes (kept here only: a reload starts them again).
import { getJSON } from "./api.js";
import { clear, fmt, h } from "./dom.js";
import { sparkline } from "./spark.js";

const EVERY_MS = 2000;
const KEEP = 300; // samples: 10 minutes at one per 2 s
const history = [];
let generation = 0; // a newer page (or leaving it) stops the older one's polling
let timer = null;
let paused = false;

export function stopOps() {
  generation += 1;
  clearTimeout(timer);
  timer = null;
}

export function opsPage(main) {
  stopOps();
  const mine = generation;
  const state = h("p", { class: "lead ops-state", id: "ops-state", "data-testid": "ops-state" }, "Connecting…");
  const body = h("div", { id: "ops-body", "aria-busy": "true" });
  const pause = h("button", { type: "button", class: "toggle", "aria-pressed": String(paused),
    onclick: () => {
      paused = !paused;
      pause.setAttribute("aria-pressed", String(paused));
      pause.textContent = paused ? "Resume" : "Pause";
    } }, paused ? "Resume" : "Pause");
  clear(main, h("div", { class: "ops-head" }, h("h1", {}, "Operations"), pause), state, body);

  const tick = async () => {
    if (mine !== generation || !body.isConnected) return; // another page replaced this one
    if (!paused) {
      try {
        const snap = await getJSON("/v1/admin/live");
        if (mine !== generation) return;
        remember(snap);
        showState(state, snap.status, `${label(snap.status)} · updated ${new Date(snap.at * 1000).toLocaleTimeString()} · rates over the last ${Math.round(snap.window_s)} s, refreshed every 2 s`);
        render(body, snap);
      } catch (err) {
        if (mine !== generation) return;
        trouble(state, body, err);
      }
    }
    timer = setTimeout(tick, EVERY_MS);
  };
  tick();
}

function label(status) {
  return { ready: "Live", loading: "Live · loading a new model", starting: "Starting: no model loaded yet" }[status] || status;
}

function showState(state, status, text) {
  state.dataset.status = status;
  state.textContent = text;
}

function trouble(state, body, err) {
  body.classList.add("stale");
  if (err.status === 403) {
    showState(state, "forbidden", "This key cannot see the operations page: it needs the admin role (prismrec keys create --role admin).");
    clear(body);
  } else if (err.status === 401) {
    showState(state, "forbidden", "Enter an admin API key to see the operations page.");
    clear(body);
  } else {
    showState(state, "down", `${err.message}; retrying every 2 s (the numbers below are the last ones received)`);
  }
}

function remember(snap) {
  const t = snap.total;
  history.push({ rps: t.per_s, p99: t.p99_ms, p50: t.p50_ms, e5: t.status_5xx, eps: snap.events.per_s });
  if (history.length > KEEP) history.splice(0, history.length - KEEP);
}

const series = (key) => history.map((s) => s[key]);
const ms = (x) => (typeof x === "number" ? `${x < 10 ? fmt(x, 2) : fmt(x, 0)} ms` : "–");
const pct = (x) => `${fmt(100 * x, 1)}%`;
const rate = (x) => fmt(x, x < 10 ? 2 : 1);

function bytes(n) {
  const units = ["B", "kB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

function tile(id, name, value, note, spark) {
  return h("div", { class: "tile", "data-testid": `tile-${id}` },
    h("div", { class: "tile-name" }, name),
    h("div", { class: "value" }, value),
    h("div", { class: "tile-note" }, note),
    spark || null);
}

function render(body, snap) {
  const t = snap.total, model = snap.model, cache = snap.cache;
  const span = `last ${Math.round((history.length * EVERY_MS) / 60000) || "<1"} min`;
  const width = Math.min(KEEP, Math.max(30, history.length)); // a minute at first, then growing
  body.classList.remove("stale");
  clear(body,
    notice(snap),
    h("div", { class: "tiles" },
      tile("rps", "Requests/s", rate(t.per_s), `${t.requests.toLocaleString()} requests`,
        sparkline(series("rps"), `requests per second, ${span}`, { span: width })),
      tile("p50", "p50 latency", ms(t.p50_ms), "all routes",
        sparkline(series("p50"), `p50 latency, ${span}`, { span: width })),
      tile("p99", "p99 latency", ms(t.p99_ms), "all routes",
        sparkline(series("p99"), `p99 latency, ${span}`, { span: width })),
      tile("errors", "Server errors (5xx)", pct(t.ratio_5xx),
        `${t.status_5xx} × 5xx · ${t.status_4xx} × 4xx · ${t.status_429} × 429`,
        sparkline(series("e5"), `5xx answers, ${span}`, { span: width })),
      tile("eps", "Events/s", rate(snap.events.per_s), `${snap.events.ingested.toLocaleString()} event${snap.events.ingested === 1 ? "" : "s"} stored`,
        sparkline(series("eps"), `events per second, ${span}`, { span: width })),
      tile("cache", "Cached users", cache ? cache.users.toLocaleString() : "–",
        cache ? `${bytes(cache.context_bytes)} of ${bytes(cache.context_limit_bytes)} context` : "no model yet"),
      tile("model", "Model version", model ? model.version : "–",
        model ? `${model.swaps} swaps · ${model.failed_loads} failed loads` : "no model yet")),
    h("section", { "aria-labelledby": "h-routes" },
      h("h2", { id: "h-routes" }, "Routes"),
      routesTable(snap.routes)),
    snap.ab ? abSection(snap.ab) : null,
    model ? modelSection(model) : null);
  body.setAttribute("aria-busy", "false");
}

function notice(snap) {
  if (snap.status === "starting") {
    return h("p", { class: "notice", "data-testid": "ops-notice" }, "The service is starting: the model is loading, and model routes answer 503 until it is ready.");
  }
  const loading = snap.model && snap.model.loading;
  if (loading) {
    return h("p", { class: "notice", "data-testid": "ops-notice" },
      `Loading ${loading.path} since ${new Date(loading.since * 1000).toLocaleTimeString()}; the current model keeps serving meanwhile.`);
  }
  return null;
}

const COLUMNS = [
  ["route", "route"], ["per_s", "req/s"], ["requests", "requests"], ["p50_ms", "p50"],
  ["p99_ms", "p99"], ["status_4xx", "4xx"], ["status_5xx", "5xx"], ["status_429", "429"],
];

function routesTable(routes) {
  if (!routes.length) return h("p", { class: "empty" }, "No request in the window.");
  const cell = (r, key) => {
    const v = r[key];
    if (key === "route") return h("th", { scope: "row", class: "route" }, v);
    if (key === "per_s") return h("td", { class: key }, rate(v));
    if (key.endsWith("_ms")) return h("td", { class: key }, ms(v));
    return h("td", { class: `${key}${v && key.startsWith("status_") ? " bad" : ""}` }, String(v));
  };
  const rows = [...routes].sort((a, b) => b.requests - a.requests || a.route.localeCompare(b.route));
  return h("div", { class: "scroll" }, h("table", { class: "metrics ops-routes" },
    h("thead", {}, h("tr", {}, COLUMNS.map(([, name]) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, rows.map((r) => h("tr", { "data-testid": "route-row", "data-route": r.route },
      COLUMNS.map(([key]) => cell(r, key)))))));
}

function abSection(ab) {
  const interval = (lo, hi) => (lo === null ? "–" : `[${fmt(lo, 3)}, ${fmt(hi, 3)}]`);
  return h("section", { "aria-labelledby": "h-ab" },
    h("h2", { id: "h-ab" }, "A/B test"),
    h("p", { class: "hint" }, `The candidate answers ${pct(ab.share)} of users. A hit is a served list a later event of its user landed on; counts since the test started, on every replica; 95% intervals.`),
    h("div", { class: "scroll" }, h("table", { class: "metrics", "data-testid": "ab-table" },
      h("thead", {}, h("tr", {}, ["variant", "version", "lists", "hits", "hit rate", "95% interval", "items served"]
        .map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {},
        ab.variants.map((v) => h("tr", { "data-testid": "ab-row", "data-variant": v.variant },
          h("th", { scope: "row" }, v.variant), h("td", {}, v.version), h("td", {}, v.lists.toLocaleString()),
          h("td", {}, v.hits.toLocaleString()), h("td", {}, fmt(v.hit_rate, 3)),
          h("td", {}, interval(v.ci_low, v.ci_high)), h("td", {}, v.items_served.toLocaleString()))),
        h("tr", {}, h("th", { scope: "row" }, "candidate − control"), h("td", {}), h("td", {}), h("td", {}),
          h("td", {}, fmt(ab.diff, 3)), h("td", {}, interval(ab.diff_low, ab.diff_high)), h("td", {}))))));
}

function modelSection(model) {
  const when = (s) => new Date(s * 1000).toLocaleString();
  const facts = [
    ["version", model.version],
    ["directory", model.path],
    ["saved", when(model.created_at)],
    ["parent", model.parent || "–"],
    ["previous", model.previous ? `${model.previous.version} (${model.previous.path})` : "–"],
    ["swaps", model.swaps],
    ["failed loads", model.failed_loads],
    ["last error", model.last_error || "–"],
    ["watching", model.watch || "–"],
    ["A/B candidate", model.candidate ? `${model.candidate.version} (${pct(model.candidate.share)} of users)` : "–"],
  ];
  return h("section", { "aria-labelledby": "h-served" },
    h("h2", { id: "h-served" }, "Model in service"),
    h("dl", { class: "facts", "data-testid": "ops-model" },
      facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))])));
}
