// Sparklines: a small inline-SVG line over the last values (no axes; the tile shows the number).
const SVG = "http://www.w3.org/2000/svg";

function node(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

// `values`: numbers oldest first (null: no value then); `label`: what a screen reader hears.
export function sparkline(values, label, { width = 160, height = 36, span = 0 } = {}) {
  const n = Math.max(span, values.length);
  const ys = values.filter((v) => typeof v === "number" && Number.isFinite(v));
  const svg = node("svg", { viewBox: `0 0 ${width} ${height}`, class: "spark", role: "img", "aria-label": label });
  svg.append(node("line", { x1: 0, y1: height - 1, x2: width, y2: height - 1, class: "base" }));
  if (ys.length < 2) return svg;
  const top = Math.max(...ys) || 1;
  const x = (i) => (width * (i + n - values.length)) / Math.max(1, n - 1);
  const y = (v) => height - 2 - ((height - 6) * v) / top;
  // a gap (null) breaks the line into runs
  let run = [];
  const runs = [run];
  values.forEach((v, i) => {
    if (typeof v === "number" && Number.isFinite(v)) run.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
    else if (run.length) runs.push((run = []));
  });
  for (const pts of runs.filter((r) => r.length)) {
    if (pts.length === 1) {
      const [cx, cy] = pts[0].split(",");
      svg.append(node("circle", { cx, cy, r: 1.5, class: "dot" }));
    } else svg.append(node("polyline", { points: pts.join(" "), class: "line" }));
  }
  return svg;
}
