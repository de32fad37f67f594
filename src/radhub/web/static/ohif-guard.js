// radhub's addition to the OHIF viewer (loaded by the index.html radhub serves under /ohif):
// when a study opened in the viewer holds nothing OHIF can display (no object with pixels,
// no structured report), say so in words instead of leaving a blank viewport.
(function () {
  "use strict";
  var PIXELLESS_BUT_SHOWN = {
    "1.2.840.10008.5.1.4.1.1.88.11": true, // Basic Text SR
    "1.2.840.10008.5.1.4.1.1.88.22": true, // Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.33": true, // Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.88.34": true, // Comprehensive 3D SR
    "1.2.840.10008.5.1.4.1.1.104.1": true, // Encapsulated PDF
    "1.2.840.10008.5.1.4.1.1.481.3": true, // RT Structure Set
  };
  var NAMES = {
    "1.2.840.10008.5.1.4.1.1.2": "CT Image",
    "1.2.840.10008.5.1.4.1.1.4": "MR Image",
    "1.2.840.10008.5.1.4.1.1.1": "CR Image",
    "1.2.840.10008.5.1.4.1.1.1.1": "Digital X-Ray Image",
    "1.2.840.10008.5.1.4.1.1.6.1": "Ultrasound Image",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.66": "Raw Data",
    "1.2.840.10008.5.1.4.1.1.481.5": "RT Plan",
    "1.2.840.10008.5.1.4.1.1.481.2": "RT Dose",
    "1.2.840.10008.5.1.4.1.1.11.1": "Grayscale Softcopy Presentation State",
    "1.2.840.10008.5.1.4.1.1.9.1.1": "12-lead ECG",
    "1.2.840.10008.5.1.4.1.1.66.5": "Surface Segmentation",
  };
  var checked = "";

  function value(item, tag) {
    var v = item[tag] && item[tag].Value;
    return v && v.length ? v[0] : null;
  }

  function show(uid, items) {
    var kinds = {};
    items.forEach(function (i) {
      var cls = value(i, "00080016") || "unknown";
      var name = NAMES[cls] || cls;
      kinds[name] = (kinds[name] || 0) + 1;
    });
    var what = Object.keys(kinds).map(function (k) { return kinds[k] + " " + k; }).join(", ");
    var box = document.createElement("div");
    box.id = "radhub-nothing-to-display";
    box.setAttribute("role", "alert");
    box.style.cssText = "position:fixed;left:50%;top:40%;transform:translate(-50%,-50%);z-index:10000;" +
      "max-width:34em;padding:1.2em 1.5em;background:#0b1a42;color:#fff;border:1px solid #5acce6;" +
      "border-radius:6px;font:15px/1.5 system-ui,sans-serif;box-shadow:0 4px 24px #0008";
    var title = document.createElement("strong");
    title.textContent = "This study has no image the viewer can display.";
    var text = document.createElement("p");
    text.textContent = "It holds " + what + " object(s), none with pixel data.";
    var link = document.createElement("a");
    link.href = "/studies/" + encodeURIComponent(uid);
    link.textContent = "Open the study page in radhub";
    link.style.color = "#5acce6";
    box.appendChild(title);
    box.appendChild(text);
    box.appendChild(link);
    document.body.appendChild(box);
  }

  function check() {
    if (!/\/viewer/.test(window.location.pathname)) return;
    var params = new URLSearchParams(window.location.search);
    var uids = (params.get("StudyInstanceUIDs") || params.get("studyInstanceUIDs") || "").split(",").filter(Boolean);
    var key = uids.join(",");
    if (!uids.length || key === checked) return;
    checked = key;
    var old = document.getElementById("radhub-nothing-to-display");
    if (old) old.remove();
    uids.forEach(function (uid) {
      var url = "/dicomweb/studies/" + encodeURIComponent(uid) + "/instances?includefield=00280010&limit=10000";
      window.fetch(url, { credentials: "same-origin", headers: { Accept: "application/dicom+json" } })
        .then(function (r) { return r.status === 200 ? r.json() : []; })
        .then(function (items) {
          if (!items.length) return; // not there (or not the user's): OHIF says it is not available
          var displayable = items.some(function (i) {
            return value(i, "00280010") || PIXELLESS_BUT_SHOWN[value(i, "00080016")];
          });
          if (!displayable) show(uid, items);
        })
        .catch(function () { /* the viewer reports network errors itself */ });
    });
  }

  window.addEventListener("load", check);
  window.addEventListener("popstate", check);
  window.setInterval(check, 1000); // OHIF moves between its routes without reloading
})();
