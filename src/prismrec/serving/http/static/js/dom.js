// Small DOM helpers: elements are built with textContent only, so catalogue text is never HTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
  return el;
}

export function announce(text) {
  const status = document.getElementById("status");
  status.textContent = "";
  setTimeout(() => (status.textContent = text), 30);
}

export function showAlert(text) {
  const alert = document.getElementById("alert");
  alert.textContent = text || "";
  alert.hidden = !text;
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// What a person calls an item: its title field, else its id.
export function titleOf(item, model) {
  const f = item.fields || {};
  const t = model && model.title_field ? f[model.title_field] : undefined;
  return t ? String(t) : `item ${item.item_id}`;
}

export function categoriesOf(item, model) {
  const f = item.fields || {};
  const c = model && model.category_field ? f[model.category_field] : undefined;
  if (c === undefined || c === null) return [];
  return Array.isArray(c) ? c.map(String) : [String(c)];
}

export function itemLink(item, model, attrs = {}) {
  return h("a", { href: `#/item/${encodeURIComponent(item.item_id)}`, ...attrs }, titleOf(item, model));
}

export function chips(values, cls = "chip") {
  return h("span", { class: "chips" }, values.map((v) => h("span", { class: cls }, v)));
}

export function fmt(x, digits = 3) {
  return typeof x === "number" && Number.isFinite(x) ? x.toFixed(digits) : "–";
}

const WEEKDAYS = ["", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

export function whenOf(event) {
  if (event.timestamp !== null && event.timestamp !== undefined) {
    return new Date(event.timestamp * 1000).toLocaleString();
  }
  const parts = [];
  if (event.weekday) parts.push(WEEKDAYS[event.weekday] || "");
  if (event.hour !== null && event.hour !== undefined) parts.push(`${String(event.hour).padStart(2, "0")}:00 UTC`);
  return parts.join(", ");
}

export function interestClass(i) {
  return `i${i % 8}`;
}
