// Live progress of a submission from server-sent events (no inline script: the CSP forbids it).
"use strict";
(function () {
  const el = document.getElementById("progress");
  if (!el || !window.EventSource) return;
  const source = new EventSource(el.dataset.events);
  source.addEventListener("progress", function (event) {
    const d = JSON.parse(event.data);
    el.textContent = d.samples_done + "/" + d.samples_planned + " samples; state " + d.state +
      (d.job ? "; assessment " + d.job : "");
  });
  source.addEventListener("end", function () { source.close(); });
  source.onerror = function () { source.close(); };
})();
