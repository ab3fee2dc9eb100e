// drover ui: buttons post actions with the page's token; every run's lines
// arrive over server-sent events; the projects' part is fetched again as
// states change. Text goes into the page as text, never as HTML.
"use strict";
(function () {
  var token = document.querySelector('meta[name="drover-token"]').content;
  var q = "?token=" + encodeURIComponent(token);
  var only = new URLSearchParams(location.search).get("project");
  var pq = q + (only ? "&project=" + encodeURIComponent(only) : "");
  var projects = document.getElementById("projects");
  var runlog = document.getElementById("runlog");
  var conn = document.getElementById("conn");
  var pending = false;

  function refresh() {
    if (pending) return;
    pending = true;
    fetch("/projects" + pq, { cache: "no-store" }).then(function (r) {
      if (!r.ok) throw new Error(r.status + " " + r.statusText);
      return r.text();
    }).then(function (html) {
      // html comes from the server's html/template, which escaped it; a
      // number typed in a scale box is kept across the refresh.
      var focused = document.activeElement;
      if (focused && focused.tagName === "INPUT" && projects.contains(focused)) return;
      projects.innerHTML = html;
    }).catch(function (e) {
      conn.textContent = "refresh failed: " + e.message;
    }).then(function () { pending = false; });
  }

  function line(text, cls) {
    var div = document.createElement("div");
    div.textContent = text;
    if (cls) div.className = cls;
    runlog.appendChild(div);
    runlog.scrollTop = runlog.scrollHeight;
  }

  function describe(m) {
    var head = "#" + m.run + " " + m.project + " " + m.verb + (m.service ? " " + m.service : "");
    switch (m.kind) {
      case "start": return [head + ": started", ""];
      case "end": return m.error ? [head + ": " + m.error, "runerr"] : [head + ": done", "runok"];
      case "log": return [head + ": " + m.line, ""];
      case "event":
        try {
          var ev = JSON.parse(m.line);
          if (ev.summary) return [head + ": " + ev.summary + " finished", ""];
          var parts = [ev.target || "", ev.action || "", ev.phase || ""];
          if (ev.reason) parts.push("(" + ev.reason + ")");
          if (ev.error) parts.push(ev.error);
          return [head + ": " + parts.join(" "), ev.phase === "failed" ? "runerr" : ""];
        } catch (e) {
          return [head + ": " + m.line, ""];
        }
    }
    return [head, ""];
  }

  var es = new EventSource("/events" + q);
  es.onopen = function () { conn.textContent = "live"; };
  es.onerror = function () { conn.textContent = "disconnected; retrying…"; };
  es.onmessage = function (e) {
    var m = JSON.parse(e.data);
    if (only && m.project !== only) return;
    var d = describe(m);
    line(d[0], d[1]);
    if (m.kind !== "log") refresh();
  };

  projects.addEventListener("click", function (e) {
    var b = e.target.closest("button.act");
    if (!b) return;
    var ask = b.getAttribute("data-ask");
    if (ask && !window.confirm(ask)) return;
    var body = new URLSearchParams();
    body.set("project", b.getAttribute("data-project"));
    body.set("service", b.getAttribute("data-service"));
    body.set("verb", b.getAttribute("data-verb"));
    if (b.getAttribute("data-verb") === "scale") {
      body.set("scale", b.parentNode.querySelector("input").value);
    }
    fetch("/action", {
      method: "POST",
      headers: { "X-Drover-Token": token, "Content-Type": "application/x-www-form-urlencoded" },
      body: body
    }).then(function (r) {
      if (!r.ok) return r.text().then(function (t) { line(b.getAttribute("data-verb") + ": " + t.trim(), "runerr"); });
    });
  });

  setInterval(refresh, 2000);
})();
