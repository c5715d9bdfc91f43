// DOM helpers: the h() builder, number and date formats, the toast and the key dialog.

import * as i18n from "./i18n.js";

export const $ = (selector) => document.querySelector(selector);

// Builds DOM nodes; text always goes in as text, so names from the CRM never become markup.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name.startsWith("aria-") && typeof value === "boolean") {
      el.setAttribute(name, String(value));  // aria states are "true"/"false", never absent
      continue;
    }
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    // through the CSSOM: the page's Content-Security-Policy refuses style attributes, not this
    else if (name === "style") el.style.cssText = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function percent(p) {
  const digits = p > 0.99 && p < 1 ? 2 : 1;
  return new Intl.NumberFormat(i18n.lang(), {style: "percent", maximumFractionDigits: digits}).format(p);
}

export function signed(weight) {
  return new Intl.NumberFormat(i18n.lang(), {minimumFractionDigits: 1, maximumFractionDigits: 1,
                                             signDisplay: "exceptZero"}).format(weight);
}

export function dateText(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleDateString(i18n.lang());
}

let toastTimer = null;
export function toast(text, kind = "info") {
  const el = $("#toast");
  el.textContent = text;
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 6000);
}

export function askForKey(message = "") {
  const dialog = $("#key-dialog");
  $("#key-error").textContent = message;
  if (!dialog.open) dialog.showModal();
  $("#key-input").focus();
}
