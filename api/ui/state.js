// What the page holds between renders, and the constants every part shares.

export const KEY_STORAGE = "crm-dedup.key";     // sessionStorage: the key lives as long as the tab
export const LANG_STORAGE = "crm-dedup.lang";   // localStorage: a language choice is kept across visits
export const PAGE_SIZE = 50;
export const POLL_MS = 250;
export const SINGULAR = {contacts: "contact", companies: "company"};
export const PLURAL = {contact: "contacts", company: "companies"};
// the page lives at <root>/ui/, the API at <root>/v1/: relative, so a path prefix in front keeps working
export const ROOT = new URL("../", window.location.href);

export const state = {
  key: null,
  tab: "review",
  filters: {entity: "", status: "open", min_score: "", max_score: "", needs_review: ""},
  groups: [],
  nextCursor: null,
  selected: -1,
  detail: null,
  records: {},
  pairIndex: 0,
  memberId: null,
  survivor: null,
  undo: [],
  detailToken: 0,
  listToken: 0,
  scanning: false,
  lastScan: null,
};
