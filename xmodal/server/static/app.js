// xmodal web page: plain JS, no dependencies. Every request carries the API key (when the server
// requires one); thumbnails are fetched with it and shown through blob: URLs.
"use strict";

const KEY_STORE = "xmodal.key";
const $ = (sel) => document.querySelector(sel);
const state = { key: sessionStorage.getItem(KEY_STORE) || "", who: null, kind: "", file: null,
                last: null, blobs: [], current: null, model: "", modelReady: true, ocrFloor: 0 };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  if (state.key) headers["X-API-Key"] = state.key;
  const res = await fetch(path, Object.assign({}, opts, { headers }));
  if (res.status === 401) { showLogin(state.key ? "That key was not accepted." : ""); }
  if (!res.ok) {
    let code = "http_error", message = res.statusText;
    try { const body = await res.json(); code = body.error.code; message = body.error.message; } catch (_) { /* not JSON */ }
    throw new ApiError(res.status, code, message);
  }
  return res;
}

async function blobUrl(path) {
  const res = await api(path);
  const url = URL.createObjectURL(await res.blob());
  state.blobs.push(url);
  return url;
}

function setStatus(text, isError = false) {
  const s = $("#status");
  s.textContent = text;
  s.classList.toggle("error", isError);
}

// --- login -----------------------------------------------------------------------------
function showLogin(message) {
  $("#login").hidden = false;
  $("#login-error").textContent = message || "";
  $("#login-key").focus();
}

async function checkKey() {
  try {
    const res = await api("/v1/whoami");
    state.who = await res.json();
    $("#login").hidden = true;
    const who = $("#who");
    who.hidden = !state.who.auth_required;
    who.textContent = `${state.who.namespace} · sign out`;
    $("#upload-label").hidden = !state.who.scopes.includes("write");
    $("#q").focus();
    describeLibrary();
    return true;
  } catch (err) {
    if (err.status !== 401) setStatus(`Cannot reach the server: ${err.message}`, true);
    return false;
  }
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  state.key = $("#login-key").value.trim();
  sessionStorage.setItem(KEY_STORE, state.key);
  await checkKey();
});

$("#who").addEventListener("click", () => {
  sessionStorage.removeItem(KEY_STORE);
  state.key = "";
  $("#results").replaceChildren();
  showLogin("Signed out.");
});

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

// What the library holds (counts by kind, the model), shown until the first search.
async function describeLibrary() {
  try {
    const info = await (await api("/v1/media/info")).json();
    state.model = info.model || "";
    state.modelReady = info.model_ready !== false;
    state.ocrFloor = Number(info.ocr_min_confidence) || 0;
    const parts = Object.entries(info.by_kind || {}).filter(([, n]) => n > 0).map(([k, n]) => plural(n, k));
    setStatus(`${plural(info.items, "item")} to search${parts.length ? ` (${parts.join(", ")})` : ""}.`);
    const summary = $("#library-summary");
    summary.replaceChildren(
      ...Object.entries(info.by_kind || {}).filter(([, n]) => n > 0).map(([k, n]) =>
        el("span", { class: "count", "data-kind": k }, icon(k), el("strong", { text: String(n) }), ` ${k}${n === 1 ? "" : "s"}`)),
      state.model ? el("span", { class: "model", text: `model ${state.model}${state.modelReady ? "" : " (loads on the first search)"}` }) : null);
    summary.hidden = false;
  } catch (err) {
    if (err.status === 404) {
      setStatus(state.who.scopes.includes("write") ? "This library is empty: add files to get started."
                                                    : "This library is empty.");
    }
  }
}

// --- searching -------------------------------------------------------------------------
function kindParams(params) {
  if (state.kind) params.append("kind", state.kind);
  return params;
}

async function runSearch() {
  const text = $("#q").value.trim();
  if (!text && !state.file) { setStatus("Type a description or drop an image or audio clip."); return; }
  $("#answer").hidden = true;
  // A cold model takes seconds to load: say so, with a spinner, instead of a silent wait.
  const cold = !state.modelReady;
  setStatus(cold ? `Loading the model${state.model ? ` ${state.model}` : ""}… the first search takes a few seconds.`
                 : "Searching…");
  $("#status").classList.toggle("busy", true);
  try {
    let res;
    if (state.file) {
      const form = new FormData();  // a query file replaces the text (the API takes one or the other)
      form.append("file", state.file, state.file.name);
      if (state.kind) form.append("kind", state.kind);
      res = await api("/v1/media/search", { method: "POST", body: form });
    } else {
      const params = kindParams(new URLSearchParams({ q: text }));
      if (text.endsWith("?")) ask(text);
      res = await api(`/v1/media/search?${params}`);
    }
    const body = await res.json();
    const heard = body.query_text ? ` (heard “${body.query_text}”)` : "";
    state.last = { label: state.file ? `“${state.file.name}”${heard}` : `“${text}”` };
    state.modelReady = true;
    render(body.results, body.took_ms, state.last.label);
  } catch (err) {
    if (err.status !== 401) setStatus(err.message, true);
  } finally {
    $("#status").classList.remove("busy");
  }
}

// A question (ending in "?") also gets an extractive answer with numbered sources.
async function ask(question) {
  const box = $("#answer");
  try {
    const body = { question };
    if (state.kind) body.kind = [state.kind];
    const res = await api("/v1/apps/ask", { method: "POST", headers: { "Content-Type": "application/json" },
                                            body: JSON.stringify(body) });
    const a = await res.json();
    box.classList.toggle("not-found", !a.found);
    // Only text answers; a picture that matches is shown as the closest evidence instead.
    $("#answer-text").textContent = a.found ? a.answer
      : `No confident answer in this library${a.evidence.length ? "; the closest evidence:" : "."}`;
    $("#answer-confidence").textContent = `confidence ${Math.round(a.confidence * 100)}%`;
    const list = $("#answer-sources");
    list.replaceChildren();
    for (const n of (a.found ? a.citations : a.evidence.slice(0, 1).map((_, i) => i + 1))) {
      const e = a.evidence[n - 1];
      if (!e) continue;
      const where = e.time != null ? ` at ${fmtTime(e.time)}` : (e.page != null ? ` p.${e.page}` : "");
      list.append(el("li", { text: `${e.name}${where}` }));
    }
    box.hidden = false;
  } catch (_) { box.hidden = true; }
}

async function moreLikeThis(item) {
  $("#details").close();
  setStatus("Finding similar items…");
  try {
    const params = kindParams(new URLSearchParams({ ref: item.ref }));
    const res = await api(`/v1/media/similar?${params}`);
    const body = await res.json();
    render(body.results, body.took_ms, `items like ${item.name}`);
  } catch (err) {
    if (err.status !== 401) setStatus(err.message, true);
  }
}

function fmtTime(t) {
  const s = Math.max(0, Math.round(Number(t)));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// OCR text worth quoting: read with at least the ingest floor (when the row says how sure it was),
// at least half of its tokens words (2+ letters, mostly letters) and one word of 3+ letters. Texture
// read as text ("Bt", "| a |") stays searchable but is never printed as a caption.
function readableOcr(text, confidence) {
  if (typeof confidence === "number" && confidence < state.ocrFloor) return false;
  const tokens = String(text || "").split(/\s+/).filter(Boolean);
  const letters = (t) => (t.match(/\p{L}/gu) || []).length;
  const words = tokens.filter((t) => letters(t) >= 2 && letters(t) * 2 >= t.length);
  return words.length > 0 && words.length * 2 >= tokens.length && words.some((w) => letters(w) >= 3);
}

// An image's only text is what OCR read in it, whatever list ranked it first.
function evidenceNode(ev, kind) {
  if (!ev) return null;
  const fromOcr = ev.match === "ocr" || kind === "image";
  const text = ev.text && (!fromOcr || readableOcr(ev.text, ev.confidence)) ? ev.text : "";
  if (ev.time == null && !text) return null;
  const node = el("div", { class: "evidence" });
  if (ev.time != null) node.append(el("span", { class: "time", text: fmtTime(ev.time) }));
  if (text) node.append(document.createTextNode(text));
  return node;
}

// One number a person can read, the one results are sorted by: the relevance (0..1). Older
// servers without it: the best raw similarity.
function similarity(item) {
  if (typeof item.relevance === "number") return `${Math.round(item.relevance * 100)}% match`;
  const raw = Object.entries(item.scores || {}).filter(([name]) => name.includes("->")).map(([, v]) => v);
  return raw.length ? `${Math.round(Math.max(...raw) * 100)}% match` : item.score.toFixed(3);
}

const HIDDEN_FIELDS = new Set(["hash", "mtime", "name", "kind", "text", "time", "end"]);

function describeField(key, value) {
  if (key === "size") return `${(Number(value) / 1024).toFixed(1)} KB`;
  if (key === "duration") return fmtTime(value);
  return String(value);
}

// Inline SVG icons (24x24 paths): emoji need a font the machine may not have.
const ICONS = {
  image: "M5 4h14a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2Zm0 2v9.6l3.3-3.3a1 1 0 0 1 1.4 0L13 15.6l2.3-2.3a1 1 0 0 1 1.4 0L19 15.6V6H5Zm10 1.5a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3Z",
  text: "M6 2h8l6 6v12a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2Zm7 1.5V9h5.5L13 3.5ZM8 12v2h8v-2H8Zm0 4v2h8v-2H8Z",
  audio: "M12 3a9 9 0 0 0-9 9v6a3 3 0 0 0 3 3h2v-8H5v-1a7 7 0 0 1 14 0v1h-3v8h2a3 3 0 0 0 3-3v-6a9 9 0 0 0-9-9Z",
  video: "M4 5h11a2 2 0 0 1 2 2v2.5l4-2.5v10l-4-2.5V17a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2Z",
  other: "M12 7a5 5 0 1 1 0 10 5 5 0 0 1 0-10Z",
};
const SVG_NS = "http://www.w3.org/2000/svg";

function icon(kind) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", ICONS[kind] || ICONS.other);
  svg.append(path);
  const span = el("span", { class: "glyph", "data-icon": ICONS[kind] ? kind : "other" });
  span.append(svg);
  return span;
}

function render(results, tookMs, label) {
  for (const url of state.blobs) URL.revokeObjectURL(url);
  state.blobs = [];
  const grid = $("#results");
  grid.replaceChildren();
  document.body.classList.toggle("has-results", results.length > 0);
  setStatus(`${results.length} result${results.length === 1 ? "" : "s"} for ${label} · ${Math.round(tookMs)} ms`);
  if (!results.length) { grid.append(el("p", { class: "empty", text: "No good match. Try other words or another kind." })); return; }
  results.forEach((item, i) => {
    const thumb = el("div", { class: "thumb" });
    if (item.kind === "image" || item.kind === "video") {
      const img = el("img", { alt: item.name, loading: "lazy" });
      thumb.append(img);
      blobUrl(`/v1/media/thumbnail?ref=${encodeURIComponent(item.ref)}`)
        .then((u) => { img.src = u; })
        .catch(() => { thumb.replaceChildren(icon(item.kind)); });
    } else if (item.kind === "text" && item.evidence && item.evidence.text) {
      thumb.append(el("div", { class: "snippet", text: item.evidence.text }));
    } else {
      thumb.append(icon(item.kind));
    }
    const card = el("button", { class: "card result-card", type: "button", "data-ref": item.ref, "data-name": item.name,
                                "data-kind": item.kind, title: item.name },
      el("span", { class: "rank", text: `#${i + 1}` }),
      thumb,
      el("div", { class: "body" },
        el("div", { class: "name", text: item.name }),
        el("div", { class: "row" },
          el("span", { class: `badge ${item.kind}`, text: item.kind }),
          el("span", { class: "score", title: "similarity (fused rank score in details)", text: similarity(item) })),
        item.kind === "text" ? null : evidenceNode(item.evidence, item.kind)));
    card.addEventListener("click", () => openDetails(item));
    grid.append(card);
  });
}

// --- details -----------------------------------------------------------------------------
async function openDetails(item) {
  state.current = item;
  $("#details-name").textContent = item.name;
  const badge = $("#details-kind");
  badge.textContent = item.kind;
  badge.className = `badge ${item.kind}`;
  $("#details-score").textContent = `${similarity(item)} · fused score ${item.score.toFixed(4)}`;
  $("#details-evidence").replaceChildren(...[evidenceNode(item.evidence, item.kind)].filter(Boolean));
  const dl = $("#details-payload");
  dl.replaceChildren();
  const p = item.payload || {};
  if (p.width && p.height) dl.append(el("dt", { text: "pixels" }), el("dd", { text: `${p.width} × ${p.height}` }));
  for (const [k, v] of Object.entries(p)) {
    if (v == null || v === "" || typeof v === "object" || HIDDEN_FIELDS.has(k) || k === "width" || k === "height") continue;
    dl.append(el("dt", { text: k }), el("dd", { text: describeField(k, v) }));
  }
  if (p.mtime) dl.append(el("dt", { text: "modified" }), el("dd", { text: new Date(p.mtime * 1000).toLocaleString() }));
  if (item.evidence && item.evidence.match) dl.append(el("dt", { text: "matched by" }), el("dd", { text: item.evidence.match }));
  const preview = $("#details-preview");
  preview.replaceChildren(icon(item.kind));
  const note = $("#details-note");
  note.hidden = true;
  $("#details").showModal();
  try {
    const url = await blobUrl(`/v1/media/file?ref=${encodeURIComponent(item.ref)}`);
    let media;
    if (item.kind === "image") media = el("img", { src: url, alt: item.name });
    else if (item.kind === "audio" || item.kind === "video") {
      media = el(item.kind, { src: url, controls: true });
      if (item.evidence && item.evidence.time != null) media.currentTime = Number(item.evidence.time);
    } else if (item.evidence && item.evidence.text) media = el("pre", { text: item.evidence.text });
    if (media && state.current === item) preview.replaceChildren(media);
  } catch (err) {
    if (state.current !== item) return;
    // 403: the server does not serve the original (it lies outside its --root folders): show the
    // thumbnail when there is one, and say how to serve originals.
    if (err.status === 403) {
      note.replaceChildren("The original file is not served: start the server with ",
                           el("code", { text: "xmodal serve --root FOLDER" }),
                           " (a folder holding this file) to open it here.");
      note.hidden = false;
    }
    if (item.kind === "image" || item.kind === "video") {
      try {
        const thumb = await blobUrl(`/v1/media/thumbnail?ref=${encodeURIComponent(item.ref)}`);
        if (state.current === item) preview.replaceChildren(el("img", { src: thumb, alt: item.name, class: "thumb-fallback" }));
      } catch (_) { /* no thumbnail either: the icon stays */ }
    }
  }
}

$("#more-like-this").addEventListener("click", () => { if (state.current) moreLikeThis(state.current); });

// --- inputs ------------------------------------------------------------------------------
$("#search-form").addEventListener("submit", (ev) => { ev.preventDefault(); runSearch(); });

$("#kinds").addEventListener("click", (ev) => {
  const chip = ev.target.closest(".chip");
  if (!chip) return;
  state.kind = chip.dataset.kind;
  for (const c of document.querySelectorAll(".chip")) c.classList.toggle("on", c === chip);
  if (state.last) runSearch();
});

function setQueryFile(file) {
  if (!file) return;
  if (!/^(image|audio)\//.test(file.type) && file.type) {
    setStatus(`${file.name}: drop an image or an audio clip to search with it.`, true);
    return;
  }
  state.file = file;
  $("#query-name").textContent = file.name;
  const thumb = $("#query-thumb");
  if (file.type.startsWith("image/")) {
    const url = URL.createObjectURL(file);
    thumb.src = url;
    thumb.hidden = false;
  } else { thumb.hidden = true; }
  $("#query-file").hidden = false;
  runSearch();
}

$("#file-input").addEventListener("change", (ev) => setQueryFile(ev.target.files[0]));
$("#query-clear").addEventListener("click", () => {
  state.file = null;
  $("#query-file").hidden = true;
  $("#file-input").value = "";
  if ($("#q").value.trim()) runSearch();
});

let dragDepth = 0;
document.addEventListener("dragenter", (ev) => { ev.preventDefault(); dragDepth++; document.body.classList.add("dragging"); });
document.addEventListener("dragleave", () => { if (--dragDepth <= 0) { dragDepth = 0; document.body.classList.remove("dragging"); } });
document.addEventListener("dragover", (ev) => ev.preventDefault());
document.addEventListener("drop", (ev) => {
  ev.preventDefault();
  dragDepth = 0;
  document.body.classList.remove("dragging");
  const file = ev.dataTransfer && ev.dataTransfer.files && ev.dataTransfer.files[0];
  setQueryFile(file);
});

$("#upload-input").addEventListener("change", async (ev) => {
  const files = Array.from(ev.target.files || []);
  if (!files.length) return;
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  setStatus(`Uploading and indexing ${files.length} file${files.length === 1 ? "" : "s"}…`);
  try {
    const res = await api("/v1/media/upload", { method: "POST", body: form });
    const body = await res.json();
    setStatus(`Indexed ${body.files.length} file${body.files.length === 1 ? "" : "s"}.`);
    if (state.last) runSearch();  // show where the new files land among the current results
  } catch (err) {
    if (err.status !== 401) setStatus(err.message, true);
  }
  ev.target.value = "";
});

checkKey();
