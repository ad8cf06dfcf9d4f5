// The model page: what is served, its training curve (model.json history) and its evaluation
// report (metrics with 95% intervals and the report's figures), when the model directory has one.
import { getBlob } from "./api.js";
import { clear, fmt, h } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";

export async function modelPage(main, model) {
  const facts = [
    ["model", model.name],
    ["items", model.n_items.toLocaleString()],
    ["users trained on", model.n_trained_users.toLocaleString()],
    ["interests (K)", model.n_interests],
    ["event types", model.event_types.join(", ")],
    ["title field", model.title_field || "–"],
    ["category field", model.category_field || "–"],
    ["prismrec", model.prismrec_version || "–"],
  ];
  const report = model.report;
  clear(
    main,
    h("h1", {}, `Model: ${model.name}`),
    h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))])),
    h("section", { "aria-labelledby": "h-curve" },
      h("h2", { id: "h-curve" }, "Training curve"),
      model.history.length
        ? curves(model.history)
        : h("p", { class: "empty" }, "The model directory has no per-epoch history.")),
    h("section", { "aria-labelledby": "h-report" },
      h("h2", { id: "h-report" }, "Evaluation report"),
      report ? reportView(report) : h("p", { class: "empty" },
        "No evaluation report for this model. Write one with prismrec evaluate --model MODEL_DIR --data DATA --report MODEL_DIR/report, or serve with --report DIR.")),
    h("section", { "aria-labelledby": "h-config" },
      h("h2", { id: "h-config" }, "Configuration"),
      configTable("model", model.model), configTable("training", model.train)),
  );
}

function configTable(name, cfg) {
  return h("details", {},
    h("summary", {}, `${name} settings`),
    h("table", { class: "fields" }, h("tbody", {}, Object.entries(cfg || {}).map(([k, v]) =>
      h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, typeof v === "object" ? JSON.stringify(v) : String(v)))))));
}

// One small line chart per numeric series of the per-epoch records (loss, validation metrics).
function curves(history) {
  const keys = [...new Set(history.flatMap((r) => Object.keys(r)))]
    .filter((k) => k !== "epoch" && k !== "seconds" && history.some((r) => typeof r[k] === "number"));
  return h("div", { class: "charts" }, keys.map((k) => chart(k, history.map((r, i) => [r.epoch ?? i + 1, r[k]]))));
}

function chart(name, points) {
  const pts = points.filter(([, y]) => typeof y === "number" && Number.isFinite(y));
  const W = 260, H = 150, L = 46, R = 8, T = 10, B = 26;
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (y0 === y1) { y0 -= 1e-9 + Math.abs(y0) * 0.05; y1 += 1e-9 + Math.abs(y1) * 0.05; }
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${name} per epoch: from ${fmt(ys[0])} to ${fmt(ys[ys.length - 1])}` });
  svg.append(
    el("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }),
    el("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }),
    text(L - 4, sy(y1) + 4, fmt(y1), "end"), text(L - 4, sy(y0) + 4, fmt(y0), "end"),
    text(L, H - 8, `epoch ${x0}`, "start"), text(W - R, H - 8, `${x1}`, "end"),
    el("polyline", { points: pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" "), class: "line" }),
    ...pts.map(([x, y]) => el("circle", { cx: sx(x).toFixed(1), cy: sy(y).toFixed(1), r: 2.5, class: "pt" })),
  );
  return h("figure", { class: "chart" }, svg, h("figcaption", {}, name));
}

function el(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

function text(x, y, s, anchor) {
  const t = el("text", { x, y, "text-anchor": anchor, class: "tick" });
  t.textContent = s;
  return t;
}

function reportView(report) {
  const ci = report.ci || {};
  const defs = report.definitions || {};
  const row = (m) => h("tr", {},
    h("th", { scope: "row", title: defs[m.split("@")[0]] || "" }, m),
    h("td", {}, fmt(report.metrics[m], 4)),
    h("td", {}, ci[m] ? `[${fmt(ci[m][0], 4)}, ${fmt(ci[m][1], 4)}]` : "–"));
  const table = (names) => h("table", { class: "metrics" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "metric"), h("th", { scope: "col" }, "mean"), h("th", { scope: "col" }, "95% interval"))),
    h("tbody", {}, names.map(row)));
  const others = Object.keys(report.metrics).filter((m) => !report.headline.includes(m)).sort();
  const figures = h("div", { class: "figures" });
  for (const name of report.figures) {
    const img = h("img", { alt: `report figure ${name}`, loading: "lazy" });
    figures.append(h("figure", {}, img, h("figcaption", {}, name)));
    getBlob(`/v1/model/report/${encodeURIComponent(name)}`)
      .then((blob) => (img.src = URL.createObjectURL(blob)))
      .catch((err) => img.replaceWith(h("p", { class: "empty" }, err.message)));
  }
  const download = report.has_html
    ? h("button", { type: "button", onclick: async (e) => {
        const blob = await getBlob("/v1/model/report/report.html");
        const a = h("a", { href: URL.createObjectURL(blob), download: "report.html" });
        document.body.append(a); a.click(); a.remove();
        e.target.textContent = "Downloaded report.html";
      } }, "Download the full report (HTML)")
    : null;
  return h("div", {},
    h("p", { class: "lead" }, `${report.model || ""}: ${report.protocol}`),
    table(report.headline),
    others.length ? h("details", {}, h("summary", {}, `all ${Object.keys(report.metrics).length} metrics`), table(others)) : null,
    figures, download);
}
