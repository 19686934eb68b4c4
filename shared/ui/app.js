// The playground: plain browser JavaScript against the app's own API on this origin.
// Keyed calls (models, start, edit, cancel, list) carry the optional function key as the
// x-functions-key header; the signed status / image / preview links carry their own signature.
"use strict";

(() => {
  const API = new URL(".", window.location.href).href.replace(/\/$/, ""); // …/api
  const KEY_STORAGE = "imagePlayground.functionKey";
  const PREVIEW_POLL_MS = 500; // while a streaming job is generating (or shows a preview)
  const MIN_POLL_MS = 500;
  const MAX_POLL_MS = 2000; // Retry-After of a 202, capped
  const DEFAULT_POLL_MS = 1000;
  const RETRY_CAP_MS = 10_000; // a passing failure of the status link: Retry-After, capped
  const GIVE_UP_MS = 120_000; // …and given up after this long without an answer
  const RECENT_TOP = 12;
  // Status link answers that end the job's polling; any other (5xx, 429, 408, a lost
  // connection…) is passing: the page says so and asks again.
  const FINAL_STATUSES = new Set([200, 403, 404, 422]);
  const OPTION_FIELDS = [
    ["quality", "Quality"],
    ["style", "Style"],
    ["output_format", "Output format"],
    ["background", "Background"],
  ];

  const $ = (id) => document.getElementById(id);
  const form = $("generate-form");
  const prompt = $("prompt");
  const modelSelect = $("model");
  const modelHint = $("model-hint");
  const options = $("model-options");
  const keyDetails = $("key-details");
  const keyInput = $("function-key");
  const generateButton = $("generate");
  const cancelButton = $("cancel");
  const jobPanel = $("job-panel");
  const alertBox = $("alert");
  const progressText = $("progress-text");
  const progressDetail = $("progress-detail");
  const previews = $("previews");
  const result = $("result");
  const resultHeading = $("result-heading");
  const resultMeta = $("result-meta");
  const resultImages = $("result-images");
  const recent = $("recent");
  const recentStatus = $("recent-status");
  const moreButton = $("more");

  let models = [];
  let functionKey = ""; // the source of truth; sessionStorage only keeps it across reloads
  let submitting = false; // a POST (generate or edit) is in flight: no second one
  // The job followed: {id, statusUrl, model, controller, started, previews: Map index → tile}
  let job = null;
  let cards = new Map(); // recent jobs: id → {key, summary, item}
  let recentRequest = 0; // only the newest list request's answer is shown
  let nextLink = null;

  // ---- small helpers ---------------------------------------------------------------------

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function sleep(ms, signal) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  const clamp = (value, low, high) => Math.min(high, Math.max(low, value));

  function readStoredKey() {
    try {
      return window.sessionStorage.getItem(KEY_STORAGE) || "";
    } catch {
      return ""; // storage blocked (a SecurityError): the key lives in this page only
    }
  }

  function storeKey(value) {
    try {
      if (value) window.sessionStorage.setItem(KEY_STORAGE, value);
      else window.sessionStorage.removeItem(KEY_STORAGE);
    } catch {
      // storage blocked or full: the key still works until the page is closed
    }
  }

  /** A link the API gave, on this page's origin (its path and query kept): behind a proxy or
   * a custom domain the API may name another host, which connect-src 'self' would block. */
  function onThisOrigin(link) {
    const url = new URL(link, window.location.href);
    return `${window.location.origin}${url.pathname}${url.search}`;
  }

  /** A keyed call of the API: JSON in, the Response out (never throws on an HTTP status).
   * `path` is below /api, or an absolute link the API gave (a nextLink). */
  function api(path, { method = "GET", body } = {}) {
    const headers = { Accept: "application/json" };
    if (functionKey) headers["x-functions-key"] = functionKey;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const url = /^https?:/i.test(path) ? onThisOrigin(path) : `${API}${path}`;
    return fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  }

  /** A job's signed link for image `index`: `/images/{index}` goes before the query. */
  function imageLink(statusUrl, index) {
    const q = statusUrl.indexOf("?");
    return q < 0
      ? `${statusUrl}/images/${index}`
      : `${statusUrl.slice(0, q)}/images/${index}${statusUrl.slice(q)}`;
  }

  async function readJson(response) {
    try {
      return await response.json();
    } catch {
      return null;
    }
  }

  /** Retry-After in ms (seconds or an HTTP date), or null when absent or unreadable. */
  function retryAfterMs(response) {
    const value = response && response.headers.get("Retry-After");
    if (!value) return null;
    if (/^\s*\d+(\.\d+)?\s*$/.test(value)) return Number(value) * 1000;
    const date = Date.parse(value);
    return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
  }

  /** Focus may move to a job's outcome only when the person is not elsewhere on the page:
   * nowhere (body), on Generate or Cancel, or inside the job panel. */
  function mayMoveFocus() {
    const active = document.activeElement;
    return (
      !active ||
      active === document.body ||
      active === document.documentElement ||
      active === generateButton ||
      active === cancelButton ||
      jobPanel.contains(active)
    );
  }

  // ---- the alert: the API's own words ----------------------------------------------------

  function clearAlert() {
    alertBox.replaceChildren();
    alertBox.classList.remove("shown");
  }

  function openKey({ focus }) {
    keyDetails.open = true;
    if (focus) keyInput.focus();
  }

  /** Shows an error answer as the API gave it: its message, and the field it names. A 401
   * (no or a wrong function key) opens the key field, and focuses it when `focus`. */
  function showError(status, body, { focus = true } = {}) {
    const error = body && typeof body === "object" ? body.error : null;
    const children = [];
    if (error && typeof error === "object" && error.message) {
      const code = error.code ? ` ${error.code}` : "";
      children.push(el("p", { class: "alert-title", text: `HTTP ${status}${code}` }));
      children.push(el("p", { class: "alert-message", text: String(error.message) }));
      if (error.field) {
        children.push(
          el("p", { class: "alert-field" }, "Field: ", el("code", { text: String(error.field) })),
        );
      }
    } else {
      children.push(el("p", { class: "alert-title", text: `HTTP ${status}` }));
      const hint =
        status === 401 || status === 403
          ? "The API refused the call without a valid function key: enter one under “Function key”."
          : "The API answered without an error message.";
      children.push(el("p", { class: "alert-message", text: hint }));
    }
    alertBox.replaceChildren(...children);
    alertBox.classList.add("shown");
    if (status === 401) openKey({ focus });
    else if (focus) alertBox.focus();
  }

  function showProblem(title, message, { focus = false } = {}) {
    alertBox.replaceChildren(
      el("p", { class: "alert-title", text: title }),
      el("p", { class: "alert-message", text: message }),
    );
    alertBox.classList.add("shown");
    if (focus) alertBox.focus();
  }

  function showNetworkError(what, err, options) {
    showProblem(what, String(err && err.message ? err.message : err), options);
  }

  // ---- models and their options ----------------------------------------------------------

  function currentModel() {
    return models.find((m) => m.name === modelSelect.value) || null;
  }

  function selectField(id, label, values, { placeholder = "default", withHint = false } = {}) {
    const select = el(
      "select",
      { id, "aria-describedby": withHint ? `${id}-hint` : null },
      el("option", { value: "", text: placeholder }),
      ...values.map((v) => el("option", { value: v, text: v })),
    );
    return el(
      "div",
      { class: "field" },
      el("label", { for: id, text: label }),
      select,
      withHint ? el("p", { id: `${id}-hint`, class: "hint" }) : null,
    );
  }

  function updateImagesHint() {
    const model = currentModel();
    const hint = $("opt-n-hint");
    if (!hint) return;
    const many = Number($("opt-n")?.value || "1") > 1;
    hint.textContent =
      model && model.previews && many ? "More than one image: the job shows no live previews." : "";
  }

  function renderOptions() {
    const model = currentModel();
    // a reload of the same model (the key changed) keeps what was chosen
    const kept = new Map();
    if (model && options.dataset.model === model.name) {
      for (const node of options.querySelectorAll("select, input")) kept.set(node.id, node.value);
    }
    options.dataset.model = model ? model.name : "";
    const legend = el("legend", { text: "Options" });
    if (!model) {
      options.replaceChildren(legend);
      prompt.removeAttribute("maxlength");
      return;
    }
    const fields = [
      selectField("opt-size", "Size", model.sizes || [], {
        placeholder: `default (${model.default_size})`,
      }),
    ];
    if (model.size_rule) {
      fields.push(
        el(
          "div",
          { class: "field" },
          el("label", { for: "opt-size-custom", text: "Custom size (WxH)" }),
          el("input", {
            id: "opt-size-custom",
            type: "text",
            inputmode: "text",
            autocomplete: "off",
            spellcheck: "false",
            placeholder: "e.g. 2048x1152",
            "aria-describedby": "opt-size-rule",
          }),
          el("p", { id: "opt-size-rule", class: "hint", text: `Overrides Size when filled in: ${model.size_rule}.` }),
        ),
      );
    }
    for (const [name, label] of OPTION_FIELDS) {
      if (Array.isArray(model[name]) && model[name].length) {
        fields.push(selectField(`opt-${name}`, label, model[name]));
      }
    }
    const counts = Array.from({ length: Math.max(1, model.n_max || 1) }, (_, i) => String(i + 1));
    fields.push(
      selectField("opt-n", "Images", counts.slice(1), { placeholder: "1", withHint: !!model.previews }),
    );
    options.replaceChildren(legend, ...fields);
    for (const [id, value] of kept) {
      const node = $(id);
      if (!node || !value) continue;
      if (node.tagName === "SELECT" && ![...node.options].some((o) => o.value === value)) continue;
      node.value = value;
    }
    $("opt-n").addEventListener("change", updateImagesHint);
    updateImagesHint();

    if (Number.isInteger(model.prompt_max_chars) && model.prompt_max_chars > 0) {
      prompt.maxLength = model.prompt_max_chars;
    } else {
      prompt.removeAttribute("maxlength");
    }

    const notes = [];
    if (model.model && model.model !== model.name) notes.push(model.model);
    if (model.previews) notes.push("live previews");
    if (model.edits) notes.push("edits");
    if (model.lifecycle && model.lifecycle.status && model.lifecycle.status !== "GA") {
      const until = model.lifecycle.retirement_date ? ` (retires ${model.lifecycle.retirement_date})` : "";
      notes.push(`${model.lifecycle.status}${until}`);
    }
    modelHint.textContent = notes.join(" · ");
  }

  async function loadModels() {
    let response;
    try {
      response = await api("/models");
    } catch (err) {
      showNetworkError("Could not load the models", err);
      return;
    }
    const body = await readJson(response);
    if (!response.ok || !body || !Array.isArray(body.models)) {
      modelSelect.replaceChildren(el("option", { value: "", text: "no models (see the alert)" }));
      showError(response.status, body, { focus: false });
      return;
    }
    const previous = modelSelect.value;
    models = body.models;
    modelSelect.replaceChildren(
      ...models.map((m) =>
        el("option", { value: m.name, text: m.default ? `${m.name} (default)` : m.name }),
      ),
    );
    const keep = models.find((m) => m.name === previous) || models.find((m) => m.default);
    if (keep) modelSelect.value = keep.name;
    renderOptions();
  }

  /** The request body from the form: only the options that were chosen. */
  function requestBody() {
    const body = { prompt: prompt.value };
    const model = currentModel();
    if (model) body.model = model.name;
    const custom = $("opt-size-custom");
    const size = custom && custom.value.trim() ? custom.value.trim() : $("opt-size")?.value;
    if (size) body.size = size;
    for (const [name] of OPTION_FIELDS) {
      const value = $(`opt-${name}`)?.value;
      if (value) body[name] = value;
    }
    const n = $("opt-n")?.value;
    if (n) body.n = Number(n);
    return body;
  }

  // ---- a job: start, follow, show --------------------------------------------------------

  function setRunning(running) {
    cancelButton.hidden = !running;
    cancelButton.disabled = false;
    generateButton.disabled = submitting;
  }

  /** Stops following the current job (if any): its poller ends, Cancel goes. */
  function stopFollowing() {
    if (job) job.controller.abort();
    job = null;
    setRunning(false);
  }

  function resetJobView() {
    clearAlert();
    previews.replaceChildren();
    resultImages.replaceChildren();
    resultMeta.textContent = "";
    result.hidden = true;
    progressDetail.textContent = "";
  }

  /** The live region's text: changed only when it differs, so only news is announced. */
  function setProgress(text) {
    if (progressText.textContent !== text) progressText.textContent = text;
  }

  function setDetail(text) {
    if (progressDetail.textContent !== text) progressDetail.textContent = text;
  }

  async function start(path, body, modelName) {
    if (submitting) return; // one POST at a time: a second would start (and bill) a second job
    submitting = true;
    stopFollowing();
    resetJobView();
    generateButton.disabled = true;
    setProgress("Submitting…");
    let response;
    let answer;
    try {
      response = await api(path, { method: "POST", body });
      answer = await readJson(response);
    } catch (err) {
      submitting = false;
      generateButton.disabled = false;
      setProgress("Not submitted.");
      showNetworkError("Could not reach the API", err, { focus: mayMoveFocus() });
      return;
    }
    submitting = false;
    generateButton.disabled = false;
    const started = response.status === 202 || response.status === 200;
    if (!started || !answer || typeof answer.statusQueryGetUri !== "string") {
      setProgress("Not started.");
      showError(response.status, answer, { focus: mayMoveFocus() });
      return;
    }
    follow(answer.statusQueryGetUri, answer.id, modelName, { first: answer });
    loadRecent(); // the new job is the newest
  }

  function seconds(ms) {
    return `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
  }

  function renderProgress(mine, body) {
    const p = (body && body.progress) || {};
    const parts = [`Stage: ${p.stage || (body && body.status) || "pending"}`];
    if (p.attempts) parts.push(`attempt ${p.attempts}`);
    if (p.retry_after_seconds) parts.push(`waiting ${Math.ceil(p.retry_after_seconds)}s (throttled)`);
    const lines = [parts.join(" · ")];
    if (p.last_error) lines.push(`Last error: ${p.last_error}`);
    setProgress(lines.join("\n"));
    // not announced: changes on every poll
    const detail = [];
    if (p.images_total) detail.push(`images ${p.images_done || 0} of ${p.images_total}`);
    if (p.operation_status) detail.push(`operation ${p.operation_status}`);
    detail.push(`running ${seconds(Date.now() - mine.started)}`);
    setDetail(detail.join(" · "));
  }

  /** The job's latest previews: one tile per image index, repointed when its url changes
   * (the url is opaque: a newer frame is a new url), dropped when no longer listed. */
  function renderPreviews(mine, list) {
    if (job !== mine) return;
    const listed = new Set();
    for (const preview of Array.isArray(list) ? list : []) {
      if (!preview || typeof preview.url !== "string" || !Number.isInteger(preview.index)) continue;
      listed.add(preview.index);
      let tile = mine.previews.get(preview.index);
      if (!tile) {
        const img = el("img", { decoding: "async" });
        const caption = el("figcaption", { class: "muted" });
        const figure = el(
          "figure",
          { class: "tile preview", "data-job": mine.id, "data-index": preview.index },
          img,
          caption,
        );
        tile = { figure, img, caption, url: null, label: null };
        mine.previews.set(preview.index, tile);
        previews.append(figure);
      }
      const frame = Number.isInteger(preview.frame) ? ` (frame ${preview.frame + 1})` : "";
      const label = `Preview of image ${preview.index + 1}${frame}`;
      if (tile.url !== preview.url) {
        tile.url = preview.url;
        tile.img.src = preview.url;
      }
      if (tile.label !== label) {
        tile.label = label;
        tile.img.alt = label;
        tile.caption.textContent = label;
      }
    }
    for (const [index, tile] of mine.previews) {
      if (!listed.has(index)) {
        tile.figure.remove();
        mine.previews.delete(index);
      }
    }
  }

  function pollDelay(response, body) {
    const p = (body && body.progress) || {};
    const streaming = p.partial_images > 0 && p.stage === "generating";
    if (streaming || (Array.isArray(p.previews) && p.previews.length > 0)) return PREVIEW_POLL_MS;
    const retryAfter = retryAfterMs(response);
    return retryAfter === null ? DEFAULT_POLL_MS : clamp(retryAfter, MIN_POLL_MS, MAX_POLL_MS);
  }

  /** Follows a job's signed status link until the job ends. `created` (ms): when the job was
   * created, for its running time (a job opened from the list); else from now. */
  function follow(link, id, modelName, { first = null, created = null } = {}) {
    stopFollowing();
    resetJobView();
    const mine = {
      id,
      statusUrl: onThisOrigin(link),
      model: modelName,
      controller: new AbortController(),
      started: Number.isFinite(created) ? created : Date.now(),
      previews: new Map(),
    };
    job = mine;
    setRunning(true);
    if (first && first.status) renderProgress(mine, first);
    else setProgress("Following the job…");
    poll(mine);
  }

  async function poll(mine) {
    const signal = mine.controller.signal;
    let troubleSince = null; // when the status link last stopped answering usefully
    let failures = 0;
    while (!signal.aborted && job === mine) {
      let response = null;
      let body = null;
      let problem = null;
      try {
        response = await fetch(mine.statusUrl, {
          cache: "no-store",
          headers: { Accept: "application/json" },
          signal,
        });
        body = await readJson(response);
      } catch (err) {
        problem = `connection lost: ${err && err.message ? err.message : err}`;
      }
      if (signal.aborted || job !== mine) return;
      if (response && response.status === 202) {
        troubleSince = null;
        failures = 0;
        renderProgress(mine, body || {});
        renderPreviews(mine, body && body.progress && body.progress.previews);
        await sleep(pollDelay(response, body), signal);
        continue;
      }
      if (response && FINAL_STATUSES.has(response.status) && (response.status !== 200 || body)) {
        finish(mine, response.status, body);
        return;
      }
      // passing: a server error, throttling, a timeout, the network
      problem ||= `HTTP ${response.status}`;
      troubleSince ??= Date.now();
      failures += 1;
      if (Date.now() - troubleSince > GIVE_UP_MS) {
        giveUp(mine, problem);
        return;
      }
      setProgress(`Status unavailable (${problem}), retrying…`);
      const retryAfter = retryAfterMs(response);
      const wait = retryAfter === null ? 1000 * 2 ** Math.min(failures - 1, 4) : retryAfter;
      await sleep(clamp(wait, MIN_POLL_MS, RETRY_CAP_MS), signal);
    }
  }

  function finish(mine, status, body) {
    const focus = mayMoveFocus(); // before anything moves under it
    job = null;
    setRunning(false);
    if (status === 200) {
      setProgress("Stage: completed");
      const took = Date.parse(body.completed) - Date.parse(body.created);
      setDetail(`took ${seconds(Number.isFinite(took) ? took : Date.now() - mine.started)}`);
      renderResult(mine, body, { focus });
    } else {
      const code = body && body.error && body.error.code;
      setProgress(code === "job_canceled" ? "Stage: canceled" : "Stage: failed");
      setDetail("");
      previews.replaceChildren();
      showError(status, body, { focus });
    }
    loadRecent();
  }

  function giveUp(mine, problem) {
    const focus = mayMoveFocus();
    job = null;
    setRunning(false);
    previews.replaceChildren();
    setProgress("Status unavailable: stopped following the job.");
    showProblem(
      "The job's status link did not answer",
      `No answer for ${GIVE_UP_MS / 60000} minutes (last: ${problem}). The job may still be ` +
        "running: open it again from Recent jobs.",
      { focus },
    );
  }

  function modelOf(name) {
    return models.find((m) => m.name === name) || models.find((m) => m.model === name) || null;
  }

  function renderResult(mine, body, { focus }) {
    previews.replaceChildren();
    mine.previews.clear();
    const images = Array.isArray(body.images) ? body.images : [];
    const model = modelOf(body.model) || modelOf(mine.model);
    const meta = [body.model, `${images.length} image${images.length === 1 ? "" : "s"}`];
    if (body.prompt) meta.push(`“${body.prompt}”`);
    resultMeta.textContent = meta.filter(Boolean).join(" · ");
    resultImages.replaceChildren(
      ...images.map((image, index) => imageTile(image, index, images.length, body, mine.statusUrl, model)),
    );
    result.hidden = false;
    if (focus) resultHeading.focus();
  }

  function imageTile(image, index, count, body, statusUrl, model) {
    const n = index + 1;
    const format = (image.content_type || "").replace("image/", "");
    const details = [image.width && image.height ? `${image.width}×${image.height}` : "", format]
      .filter(Boolean)
      .join(" · ");
    const download = `${imageLink(statusUrl, index)}&download=1`;
    const figure = el(
      "figure",
      { class: "tile final", "data-index": index },
      el("img", { src: image.url, alt: `Image ${n}: ${body.prompt || ""}`.trim(), decoding: "async" }),
      el(
        "figcaption",
        {},
        el("span", { class: "muted", text: `Image ${n}${details ? ` · ${details}` : ""}` }),
        image.revised_prompt
          ? el("p", { class: "revised" }, el("strong", { text: "Revised prompt: " }), image.revised_prompt)
          : null,
        el(
          "div",
          { class: "tile-actions" },
          el("a", {
            href: download,
            download: `image-${String(body.id).slice(0, 8)}-${index}.${format || "png"}`,
            class: "button",
            text: "Download",
            "aria-label": count > 1 ? `Download image ${n}` : null,
          }),
          model && model.edits
            ? el("button", {
                type: "button",
                text: "Edit this image",
                "aria-label": count > 1 ? `Edit this image (image ${n})` : null,
                "aria-expanded": "false",
                onclick: (event) => toggleEdit(figure, event.currentTarget, body, index, model),
              })
            : null,
        ),
      ),
    );
    return figure;
  }

  function toggleEdit(figure, button, body, index, model) {
    const open = figure.querySelector(".edit");
    if (open) {
      open.remove();
      button.setAttribute("aria-expanded", "false");
      return;
    }
    const id = `edit-prompt-${index}`;
    const text = el("textarea", {
      id,
      rows: 3,
      "aria-describedby": `${id}-hint`,
      maxlength: Number.isInteger(model.prompt_max_chars) ? model.prompt_max_chars : null,
    });
    const apply = () =>
      start(
        "/images/edits",
        { prompt: text.value, model: model.name, images: [{ job: body.id, index }] },
        model.name,
      );
    text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        if (!event.repeat) apply();
      }
    });
    const panel = el(
      "div",
      { class: "edit field" },
      el("label", { for: id, text: "Edit prompt" }),
      text,
      el("p", { id: `${id}-hint`, class: "hint", text: "What to change. Ctrl+Enter applies." }),
      el("button", { type: "button", class: "primary", text: "Apply edit", onclick: apply }),
    );
    figure.querySelector("figcaption").append(panel);
    button.setAttribute("aria-expanded", "true");
    text.focus();
  }

  async function cancel() {
    const mine = job; // the job this Cancel is for: a newer one may start during the await
    if (!mine) return;
    cancelButton.disabled = true;
    let response;
    let body;
    try {
      response = await api(`/images/${encodeURIComponent(mine.id)}`, { method: "DELETE" });
      body = response.status === 202 ? null : await readJson(response);
    } catch (err) {
      if (job !== mine) return;
      cancelButton.disabled = false;
      showNetworkError("Could not cancel", err);
      return;
    }
    if (job !== mine) return;
    if (response.status !== 202) {
      cancelButton.disabled = false;
      showError(response.status, body);
      return;
    }
    setProgress("Stage: canceling");
  }

  // ---- recent jobs -----------------------------------------------------------------------

  /** The list (or, with `more`, its next page): newest answer only; cards of jobs whose id
   * and status did not change are kept, <img> and all, so nothing is downloaded again. */
  async function loadRecent({ more = false } = {}) {
    const request = ++recentRequest;
    const url = more && nextLink ? nextLink : `/images?top=${RECENT_TOP}`;
    recent.setAttribute("aria-busy", "true");
    let response;
    let body;
    try {
      response = await api(url);
      body = await readJson(response);
    } catch (err) {
      if (request !== recentRequest) return;
      recent.removeAttribute("aria-busy");
      recentStatus.textContent = `Could not load the jobs: ${err.message || err}`;
      return;
    }
    if (request !== recentRequest) return; // a newer request was made: this answer is older
    recent.removeAttribute("aria-busy");
    if (!response.ok || !body || !Array.isArray(body.value)) {
      const message = body && body.error && body.error.message;
      recentStatus.textContent = `HTTP ${response.status}: ${message || "the job list was refused"}`;
      if (response.status === 401) openKey({ focus: false });
      return;
    }
    const summaries = body.value.filter(
      (s) => s && typeof s.id === "string" && typeof s.statusQueryGetUri === "string",
    );
    const focused = document.activeElement && document.activeElement.closest("#recent [data-job]");
    const focusedId = focused ? focused.dataset.job : null;
    const next = more ? new Map(cards) : new Map();
    const items = more ? [...recent.children] : [];
    for (const summary of summaries) {
      if (more && next.has(summary.id)) continue;
      const entry = cardFor(summary);
      next.set(summary.id, entry);
      items.push(entry.item);
    }
    cards = next;
    const current = [...recent.children];
    const same = current.length === items.length && current.every((node, i) => node === items[i]);
    if (!same) {
      recent.replaceChildren(...items);
      const card = focusedId && cards.get(focusedId);
      if (card && document.activeElement !== card.button) card.button.focus();
    }
    nextLink = typeof body.nextLink === "string" && body.nextLink ? body.nextLink : null;
    moreButton.hidden = !nextLink;
    recentStatus.textContent = cards.size ? "" : "No jobs yet.";
  }

  function cardFor(summary) {
    const key = `${summary.status}|${summary.images}`;
    const known = cards.get(summary.id);
    if (known && known.key === key) {
      known.summary = summary; // its links are fresher
      return known;
    }
    const entry = { key, summary, item: null, button: null };
    const created = summary.created ? new Date(summary.created) : null;
    const thumb =
      summary.status === "succeeded" && summary.images > 0
        ? el("img", {
            src: imageLink(onThisOrigin(summary.statusQueryGetUri), 0),
            alt: "",
            loading: "lazy",
            decoding: "async",
          })
        : el("span", { class: `placeholder status-${summary.status}`, "aria-hidden": "true" });
    entry.button = el(
      "button",
      { type: "button", class: "job-card", onclick: () => openJob(entry.summary) },
      thumb,
      el("span", { class: "job-prompt", text: summary.prompt || "(no prompt)" }),
      el(
        "span",
        { class: "job-meta" },
        el("span", { class: `badge status-${summary.status}`, text: summary.status }),
        " ",
        created && !Number.isNaN(created.getTime())
          ? el("time", { datetime: summary.created, text: created.toLocaleString() })
          : null,
      ),
    );
    entry.item = el("li", { "data-job": summary.id }, entry.button);
    return entry;
  }

  function openJob(summary) {
    follow(summary.statusQueryGetUri, summary.id, summary.model, {
      created: summary.created ? Date.parse(summary.created) : null,
    });
  }

  // ---- wiring: the handlers first, then anything that could throw ------------------------

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (submitting) return;
    const body = requestBody();
    start("/images", body, body.model);
  });
  prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      if (event.repeat || submitting) return;
      form.requestSubmit();
    }
  });
  function applyKey({ again = false } = {}) {
    const value = keyInput.value.trim();
    if (value === functionKey && !again) return;
    functionKey = value;
    storeKey(functionKey);
    clearAlert();
    loadModels();
    loadRecent();
  }
  keyInput.addEventListener("change", () => applyKey());
  keyInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault(); // never a job: Enter here only applies the key
      if (!event.repeat) applyKey({ again: true });
    }
  });
  modelSelect.addEventListener("change", renderOptions);
  cancelButton.addEventListener("click", cancel);
  $("refresh").addEventListener("click", () => loadRecent());
  moreButton.addEventListener("click", () => loadRecent({ more: true }));
  generateButton.disabled = false; // wired: Generate works from now on

  functionKey = readStoredKey();
  keyInput.value = functionKey;
  if (functionKey) keyDetails.open = true;
  loadModels();
  loadRecent();
})();
