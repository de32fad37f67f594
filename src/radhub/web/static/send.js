// The "send a study" page (/send). Files, folders or a zip are dropped or chosen; each file is one
// tus upload to /upload (tus-js-client), sent in chunks that each carry an Upload-Checksum (SHA-256),
// with the whole file's SHA-256 declared at creation. An interrupted send resumes from the server's
// offset: tus-js-client keeps each upload's URL in localStorage under a fingerprint of the file, so
// after a reload the same files, chosen again, continue where they stopped. When a file is done the
// page asks GET /upload/{id}/status for the archive's answer (stored, duplicate, conflict or rejected
// per object, with the reason and the ingest-check flags) and sums it up. No inline script (CSP 'self').
(function () {
  "use strict";

  var MB = 1e6;
  var WHOLE_FILE_HASH_LIMIT = 256 * 1024 * 1024; // larger files are protected by their chunk checksums only
  var FINGERPRINT_PREFIX = "radhub-send|";
  var RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000];

  var REASONS = {
    not_dicom: "not a DICOM file",
    truncated: "the file is cut short (truncated)",
    invalid_meta: "the DICOM file meta information is missing or invalid",
    invalid_value: "an element of the DICOM header has an invalid value",
    missing_uid: "a required UID (study, series, SOP instance or SOP class) is missing",
    invalid_uid: "a UID is not a valid DICOM UID",
    empty: "the file is empty",
    too_large: "the file is larger than the archive accepts",
    checksum_mismatch: "the file was damaged on the way or changed while it was sent (checksum mismatch); nothing was stored",
    invalid_zip: "the zip file cannot be opened",
    empty_zip: "the zip file contains no files",
    invalid_zip_member: "this file in the zip cannot be read (damaged or encrypted)",
    no_object_stored: "nothing in the zip could be stored",
    conflict: "an instance with the same SOP Instance UID but different content is already stored",
    uid_in_use: "this UID belongs to another organisation's study",
    series_mismatch: "its series is already filed under another study",
    study_mismatch: "it does not belong to the study it was sent with",
  };
  var CHECKS = {
    missing_patient_name: "no patient name",
    missing_patient_id: "no patient ID",
    missing_patient_sex: "no patient sex",
    missing_patient_age: "no patient age or birth date",
    missing_institution: "no institution name",
    missing_study_date: "no study date",
    missing_modality: "no modality",
    missing_kvp: "no kVp",
    missing_mas: "no mAs (exposure)",
  };
  var STATUS_WORDS = { stored: "stored", duplicate: "duplicate (already in the archive)", conflict: "conflict", rejected: "rejected" };

  // -- small helpers -------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "class") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }
  function positiveInt(value) {
    var n = parseInt(value, 10);
    return n > 0 ? n : null;
  }
  function mb(bytes) { return (bytes / MB).toFixed(bytes < 10 * MB ? 2 : 1) + " MB"; }
  function duration(seconds) {
    if (!isFinite(seconds)) return "…";
    if (seconds < 60) return Math.ceil(seconds) + " s";
    var m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
    return m < 60 ? m + " min " + s + " s" : Math.floor(m / 60) + " h " + (m % 60) + " min";
  }
  function reasonInWords(code, reason) {
    var words = REASONS[code] || (code ? code.replace(/_/g, " ") : "refused");
    return reason && reason !== words ? words + " (" + reason + ")" : words;
  }
  function toBase64(buffer) {
    var bytes = new Uint8Array(buffer), s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s);
  }
  function toHex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  // SHA-256: Web Crypto in a secure context (https, or this machine); over plain http to a remote
  // host the browser has none, and js-sha256 (from npm, /vendor/sha256.min.js) computes it instead.
  var subtle = window.crypto && window.crypto.subtle;
  var hasDigest = !!subtle || !!(window.sha256 && window.sha256.arrayBuffer);
  function sha256Digest(bytes) {
    if (subtle) return subtle.digest("SHA-256", bytes);
    return Promise.resolve(window.sha256.arrayBuffer(bytes));
  }

  // -- an HTTP stack that adds Upload-Checksum (tus checksum extension) to every request with a body ----
  // One per file: a body that is the whole file (a file of one chunk) reuses the file's bytes and digest.
  function ChecksumHttpStack(inner, item) { this.inner = inner; this.item = item; }
  ChecksumHttpStack.prototype.getName = function () { return "radhub-checksum(" + this.inner.getName() + ")"; };
  ChecksumHttpStack.prototype.createRequest = function (method, url) {
    var req = this.inner.createRequest(method, url);
    var send = req.send.bind(req), abort = req.abort.bind(req), aborted = false;
    req.abort = function () { aborted = true; return abort(); };
    var item = this.item;
    req.send = function (body) {
      if (body == null || !hasDigest) return send(body);
      var whole = item.whole && body.size === item.size ? item.whole : null;
      item.whole = null;
      var read = whole ? Promise.resolve(whole.bytes) : typeof body.arrayBuffer === "function" ? body.arrayBuffer() : Promise.resolve(body);
      return read.then(function (bytes) {
        return (whole ? Promise.resolve(whole.digest) : sha256Digest(bytes)).then(function (digest) {
          if (aborted) throw new Error("request aborted");
          req.setHeader("Upload-Checksum", "sha256 " + toBase64(digest));
          return send(bytes); // exactly the bytes that were hashed
        });
      });
    };
    return req;
  };

  // -- configuration -------------------------------------------------------
  var root = document.getElementById("send");
  if (!root || !window.tus) return;
  var query = new URLSearchParams(window.location.search);
  var config = {
    endpoint: root.dataset.endpoint || "/upload",
    chunkSize: positiveInt(query.get("chunk")) || positiveInt(root.dataset.chunkSize) || 5 * 1024 * 1024,
    parallel: positiveInt(query.get("parallel")) || positiveInt(root.dataset.parallel) || 3,
  };
  var urlStorage = tus.defaultOptions.urlStorage;

  var drop = document.getElementById("drop");
  var tbody = document.querySelector("#uploads tbody");
  var overall = document.getElementById("overall");
  var overallBar = document.getElementById("overall-bar");
  var overallText = document.getElementById("overall-text");
  var summary = document.getElementById("summary");

  // -- the batch -----------------------------------------------------------
  // One item per file: {file, path, size, fingerprint, row, bar, text, result, upload, state,
  // sent, lastSent, outcome}. state: queued -> preparing -> sending -> done | failed.
  var items = [];
  var skipped = [];
  var transfer = { started: null, finished: null, bytes: 0, samples: [] }; // bytes sent by this page (not resumed ones)

  function fingerprintOf(item) {
    return FINGERPRINT_PREFIX + [item.path, item.size, item.file.lastModified, config.endpoint].join("|");
  }
  function forget(fingerprint) {
    return urlStorage.findUploadsByFingerprint(fingerprint).then(function (found) {
      return Promise.all(found.map(function (u) { return urlStorage.removeUpload(u.urlStorageKey); }));
    });
  }

  function addFiles(entries) {
    entries.forEach(function (entry) {
      var name = entry.path.split("/").pop();
      if (name.charAt(0) === "." || name === "Thumbs.db" || name.toUpperCase() === "DICOMDIR") {
        skipped.push(entry.path); // a media index or a desktop file, not an image
        return;
      }
      var item = { file: entry.file, path: entry.path, size: entry.file.size, state: "queued", sent: 0, lastSent: 0 };
      item.fingerprint = fingerprintOf(item);
      var busy = items.some(function (other) { return other.fingerprint === item.fingerprint && other.state !== "done"; });
      if (busy) return; // the same file is already on its way
      items.push(item);
      addRow(item);
    });
    document.getElementById("uploads").hidden = items.length === 0;
    overall.hidden = items.length === 0;
    pump();
    render(true);
  }

  function addRow(item) {
    item.bar = el("progress", { max: "1", value: "0" });
    item.text = el("span", { class: "muted", text: "waiting" });
    item.result = el("td", { class: "result" });
    item.row = el("tr", { "data-path": item.path, "data-state": "queued" }, [
      el("td", { text: item.path }), el("td", {}, [item.bar, " ", item.text]), item.result,
    ]);
    tbody.appendChild(item.row);
  }

  function setState(item, state) {
    item.state = state;
    item.row.setAttribute("data-state", state);
  }

  function pump() {
    var active = items.filter(function (i) { return i.state === "preparing" || i.state === "sending"; }).length;
    items.forEach(function (item) {
      if (active < config.parallel && item.state === "queued") {
        active++;
        start(item);
      }
    });
    var pending = items.some(function (i) { return i.state !== "done" && i.state !== "failed"; });
    if (pending) root.setAttribute("data-state", "busy"); // "done" is set once the summary shows it
    else if (items.length) finishBatch();
  }

  function finishBatch() {
    if (transfer.finished === null) transfer.finished = performance.now();
    // Files that reached an outcome are forgotten once the whole batch is done (a reload before that
    // finds them finished and does not send them again; sending them later is a new upload).
    var forgetting = items.filter(function (item) { return item.state === "done" && !item.forgotten; }).map(function (item) {
      item.forgotten = true;
      return forget(item.fingerprint);
    });
    Promise.all(forgetting).then(showResumeNote);
  }

  function start(item) {
    setState(item, "preparing");
    item.text.textContent = "preparing";
    if (transfer.started === null || transfer.finished !== null) {
      transfer.started = performance.now(); transfer.finished = null; transfer.bytes = 0; transfer.samples = [];
    }
    var isZip = /\.zip$/i.test(item.path) || /zip/.test(item.file.type);
    var upload = new tus.Upload(item.file, {
      endpoint: config.endpoint,
      chunkSize: config.chunkSize,
      uploadDataDuringCreation: true, // the first chunk goes with the POST (tus creation-with-upload): one request per small file
      retryDelays: RETRY_DELAYS,
      headers: { "X-CSRF-Token": window.radhub.csrf() },
      metadata: { filename: item.path, filetype: isZip ? "application/zip" : "application/dicom" },
      fingerprint: function () { return Promise.resolve(item.fingerprint); },
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: false,
      httpStack: new ChecksumHttpStack(tus.defaultOptions.httpStack, item),
      onShouldRetry: function (err) {
        var status = err.originalResponse ? err.originalResponse.getStatus() : 0;
        // network errors, server errors, a stalled or cut body, a moved offset, a lock, a bad chunk
        return status === 0 || status >= 500 || [408, 409, 423, 460].indexOf(status) >= 0;
      },
      onProgress: function (sent) { progress(item, sent); },
      onSuccess: function () { fetchOutcome(item); }, // the next file starts meanwhile
      onError: function (err) { failed(item, err); },
    });
    item.upload = upload;
    upload.findPreviousUploads().then(function (previous) {
      if (previous.length) {
        previous.sort(function (a, b) { return (Date.parse(b.creationTime) || 0) - (Date.parse(a.creationTime) || 0); }); // newest first
        upload.resumeFromPreviousUpload(previous[0]);
        item.resumed = true;
        item.lastSent = null; // the first progress report is the server's offset, not sent bytes
        item.text.textContent = "resuming";
        return null;
      }
      if (!hasDigest || item.size > WHOLE_FILE_HASH_LIMIT) return null;
      item.text.textContent = "computing checksum";
      return item.file.arrayBuffer().then(function (bytes) {
        return sha256Digest(bytes).then(function (digest) {
          upload.options.metadata.checksum = "sha256 " + toHex(digest);
          if (item.size <= config.chunkSize) item.whole = { bytes: bytes, digest: digest }; // sent as one chunk
        });
      });
    }).then(function () {
      setState(item, "sending");
      upload.start();
    }).catch(function (err) { failed(item, err); });
  }

  function progress(item, sent) {
    if (item.lastSent === null || sent < item.lastSent) item.lastSent = sent;
    var delta = sent - item.lastSent;
    item.lastSent = sent;
    item.sent = sent;
    transfer.bytes += delta;
    item.bar.value = item.size ? sent / item.size : 1;
    item.text.textContent = mb(sent) + " of " + mb(item.size);
    render();
  }

  function fetchOutcome(item) {
    setState(item, "checking");
    pump();
    item.sent = item.size;
    item.bar.value = 1;
    item.text.textContent = "checking";
    window.radhub.fetch(item.upload.url + "/status", { headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 401) return null;
        if (!r.ok) throw new Error("the archive did not say what happened (" + r.status + ")");
        return r.json();
      })
      .then(function (outcome) { if (outcome) done(item, outcome); })
      .catch(function (err) { transferFailed(item, err.message); });
  }

  function failed(item, err) {
    var res = err && err.originalResponse;
    var status = res ? res.getStatus() : 0;
    if (status === 401) { window.radhub.loginAgain(); return; }
    if (status === 422) { // the last chunk arrived; the archive refused the object
      var body = null;
      try { body = JSON.parse(res.getBody()); } catch (e) { body = null; }
      if (body) { done(item, body); return; }
    }
    if (status === 403) { transferFailed(item, "your account may not send studies (" + detail(res) + ")"); return; }
    if (status === 413) { transferFailed(item, REASONS.too_large + " (" + detail(res) + ")"); return; }
    if (status === 404 || status === 410) { forget(item.fingerprint); transferFailed(item, "the archive no longer has this upload; send the file again"); return; }
    transferFailed(item, status ? "the archive answered " + status + " (" + detail(res) + ")" : "the network connection was lost");
  }
  function detail(res) {
    try { return JSON.parse(res.getBody()).detail || ""; } catch (e) { return ""; }
  }

  function transferFailed(item, message) {
    setState(item, "failed");
    item.text.textContent = "interrupted at " + mb(item.sent);
    item.result.textContent = "";
    item.result.appendChild(el("span", { class: "error", text: "Not sent: " + message + "." }));
    pump();
    render(true);
  }

  function done(item, outcome) {
    item.outcome = outcome;
    setState(item, "done");
    item.text.textContent = mb(item.size);
    item.result.textContent = "";
    item.row.setAttribute("data-outcome", outcome.state);
    var results = outcome.results || [];
    if (outcome.kind === "zip") {
      var counts = outcome.summary || {};
      var line = Object.keys(STATUS_WORDS).filter(function (s) { return counts[s]; })
        .map(function (s) { return counts[s] + " " + s; }).join(", ");
      item.result.appendChild(el("div", { text: "zip: " + (line || "nothing in it") }));
      if (outcome.code && !results.length) item.result.appendChild(el("div", { class: "error", text: reasonInWords(outcome.code, outcome.reason) }));
      var list = el("ul", { class: "members" });
      results.forEach(function (r) { if (r.status !== "stored" || r.checks.length) list.appendChild(el("li", {}, [r.path + ": ", resultNode(r)])); });
      if (list.children.length) item.result.appendChild(list);
    } else if (results.length) {
      item.result.appendChild(resultNode(results[0]));
    } else {
      item.result.appendChild(resultNode({ status: outcome.state, code: outcome.code, reason: outcome.reason, checks: [] }));
    }
    pump();
    render(true);
  }

  function resultNode(r) {
    var node = el("span", { class: "status-" + r.status, "data-status": r.status });
    if (r.status === "rejected" || r.status === "conflict") {
      node.appendChild(el("span", { class: "error", text: (r.status === "rejected" ? "Rejected: " : "Conflict: ") + (REASONS[r.code] || reasonInWords(r.code, null)) }));
      if (r.reason) node.appendChild(el("div", { class: "muted detail", text: r.reason }));
    } else {
      node.appendChild(document.createTextNode(r.status === "stored" ? "Stored" : "Duplicate: already in the archive"));
    }
    (r.checks || []).forEach(function (code) {
      node.appendChild(document.createTextNode(" "));
      node.appendChild(el("span", { class: "flag", title: code, "data-check": code, text: CHECKS[code] || code.replace(/_/g, " ") }));
    });
    return node;
  }

  // -- overall progress and the summary -----------------------------------
  var renderQueued = false, renderedAt = 0, summaryDirty = true;
  function render(outcomeChanged) {
    if (outcomeChanged) summaryDirty = true;
    if (renderQueued) return;
    renderQueued = true;
    var wait = summaryDirty ? 0 : Math.max(0, 250 - (performance.now() - renderedAt)); // progress: 4 times a second
    window.setTimeout(function () {
      window.requestAnimationFrame(function () { renderQueued = false; renderedAt = performance.now(); renderNow(); });
    }, wait);
  }

  function rate() {
    var now = performance.now(), samples = transfer.samples;
    samples.push({ t: now, bytes: transfer.bytes });
    while (samples.length > 2 && now - samples[0].t > 5000) samples.shift(); // the last 5 seconds
    var first = samples[0], span = (now - first.t) / 1000;
    return span > 0.2 ? (transfer.bytes - first.bytes) / span : NaN;
  }

  function renderNow() {
    var total = 0, sent = 0;
    items.forEach(function (i) { total += i.size; sent += i.state === "done" ? i.size : i.sent; });
    overallBar.value = total ? sent / total : 0;
    var pending = items.some(function (i) { return i.state !== "done" && i.state !== "failed"; });
    if (pending) {
      var r = rate();
      overallText.textContent = mb(sent) + " of " + mb(total) + " · " + (isFinite(r) ? (r / MB).toFixed(1) + " MB/s · " + duration((total - sent) / r) + " left" : "starting");
    } else if (transfer.started !== null && transfer.finished !== null) {
      var seconds = (transfer.finished - transfer.started) / 1000;
      overallText.textContent = mb(transfer.bytes) + " sent in " + seconds.toFixed(1) + " s (" + (seconds > 0 ? (transfer.bytes / MB / seconds).toFixed(1) : "–") + " MB/s)";
    }
    if (summaryDirty) { summaryDirty = false; renderSummary(); }
    root.setAttribute("data-state", items.length === 0 ? "idle" : pending ? "busy" : "done"); // once the page shows it
  }

  function renderSummary() {
    var counts = { stored: 0, duplicate: 0, conflict: 0, rejected: 0 };
    var refused = [], flagged = {}, studies = {}, failures = [];
    items.forEach(function (item) {
      if (item.state === "failed") failures.push(item);
      if (!item.outcome) return;
      var results = item.outcome.results || [];
      if (!results.length) { // an upload refused as a whole (a checksum mismatch, a broken zip)
        counts.rejected++;
        refused.push({ path: item.path, status: "rejected", words: reasonInWords(item.outcome.code, item.outcome.reason) });
      }
      results.forEach(function (r) {
        counts[r.status] = (counts[r.status] || 0) + 1;
        if (r.status === "rejected" || r.status === "conflict") refused.push({ path: r.path || item.path, status: r.status, words: reasonInWords(r.code, r.reason) });
        if (r.study_instance_uid && (r.status === "stored" || r.status === "duplicate")) studies[r.study_instance_uid] = (studies[r.study_instance_uid] || 0) + 1;
        (r.checks || []).forEach(function (c) { flagged[c] = (flagged[c] || 0) + 1; });
      });
    });
    summary.textContent = "";
    if (!items.length && !skipped.length) return;
    summary.appendChild(el("h2", { text: "Summary" }));
    var dl = el("dl", { class: "counts" });
    Object.keys(counts).forEach(function (s) {
      dl.appendChild(el("dt", { text: s.charAt(0).toUpperCase() + s.slice(1) }));
      dl.appendChild(el("dd", { "data-count": s, text: String(counts[s]) }));
    });
    if (failures.length) { dl.appendChild(el("dt", { text: "Not sent" })); dl.appendChild(el("dd", { "data-count": "failed", text: String(failures.length) })); }
    if (skipped.length) { dl.appendChild(el("dt", { text: "Skipped" })); dl.appendChild(el("dd", { "data-count": "skipped", title: skipped.join(", "), text: String(skipped.length) })); }
    summary.appendChild(dl);
    var uids = Object.keys(studies);
    if (uids.length) {
      var ul = el("ul", { class: "studies" });
      uids.forEach(function (uid) { ul.appendChild(el("li", {}, [el("a", { href: "/studies/" + uid, text: "Study " + uid }), " · " + studies[uid] + " instances"])); });
      summary.appendChild(ul);
    }
    if (refused.length) {
      summary.appendChild(el("h3", { text: "Not stored" }));
      var table = el("table", { class: "list", id: "refused" }, [el("thead", {}, [el("tr", {}, [el("th", { text: "File" }), el("th", { text: "Why" })])])]);
      var body = el("tbody");
      refused.forEach(function (x) { body.appendChild(el("tr", { "data-status": x.status }, [el("td", { text: x.path }), el("td", { class: "error", text: (x.status === "conflict" ? "Conflict: " : "Rejected: ") + x.words })])); });
      table.appendChild(body);
      summary.appendChild(table);
    }
    var codes = Object.keys(flagged).sort();
    if (codes.length) {
      summary.appendChild(el("h3", { text: "Ingest checks (flagged, stored anyway)" }));
      var p = el("p", { id: "flag-counts" });
      codes.forEach(function (c) { p.appendChild(el("span", { class: "flag", "data-check": c, text: (CHECKS[c] || c) + ": " + flagged[c] })); p.appendChild(document.createTextNode(" ")); });
      summary.appendChild(p);
    }
    if (failures.length) {
      var retry = el("button", { type: "button", id: "retry", text: "Retry the " + failures.length + " file(s) not sent" });
      retry.addEventListener("click", retryFailed);
      summary.appendChild(retry);
    }
  }

  function retryFailed() {
    items.forEach(function (item) {
      if (item.state === "failed") { setState(item, "queued"); item.result.textContent = ""; item.text.textContent = "waiting"; }
    });
    pump();
    render(true);
  }
  window.addEventListener("online", retryFailed);

  // -- uploads a reload interrupted ---------------------------------------
  var resumeNote = document.getElementById("resume-note");
  function showResumeNote() {
    urlStorage.findAllUploads().then(function (all) {
      var active = {};
      items.forEach(function (i) { if (i.state !== "done" || !i.forgotten) active[i.fingerprint] = true; });
      var left = all.filter(function (u) {
        return String(u.urlStorageKey).indexOf("tus::" + FINGERPRINT_PREFIX) === 0 && !active[String(u.urlStorageKey).split("::")[1]];
      });
      resumeNote.hidden = left.length === 0;
      if (left.length) {
        var names = left.slice(0, 5).map(function (u) { return (u.metadata && u.metadata.filename) || "?"; }).join(", ");
        document.getElementById("resume-text").textContent = "An earlier send of " + left.length + " file(s) was interrupted (" + names +
          (left.length > 5 ? ", …" : "") + "). Choose or drop the same files again: what already arrived is not sent again.";
      }
      resumeNote.dataset.count = String(left.length);
    });
  }
  document.getElementById("resume-forget").addEventListener("click", function () {
    urlStorage.findAllUploads().then(function (all) {
      return Promise.all(all.filter(function (u) { return String(u.urlStorageKey).indexOf("tus::" + FINGERPRINT_PREFIX) === 0; })
        .map(function (u) { return urlStorage.removeUpload(u.urlStorageKey); }));
    }).then(showResumeNote);
  });
  showResumeNote();

  // -- choosing and dropping ----------------------------------------------
  function fromInput(input) {
    var entries = Array.prototype.map.call(input.files, function (f) { return { file: f, path: f.webkitRelativePath || f.name }; });
    input.value = ""; // choosing the same files again fires "change" again
    addFiles(entries);
  }
  document.getElementById("files").addEventListener("change", function (ev) { fromInput(ev.target); });
  document.getElementById("folder").addEventListener("change", function (ev) { fromInput(ev.target); });

  function readEntry(entry, prefix) {
    if (entry.isFile) {
      return new Promise(function (resolve) {
        entry.file(function (f) { resolve([{ file: f, path: prefix + f.name }]); }, function () { resolve([]); });
      });
    }
    if (!entry.isDirectory) return Promise.resolve([]);
    var reader = entry.createReader(), children = [];
    return new Promise(function (resolve) {
      (function more() { // readEntries answers in batches (100 in Chromium) until an empty one
        reader.readEntries(function (batch) {
          if (!batch.length) { resolve(children); return; }
          children = children.concat(batch);
          more();
        }, function () { resolve(children); });
      })();
    }).then(function (list) {
      return Promise.all(list.map(function (child) { return readEntry(child, prefix + entry.name + "/"); }));
    }).then(function (nested) { return [].concat.apply([], nested); });
  }

  function fromDrop(dataTransfer) {
    // Both must be taken during the event: the entries (which walk into folders) and the plain files.
    var plain = Array.prototype.map.call(dataTransfer.files, function (f) { return { file: f, path: f.name }; });
    var items = dataTransfer.items, entries = [];
    for (var i = 0; items && i < items.length; i++) {
      var entry = items[i].kind === "file" && typeof items[i].webkitGetAsEntry === "function" ? items[i].webkitGetAsEntry() : null;
      if (entry) entries.push(entry);
    }
    if (!entries.length) return Promise.resolve(plain);
    return Promise.all(entries.map(function (e) { return readEntry(e, ""); })).then(function (nested) {
      var walked = [].concat.apply([], nested);
      return walked.length ? walked : plain;
    });
  }

  ["dragenter", "dragover"].forEach(function (type) {
    drop.addEventListener(type, function (ev) { ev.preventDefault(); ev.dataTransfer.dropEffect = "copy"; drop.classList.add("over"); });
  });
  drop.addEventListener("dragleave", function (ev) { if (!drop.contains(ev.relatedTarget)) drop.classList.remove("over"); });
  drop.addEventListener("drop", function (ev) {
    ev.preventDefault();
    drop.classList.remove("over");
    root.setAttribute("data-state", "busy"); // reading folders takes a moment
    fromDrop(ev.dataTransfer).then(addFiles);
  });
  // a file dropped next to the zone must not make the browser leave the page
  window.addEventListener("dragover", function (ev) { ev.preventDefault(); });
  window.addEventListener("drop", function (ev) { ev.preventDefault(); });
  drop.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); document.getElementById("files").click(); }
  });
})();
