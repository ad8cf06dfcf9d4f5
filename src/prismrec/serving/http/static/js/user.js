// The user page: history timeline, K interest cards, steerable recommendations, post an event.
import { ApiError, enc, getJSON, latest, postJSON } from "./api.js";
import { itemCombo } from "./combo.js";
import {
  announce, categoriesOf, chips, clear, debounce, fmt, h, interestClass, itemLink, showAlert, titleOf, whenOf,
} from "./dom.js";

const HISTORY_PAGE = 15;

export function userPage(main, model, userId) {
  const state = {
    userId, focus: new Set(), mute: new Set(), diversity: 0, k: 10, interests: null, historyLimit: HISTORY_PAGE, typed: false,
  };
  const fresh = { recs: latest(), interests: latest(), history: latest() };

  // ---- the picker ----------------------------------------------------------------------
  const userInput = h("input", {
    id: "user-id", type: "text", list: "user-suggestions", autocomplete: "off", spellcheck: "false",
    value: userId || "", "data-testid": "user-input", placeholder: "a user id, e.g. one from the list",
  });
  const suggestions = h("datalist", { id: "user-suggestions" });
  const suggest = debounce(async () => {
    try {
      const out = await getJSON("/v1/users", { prefix: userInput.value.trim(), limit: 20 });
      clear(suggestions, out.users.map((u) => h("option", { value: u })));
    } catch { /* suggestions are optional */ }
  }, 200);
  userInput.addEventListener("input", suggest);
  userInput.addEventListener("focus", suggest, { once: true });
  const picker = h(
    "form",
    { class: "picker", onsubmit: (e) => { e.preventDefault(); go(userInput.value.trim()); } },
    h("label", { for: "user-id", text: "User" }), userInput, suggestions,
    h("button", { type: "submit", "data-testid": "user-open" }, "Open"),
  );

  function go(id) {
    if (!id) return showAlert("type a user id first");
    location.hash = `#/user/${enc(id)}`;
  }

  if (!userId) {
    clear(main, h("h1", {}, "User"), picker,
      h("p", { class: "lead" }, "Pick a user to see their history, their interests and what the model recommends, and to steer it."));
    return;
  }

  // ---- the page's sections ---------------------------------------------------------------
  const summary = h("p", { class: "lead" });
  const cards = h("div", { class: "cards", id: "interests" });
  const recList = h("ol", { class: "recs", id: "recs", "aria-live": "polite", "aria-busy": "false" });
  const recNote = h("p", { class: "hint" });
  const slider = h("input", {
    id: "diversity", type: "range", min: "0", max: "1", step: "0.1", value: "0",
    "data-testid": "diversity-slider", "aria-describedby": "diversity-help",
  });
  const sliderOut = h("output", { for: "diversity", id: "diversity-value" }, "0.0");
  const kSelect = h("select", { id: "k" }, [5, 10, 20, 50].map((k) => h("option", { value: k, selected: k === 10 }, k)));
  const timeline = h("ol", { class: "timeline", id: "history" });
  const historyNote = h("p", { class: "hint" });
  const moreButton = h("button", { type: "button", class: "toggle", hidden: true, onclick: () => {
    state.historyLimit += HISTORY_PAGE;
    loadHistory();
  } }, "Show older events");

  const reloadRecs = debounce(() => loadRecs(), 150);
  slider.addEventListener("input", () => {
    state.diversity = Number(slider.value);
    sliderOut.textContent = state.diversity.toFixed(1);
    reloadRecs();
  });
  kSelect.addEventListener("change", () => { state.k = Number(kSelect.value); loadRecs(); });

  let setEventType = () => {};
  const eventForm = buildEventForm();

  clear(
    main,
    picker,
    h("h1", {}, `User ${userId}`),
    summary,
    h("div", { class: "layout" },
      h("div", { class: "col" },
        h("section", { "aria-labelledby": "h-interests" },
          h("h2", { id: "h-interests" }, "Interests"),
          h("p", { class: "hint" }, "Each card is one interest vector: its label comes from the categories of its nearest items. Focus boosts it, mute leaves its items out."),
          cards),
        h("section", { "aria-labelledby": "h-recs" },
          h("h2", { id: "h-recs" }, "Recommendations"),
          h("div", { class: "controls" },
            h("div", { class: "control" },
              h("label", { for: "diversity" }, "Diversity ", sliderOut), slider,
              h("span", { class: "hint", id: "diversity-help" }, "0: by score; 1: most diverse (MMR re-ranking)")),
            h("div", { class: "control" }, h("label", { for: "k", text: "Items" }), kSelect)),
          recNote, recList)),
      h("div", { class: "col" },
        h("section", { "aria-labelledby": "h-event" },
          h("h2", { id: "h-event" }, "Post an event"), eventForm),
        h("section", { "aria-labelledby": "h-history" },
          h("h2", { id: "h-history" }, "History"), historyNote, timeline, moreButton))),
  );

  // ---- interests -------------------------------------------------------------------------
  async function loadInterests() {
    let out;
    try {
      out = await fresh.interests(getJSON(`/v1/users/${enc(userId)}/interests`));
    } catch (err) {
      if (err.status === -1) return;
      state.interests = null;
      const msg = err.status === 404 ? "No interests yet: this user has no events. Post one to start." : err.message;
      clear(cards, h("p", { class: "empty" }, msg));
      return;
    }
    state.interests = out.interests;
    const held = out.interests.filter((it) => it.active !== false).length;
    summary.textContent = `${out.n_events} events in the model's window · ${held} interests`;
    clear(cards, out.interests.map((it, i) => interestCard(it, i)));
  }

  function interestCard(it, i) {
    if (it.active === false) return null; // an interest this user does not have (dynamic K)
    const focus = state.focus.has(i);
    const mute = state.mute.has(i);
    const bar = h("span", { class: "bar-fill" });
    bar.style.width = `${Math.round(it.weight * 100)}%`;
    return h(
      "article",
      { class: `card ${interestClass(i)}${mute ? " muted" : ""}`, "data-testid": "interest-card", dataset: { interest: i }, "aria-labelledby": `int-${i}` },
      h("h3", { id: `int-${i}` }, h("span", { class: "dot", "aria-hidden": "true" }),
        it.term === "short" ? `Interest ${i + 1}: right now` : `Interest ${i + 1}`),
      h("p", { class: "label" }, it.label || "(no category label)"),
      h("div", { class: "bar", role: "img", "aria-label": `weight ${Math.round(it.weight * 100)} percent` }, bar),
      h("p", { class: "hint" }, `weight ${fmt(it.weight, 2)}`),
      h("ul", { class: "top-items", "aria-label": `nearest items of interest ${i + 1}` },
        it.top_items.map((item) => h("li", {}, itemLink(item, model)))),
      h("div", { class: "toggles" },
        toggle("Focus", i, focus, `focus-${i}`, () => flip(state.focus, i, state.mute)),
        toggle("Mute", i, mute, `mute-${i}`, () => flip(state.mute, i, state.focus), "mute-toggle")),
    );
  }

  function toggle(text, i, pressed, id, onclick, testid) {
    return h("button", {
      type: "button", id, class: "toggle", "aria-pressed": pressed ? "true" : "false",
      "aria-label": `${text} interest ${i + 1}`, "data-testid": testid, onclick,
    }, text);
  }

  function flip(set, i, other) {
    if (set.has(i)) set.delete(i);
    else { set.add(i); other.delete(i); }
    if (state.interests) clear(cards, state.interests.map((it, j) => interestCard(it, j)));
    const btn = document.getElementById(`${set === state.mute ? "mute" : "focus"}-${i}`);
    btn?.focus();
    loadRecs();
  }

  // ---- recommendations -------------------------------------------------------------------
  async function loadRecs() {
    recList.setAttribute("aria-busy", "true");
    let out;
    try {
      out = await fresh.recs(getJSON(`/v1/users/${enc(userId)}/recommendations`, {
        k: state.k, diversity: state.diversity, explain: true, fields: "all",
        focus: [...state.focus], mute: [...state.mute],
      }));
    } catch (err) {
      if (err.status === -1) return;
      recList.setAttribute("aria-busy", "false");
      clear(recList, h("li", { class: "empty" }, err.message));
      return;
    }
    recNote.textContent = out.source === "popular"
      ? `New user: popular items${out.lifted_by && out.lifted_by.length ? ` lifted by ${out.lifted_by.join(", ")}` : ""}.`
      : out.items.length ? "" : "Nothing to show: every interest is muted.";
    clear(recList, out.items.map((item, rank) => recItem(item, rank)));
    recList.setAttribute("aria-busy", "false");
    recList.dataset.version = String(Number(recList.dataset.version || 0) + 1);
    announce(`${out.items.length} recommendations`);
  }

  function recItem(item, rank) {
    const ex = item.explanation;
    const interest = item.interest;
    const cats = categoriesOf(item, model);
    return h(
      "li",
      { class: `rec ${interest === undefined ? "" : interestClass(interest)}`, "data-testid": "rec-item", dataset: { itemId: item.item_id, interest: interest ?? "" } },
      h("span", { class: "rank", "aria-hidden": "true" }, rank + 1),
      h("div", { class: "rec-body" },
        itemLink(item, model, { class: "rec-title" }),
        h("div", { class: "meta" },
          item.new ? h("span", { class: "new-badge", "data-testid": "new-badge", title: "No event in the model's training data: shown for its content" }, "New") : null,
          chips(cats.slice(0, 4)), h("span", { class: "score" }, `score ${fmt(item.score, 2)}`)),
        interest === undefined ? null : h("p", { class: "why" },
          h("span", { class: "badge" }, `Interest ${interest + 1}${ex && ex.label ? `: ${ex.label}` : ""}`),
          ex && ex.events && ex.events.length
            ? h("span", {}, " because of ", ex.events.map((e, j) => h("span", {}, j ? ", " : "", itemLink(e, model), h("span", { class: "hint" }, ` (${e.events_ago} ago)`))))
            : null)),
    );
  }

  // ---- history ---------------------------------------------------------------------------
  async function loadHistory() {
    let out;
    try {
      out = await fresh.history(getJSON(`/v1/users/${enc(userId)}/history`, { limit: state.historyLimit }));
    } catch (err) {
      if (err.status === -1) return;
      historyNote.textContent = err.status === 404 ? "No events yet." : err.message;
      clear(timeline);
      moreButton.hidden = true;
      return;
    }
    const live = out.events.filter((e) => e.source === "live").length;
    historyNote.textContent = `Newest first: ${live ? `${live} live events shown, then ` : ""}${out.n_training_events} from training (hour and weekday as the model kept them).`;
    moreButton.hidden = !out.more;
    // behave as this user last did, unless the form's behaviour was chosen by hand
    if (!state.typed && out.events.length) setEventType(out.events[0].event_type);
    clear(timeline, out.events.map((e) => h(
      "li", { class: `event ${e.source}`, dataset: { itemId: e.item_id } },
      itemLink(e, model, { class: "event-title" }),
      h("div", { class: "meta" },
        h("span", { class: "chip strong" }, e.event_type || "unknown"),
        h("span", { class: `chip src-${e.source}` }, e.source),
        chips(Object.entries(e.context || {}).map(([k, v]) => `${k}: ${v}`))),
      h("p", { class: "hint" }, whenOf(e)),
    )));
  }

  // ---- post an event ---------------------------------------------------------------------
  function buildEventForm() {
    const combo = itemCombo({ label: "Item", model, testid: "event-item-input" });
    const types = model.event_types || [];
    const typeSelect = h("select", { id: "event-type", onchange: () => (state.typed = true) }, types.map((t) => h("option", { value: t }, t)));
    setEventType = (t) => { if (types.includes(t)) typeSelect.value = t; };
    const result = h("p", { class: "hint", id: "event-result", role: "status" });
    const form = h(
      "form",
      { class: "event-form", onsubmit: async (e) => {
        e.preventDefault();
        const item = combo.picked;
        if (!item) { result.textContent = "Pick an item from the list first (type part of its title)."; combo.input.focus(); return; }
        const submit = form.querySelector("button[type=submit]");
        submit.disabled = true;
        try {
          await postJSON("/v1/events", { events: [{ user_id: userId, item_id: item.item_id, event_type: typeSelect.value }] });
          result.textContent = `Posted: ${typeSelect.value} on “${titleOf(item, model)}”. Interests and recommendations updated.`;
          combo.reset();
          await Promise.all([loadInterests(), loadRecs(), loadHistory()]);
        } catch (err) {
          result.textContent = err.status === 403 ? `${err.message} (posting needs a key with the write role)` : err.message;
        } finally {
          submit.disabled = false;
        }
      } },
      combo.element,
      h("div", { class: "row" },
        h("label", { for: "event-type", text: "Behaviour" }), typeSelect,
        h("button", { type: "submit", "data-testid": "event-submit" }, "Post event")),
      result,
    );
    return form;
  }

  loadInterests().then(loadRecs);
  loadHistory();
  return { state };
}

export { ApiError };
