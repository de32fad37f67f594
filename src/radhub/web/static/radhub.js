// radhub's pages: log-in, log-out, expired sessions, the header filter. No inline script (CSP 'self').
(function () {
  "use strict";
  function csrf() {
    var m = document.cookie.match(/(?:^|; )radhub_csrf=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  // the session has ended: log in again, then come back to this page
  function loginAgain() {
    window.location.href = "/login?next=" + encodeURIComponent(window.location.pathname + window.location.search) + "&expired=1";
  }
  window.radhub = {
    csrf: csrf,
    loginAgain: loginAgain,
    // fetch with the session; a 401 (session ended) goes to log-in and comes back here
    fetch: function (url, options) {
      options = options || {};
      options.credentials = "same-origin";
      options.headers = options.headers || {};
      if (options.method && options.method !== "GET" && options.method !== "HEAD") options.headers["X-CSRF-Token"] = csrf();
      return window.fetch(url, options).then(function (r) {
        if (r.status === 401) loginAgain();
        return r;
      });
    },
  };
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("login-form");
    if (form) {
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var err = document.getElementById("login-error");
        err.hidden = true;
        window.fetch("/api/v1/auth/login", { method: "POST", body: new FormData(form), credentials: "same-origin" })
          .then(function (r) {
            if (r.ok) { window.location.href = form.dataset.next || "/studies"; return; }
            return r.json().then(function (body) {
              err.textContent = r.status === 429 ? "Too many failed log-ins: wait a few minutes and try again."
                : (r.status === 401 ? "Wrong user name or password, or the account is disabled." : (body.detail || ("Log-in failed (" + r.status + ")")));
              err.hidden = false;
            });
          })
          .catch(function () { err.textContent = "radhub cannot be reached."; err.hidden = false; });
      });
    }
    var logout = document.getElementById("logout");
    if (logout) {
      logout.addEventListener("click", function () {
        window.fetch("/api/v1/auth/logout", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf() } })
          .then(function () { window.location.href = "/"; });
      });
    }
    var filter = document.getElementById("header-filter");
    var privateOnly = document.getElementById("private-only");
    function applyFilter() {
      var q = (filter.value || "").trim().toLowerCase().replace(/[()\s]/g, "");
      var rows = document.querySelectorAll("#header tbody tr");
      for (var i = 0; i < rows.length; i++) {
        var cells = rows[i].cells;
        var text = (cells[0].textContent + " " + cells[1].textContent).toLowerCase().replace(/[()\s]/g, "");
        var show = (!q || text.indexOf(q) >= 0 || text.replace(/,/g, "").indexOf(q.replace(/,/g, "")) >= 0);
        if (privateOnly && privateOnly.checked) show = show && rows[i].classList.contains("private");
        rows[i].hidden = !show;
      }
    }
    var gradeForm = document.getElementById("grade-form");
    if (gradeForm) {
      gradeForm.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var err = document.getElementById("grade-error");
        err.hidden = true;
        var data = new FormData(gradeForm);
        var body = JSON.stringify({ grade: parseInt(data.get("grade"), 10), note: data.get("note") || "" });
        window.radhub.fetch("/api/v1/studies/" + encodeURIComponent(gradeForm.dataset.study) + "/quality",
          { method: "PUT", body: body, headers: { "Content-Type": "application/json" } })
          .then(function (r) {
            if (r.ok) { window.location.reload(); return; }
            return r.json().then(function (b) {
              err.textContent = "The grade was not saved: " + (typeof b.detail === "string" ? b.detail : "check the grade and note") + ".";
              err.hidden = false;
            });
          })
          .catch(function () { err.textContent = "radhub cannot be reached; the grade was not saved."; err.hidden = false; });
      });
    }
    if (filter) { filter.addEventListener("input", applyFilter); privateOnly.addEventListener("change", applyFilter); }
  });
})();
