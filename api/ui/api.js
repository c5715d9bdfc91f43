// The public /v1 API with the account's key: fetch wrapper, problem+json errors, signing in.

import {t} from "./i18n.js";
import {KEY_STORAGE, ROOT, state} from "./state.js";
import {$, askForKey, toast} from "./dom.js";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export async function api(path, {method = "GET", body} = {}) {
  const headers = {"Authorization": `Bearer ${state.key || ""}`, "Accept": "application/json"};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(new URL(path.replace(/^\//, ""), ROOT), {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    // problem+json (RFC 9457): `detail`, and for input problems `errors` naming each field
    const detail = data && data.errors && data.errors.length
      ? data.errors.map((e) => (e.field ? `${e.field}: ${e.reason}` : e.reason)).join("; ")
      : (data && data.detail) || response.statusText;
    if (response.status === 401) askForKey(t("key.bad", {detail}));
    throw new ApiError(response.status, detail);
  }
  return data;
}

export function query(params) {
  const parts = Object.entries(params).filter(([, v]) => v !== "" && v !== null && v !== undefined);
  return parts.length ? "?" + new URLSearchParams(parts).toString() : "";
}

export function reportError(error) {
  if (error instanceof ApiError && error.status === 401) return;  // the key dialog says it
  toast(t("error", {detail: error.message}), "error");
}

// --- the key -----------------------------------------------------------------------------------------

export function keyFromFragment() {
  // #key=... lets a link open the page signed in; the fragment never reaches a server or a log
  const match = window.location.hash.match(/(?:^#|&)key=([^&]+)/);
  if (!match) return null;
  history.replaceState(null, "", window.location.pathname + window.location.search);
  return decodeURIComponent(match[1]);
}

export async function useKey(key) {
  if (!/^[\x21-\x7e]+$/.test(key.trim())) {
    // an HTTP header carries only visible ASCII (RFC 9110 §5.5); fetch would throw on anything else
    askForKey(t("key.bad", {detail: t("key.ascii")}));
    return false;
  }
  state.key = key.trim();
  const response = await fetch(new URL("v1/whoami", ROOT), {headers: {"Authorization": `Bearer ${state.key}`}});
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    sessionStorage.removeItem(KEY_STORAGE);
    askForKey(t("key.bad", {detail: data.detail || response.statusText}));
    return false;
  }
  sessionStorage.setItem(KEY_STORAGE, state.key);
  const dialog = $("#key-dialog");
  if (dialog.open) dialog.close();
  return true;
}
