(function () {
  "use strict";
  // Findings arrive as JSON in #report-data; everything below writes text with textContent only.
  var payload = JSON.parse(document.getElementById("report-data").textContent);
  var D = payload.data, UI = payload.ui, S = D.s, cols = D.cols;
  var ix = {};
  cols.forEach(function (c, i) { ix[c] = i; });
  var ENCODED = {c: 1, t: 1, p: 1, a: 1, g: 1, k: 1, l: 1, m: 1};
  var PAGE = 200;

  var STD = {provider: "p", account_id: "a", region: "g", resource_id: "r"};  // row fields, never evidence

  function raw(row, key) {
    var v = row[ix[key]];
    if (ENCODED[key]) { return S[v]; }
    return v;
  }

  // Evidence arrives as [shape, values...] with the keys of each shape listed once in D.E.
  function unpack(packed) {
    var ev = {}, keys = D.E[packed[0]];
    for (var i = 0; i < keys.length; i++) { ev[keys[i]] = packed[i + 1]; }
    return ev;
  }

  // A reason is text, or the index of its check's template rendered from the evidence.
  function reasonOf(row, ev) {
    var x = row[ix.x];
    if (typeof x !== "number") { return x; }
    return D.T[x].map(function (part) {
      if (typeof part === "string") { return part; }
      var name = part[0], v;
      if (STD.hasOwnProperty(name)) { v = raw(row, STD[name]) || null; }
      else if (Object.prototype.hasOwnProperty.call(ev, name)) { v = ev[name]; }
      return v === null || v === undefined ? "unknown" : String(v);
    }).join("");
  }

  // Decode once; pre-compute lower-case search text per row.
  var rows = D.rows.map(function (row, n) {
    var ev = unpack(row[ix.e]);
    var r = {row: row, n: n, ev: ev, reason: reasonOf(row, ev)};
    var parts = ["c", "t", "p", "a", "g", "r", "k", "l", "q"].map(function (k) { return raw(row, k) || ""; });
    parts.push(r.reason || "", JSON.stringify(ev));
    r.text = parts.join(" ").toLowerCase();
    return r;
  });

  function val(row, key) {
    return raw(row, key);
  }

  var filters = {};
  var sortKey = null, sortDir = 1, limit = PAGE, matching = [];

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }

  function fillSelect(select) {
    var key = select.getAttribute("data-col");
    var values = Object.create(null);  // tenant values such as "__proto__" stay ordinary keys
    rows.forEach(function (r) {
      if (key === "k") {
        (val(r.row, "k") || "").split(", ").forEach(function (c) { if (c) { values[c] = c; } });
      } else if (key === "s") {
        values[r.row[ix.s]] = D.statuses[r.row[ix.s]];
      } else if (key === "v") {
        values[r.row[ix.v]] = D.severities[r.row[ix.v]];
      } else {
        var v = val(r.row, key);
        if (v) { values[v] = v; }
      }
    });
    select.appendChild(el("option", UI.all)).value = "";
    var keys = Object.keys(values);
    if (key === "s" || key === "v") {
      keys.sort(function (x, y) { return key === "v" ? y - x : x - y; });
    } else {
      keys.sort();
    }
    keys.forEach(function (k) {
      var o = el("option", values[k]);
      o.value = String(k);
      select.appendChild(o);
    });
    select.addEventListener("change", function () {
      filters[key] = select.value;
      limit = PAGE;
      apply();
    });
  }

  function matches(r, query) {
    for (var key in filters) {
      var want = filters[key];
      if (!want) { continue; }
      if (key === "k") {
        if ((", " + (val(r.row, "k") || "") + ", ").indexOf(", " + want + ", ") < 0) { return false; }
      } else if (key === "s" || key === "v") {
        if (String(r.row[ix[key]]) !== want) { return false; }
      } else if (val(r.row, key) !== want) {
        return false;
      }
    }
    return !query || r.text.indexOf(query) >= 0;
  }

  function sortValue(r) {
    return sortKey === "x" ? r.reason : val(r.row, sortKey);
  }

  function compare(x, y) {
    var a = sortValue(x), b = sortValue(y);
    if (a === null || a === undefined) { a = ""; }
    if (b === null || b === undefined) { b = ""; }
    if (typeof a === "number" && typeof b === "number") { return (a - b) * sortDir || x.n - y.n; }
    a = String(a); b = String(b);
    return (a < b ? -1 : a > b ? 1 : 0) * sortDir || x.n - y.n;
  }

  function detail(r) {
    var row = r.row;
    var tr = el("tr", null, "detail");
    var td = el("td");
    td.colSpan = 8;
    var dl = el("dl");
    function item(label, value) {
      if (value === null || value === undefined || value === "") { return; }
      dl.appendChild(el("dt", label));
      dl.appendChild(el("dd", value));
    }
    item(UI.title, val(row, "t"));
    item(UI.controls, val(row, "k"));
    item(UI.classification, val(row, "l"));
    item(UI.acceptance, val(row, "q"));
    item(UI.remediation, val(row, "m"));
    td.appendChild(dl);
    td.appendChild(el("h4", UI.evidence));
    td.appendChild(el("pre", JSON.stringify(r.ev, null, 2), "evidence"));
    tr.appendChild(td);
    return tr;
  }

  function render() {
    var body = document.getElementById("findings-body");
    var fragment = document.createDocumentFragment();
    matching.slice(0, limit).forEach(function (r) {
      var row = r.row;
      var tr = el("tr", null, "finding");
      tr.tabIndex = 0;
      var sev = D.severities[row[ix.v]], st = D.statuses[row[ix.s]];
      tr.appendChild(el("td", sev, "sev sev-" + ["info", "low", "medium", "high", "critical"][row[ix.v]]));
      tr.appendChild(el("td", st, "st st-" + D.status_keys[row[ix.s]]));
      tr.appendChild(el("td", val(row, "c"), "mono"));
      tr.appendChild(el("td", val(row, "p")));
      tr.appendChild(el("td", val(row, "a"), "mono"));
      tr.appendChild(el("td", val(row, "g")));
      tr.appendChild(el("td", val(row, "r"), "mono wrap"));
      tr.appendChild(el("td", r.reason, "wrap"));
      function toggle() {
        var next = tr.nextSibling;
        if (next && next.className === "detail") { next.parentNode.removeChild(next); }
        else { tr.parentNode.insertBefore(detail(r), tr.nextSibling); }
      }
      tr.addEventListener("click", toggle);
      tr.addEventListener("keydown", function (ev) { if (ev.key === "Enter") { toggle(); } });
      fragment.appendChild(tr);
    });
    body.textContent = "";
    body.appendChild(fragment);
    var shown = Math.min(limit, matching.length);
    document.getElementById("f-count").textContent = UI.shown
      .replace("{shown}", shown.toLocaleString()).replace("{matching}", matching.length.toLocaleString())
      .replace("{total}", rows.length.toLocaleString());
    document.getElementById("f-more").hidden = shown >= matching.length;
  }

  function apply() {
    var query = document.getElementById("f-search").value.trim().toLowerCase();
    matching = rows.filter(function (r) { return matches(r, query); });
    if (sortKey) { matching.sort(compare); }
    render();
  }

  Array.prototype.forEach.call(document.querySelectorAll(".filters select"), fillSelect);
  var timer = null;
  document.getElementById("f-search").addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { limit = PAGE; apply(); }, 120);
  });
  document.getElementById("f-more").addEventListener("click", function () { limit += PAGE * 5; render(); });
  Array.prototype.forEach.call(document.querySelectorAll("#findings-table th[data-sort]"), function (th) {
    th.tabIndex = 0;
    th.addEventListener("click", function () {
      var key = th.getAttribute("data-sort");
      sortDir = sortKey === key ? -sortDir : (key === "v" ? -1 : 1);
      sortKey = key;
      Array.prototype.forEach.call(document.querySelectorAll("#findings-table th"), function (h) {
        h.removeAttribute("aria-sort");
      });
      th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      apply();
    });
  });
  apply();
  document.documentElement.setAttribute("data-ready", "1");
})();
