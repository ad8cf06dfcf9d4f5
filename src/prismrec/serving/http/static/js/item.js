// The item page: the item's catalogue fields and its nearest items in the model's item space.
import { enc, getJSON } from "./api.js";
import { itemCombo } from "./combo.js";
import { categoriesOf, chips, clear, fmt, h, itemLink, titleOf } from "./dom.js";

export async function itemPage(main, model, itemId) {
  const combo = itemCombo({
    label: "Find an item",
    model,
    testid: "item-search",
    onPick: (item) => (location.hash = `#/item/${enc(item.item_id)}`),
  });
  const head = [h("h1", {}, "Item"), h("div", { class: "picker" }, combo.element)];
  if (!itemId) {
    clear(main, ...head, h("p", { class: "lead" }, "Find an item by title to see its fields and its nearest items."));
    return;
  }
  clear(main, ...head, h("p", { class: "lead" }, "Loading…"));
  let item, similar;
  try {
    [item, similar] = await Promise.all([
      getJSON(`/v1/items/${enc(itemId)}`),
      getJSON(`/v1/items/${enc(itemId)}/similar`, { k: 12, fields: "all" }).catch((err) => ({ error: err.message })),
    ]);
  } catch (err) {
    clear(main, ...head, h("p", { class: "empty" }, err.message));
    return;
  }
  const rows = Object.entries(item.fields).map(([name, value]) =>
    h("tr", {}, h("th", { scope: "row" }, name), h("td", {}, Array.isArray(value) ? value.join(", ") : value ?? "–")),
  );
  clear(
    main,
    ...head,
    h("h1", { class: "item-title" }, titleOf(item, model)),
    h("p", { class: "lead" }, `id ${item.item_id}`, item.live ? "" : " · removed: no longer recommended"),
    h("div", { class: "layout" },
      h("section", { class: "col", "aria-labelledby": "h-fields" },
        h("h2", { id: "h-fields" }, "Fields"),
        h("table", { class: "fields" }, h("tbody", {}, rows))),
      h("section", { class: "col", "aria-labelledby": "h-similar" },
        h("h2", { id: "h-similar" }, "Nearest items"),
        h("p", { class: "hint" }, "By the inner product of the model's item vectors (content tower and behaviour)."),
        similar.error
          ? h("p", { class: "empty" }, similar.error)
          : h("ol", { class: "recs", "data-testid": "similar-list" }, similar.items.map((s) =>
              h("li", { class: "rec", "data-testid": "similar-item" },
                h("div", { class: "rec-body" },
                  itemLink(s, model, { class: "rec-title" }),
                  h("div", { class: "meta" }, chips(categoriesOf(s, model).slice(0, 4)), h("span", { class: "score" }, `score ${fmt(s.score, 3)}`)))))))),
  );
}
