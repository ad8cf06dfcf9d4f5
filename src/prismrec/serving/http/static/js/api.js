// The service's /v1 API with the key the user typed (sessionStorage: this tab only, never a URL).
const KEY = "prismrec.key";
const BASE = new URL("../", document.baseURI); // the page lives at /ui/, the API at /v1/

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export function getKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

function url(path, params) {
  const u = new URL(path.replace(/^\//, ""), BASE);
  for (const [name, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === "") continue;
    for (const v of Array.isArray(value) ? value : [value]) u.searchParams.append(name, String(v));
  }
  return u;
}

async function call(path, { method = "GET", params, body, accept = "application/json" } = {}) {
  const headers = { Accept: accept };
  const key = getKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(url(path, params), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch (err) {
    throw new ApiError(0, `the service did not answer (${err.message})`);
  }
  if (!res.ok) {
    let detail = res.statusText;
    try {
      detail = (await res.json()).detail || detail;
    } catch {
      /* not JSON */
    }
    if (res.status === 401) document.dispatchEvent(new CustomEvent("prismrec:unauthorised"));
    throw new ApiError(res.status, `${res.status}: ${detail}`);
  }
  return res;
}

export async function getJSON(path, params) {
  return (await call(path, { params })).json();
}

export async function postJSON(path, body) {
  return (await call(path, { method: "POST", body })).json();
}

export async function getBlob(path) {
  return (await call(path, { accept: "*/*" })).blob();
}

export const enc = encodeURIComponent;

// Answers to a view's request that a newer request of the same view overtook are dropped.
export function latest() {
  let n = 0;
  return async (promise) => {
    const mine = ++n;
    const out = await promise;
    if (mine !== n) throw new ApiError(-1, "superseded");
    return out;
  };
}
