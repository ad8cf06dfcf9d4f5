// An accessible combobox that finds items by title (GET /v1/items?q=): type, then pick with
// the arrow keys and Enter, or with the mouse. ARIA 1.2 combobox pattern with a listbox popup.
import { getJSON, latest } from "./api.js";
import { categoriesOf, clear, debounce, h, titleOf } from "./dom.js";

let seq = 0;

export function itemCombo({ label, model, testid, onPick, placeholder = "type part of a title" }) {
  const id = `combo-${++seq}`;
  const input = h("input", {
    id,
    type: "text",
    role: "combobox",
    "aria-autocomplete": "list",
    "aria-expanded": "false",
    "aria-controls": `${id}-list`,
    autocomplete: "off",
    spellcheck: "false",
    placeholder,
    "data-testid": testid,
  });
  const list = h("ul", { id: `${id}-list`, role: "listbox", class: "options", "aria-label": label, hidden: true });
  const hint = h("span", { class: "hint", id: `${id}-hint` });
  input.setAttribute("aria-describedby", hint.id);
  const wrap = h("div", { class: "combo" }, h("label", { for: id, text: label }), input, list, hint);
  let options = [];
  let active = -1;
  let picked = null;
  const fresh = latest();

  function open(flag) {
    list.hidden = !flag;
    input.setAttribute("aria-expanded", flag ? "true" : "false");
    if (!flag) setActive(-1);
  }

  function setActive(i) {
    active = i;
    [...list.children].forEach((li, j) => li.setAttribute("aria-selected", j === i ? "true" : "false"));
    if (i >= 0 && list.children[i]) {
      input.setAttribute("aria-activedescendant", list.children[i].id);
      list.children[i].scrollIntoView({ block: "nearest" });
    } else input.removeAttribute("aria-activedescendant");
  }

  function pick(item) {
    picked = item;
    input.value = titleOf(item, model);
    hint.textContent = `item ${item.item_id}`;
    open(false);
    onPick?.(item);
  }

  const search = debounce(async () => {
    const q = input.value.trim();
    if (!q) return open(false);
    let found;
    try {
      found = await fresh(getJSON("/v1/items", { q, limit: 8, fields: "all" }));
    } catch (err) {
      if (err.status === -1) return;
      hint.textContent = err.message;
      return open(false);
    }
    options = found.items;
    clear(
      list,
      options.map((item, i) =>
        h(
          "li",
          {
            id: `${id}-opt-${i}`,
            role: "option",
            "aria-selected": "false",
            dataset: { itemId: item.item_id },
            onmousedown: (e) => e.preventDefault(), // keep the focus in the input
            onclick: () => pick(item),
          },
          h("span", { class: "opt-title", text: titleOf(item, model) }),
          h("span", { class: "opt-meta", text: [...categoriesOf(item, model).slice(0, 3), `id ${item.item_id}`].join(" · ") }),
        ),
      ),
    );
    hint.textContent = options.length ? `${options.length} matches: arrow keys to choose, Enter to pick` : "no item has that in its title";
    open(options.length > 0);
    setActive(-1);
  }, 180);

  input.addEventListener("input", () => {
    picked = null;
    search();
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" && options.length) {
      e.preventDefault();
      open(true);
      setActive(Math.min(active + 1, options.length - 1));
    } else if (e.key === "ArrowUp" && options.length) {
      e.preventDefault();
      setActive(Math.max(active - 1, 0));
    } else if (e.key === "Enter" && !list.hidden && active >= 0) {
      e.preventDefault();
      pick(options[active]);
    } else if (e.key === "Escape") {
      open(false);
    }
  });
  input.addEventListener("blur", () => setTimeout(() => open(false), 150));

  return {
    element: wrap,
    input,
    get picked() {
      return picked;
    },
    reset() {
      picked = null;
      input.value = "";
      hint.textContent = "";
      open(false);
    },
  };
}
