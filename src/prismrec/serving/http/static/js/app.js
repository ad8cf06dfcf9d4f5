// The page's entry point: the key form, the hash router (#/user/ID, #/item/ID, #/model, #/ops).
import { getJSON, getKey, setKey } from "./api.js";
import { clear, h, showAlert } from "./dom.js";
import { itemPage } from "./item.js";
import { modelPage } from "./model.js";
import { opsPage, stopOps } from "./ops.js";
import { userPage } from "./user.js";

const main = document.getElementById("main");
const keyForm = document.getElementById("key-form");
const keyInput = document.getElementById("api-key");
const forget = document.getElementById("key-forget");
let model = null; // GET /v1/model, read once per key

function keyState() {
  const has = Boolean(getKey());
  forget.hidden = !has;
  keyInput.placeholder = has ? "key set (type to replace)" : "paste a key";
  keyForm.classList.toggle("has-key", has);
}

keyForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const key = keyInput.value.trim();
  if (!key) return keyInput.focus();
  setKey(key);
  keyInput.value = "";
  model = null;
  keyState();
  showAlert("");
  route();
});

forget.addEventListener("click", () => {
  setKey("");
  model = null;
  keyState();
  keyInput.focus();
  route();
});

document.addEventListener("prismrec:unauthorised", () => {
  showAlert(getKey() ? "The key was refused (invalid or revoked): enter another." : "Enter an API key to use the page (prismrec keys create --role read).");
  keyForm.classList.add("needs-key");
  keyInput.focus();
});

function parse() {
  const [, page = "user", ...rest] = location.hash.replace(/^#/, "").split("/");
  const id = rest.length ? decodeURIComponent(rest.join("/")) : "";
  return { page, id };
}

let routing = 0; // a newer navigation wins over an older one still waiting for /v1/model

async function route() {
  const mine = ++routing;
  const { page, id } = parse();
  for (const a of document.querySelectorAll("nav a[data-page]")) {
    if (a.dataset.page === page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  stopOps();
  if (page === "ops") { // needs no model: it shows the service while it loads, too
    keyForm.classList.remove("needs-key");
    showAlert("");
    opsPage(main);
    document.title = "prismrec · operations";
    return;
  }
  if (!model) {
    try {
      model = await getJSON("/v1/model");
    } catch (err) {
      if (mine !== routing) return;
      clear(main, h("h1", {}, "prismrec"), h("p", { class: "empty" }, err.message));
      return;
    }
  }
  if (mine !== routing) return;
  keyForm.classList.remove("needs-key");
  showAlert("");
  if (page === "item") await itemPage(main, model, id);
  else if (page === "model") await modelPage(main, model);
  else userPage(main, model, id);
  document.title = `prismrec · ${page}${id ? ` ${id}` : ""}`;
}

window.addEventListener("hashchange", () => {
  route();
  main.focus({ preventScroll: true });
});
keyState();
route();
