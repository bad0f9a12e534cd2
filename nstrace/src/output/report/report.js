(function () {
  "use strict";
  var form = document.getElementById("filters");
  var rows = Array.prototype.slice.call(document.querySelectorAll("table.findings tr.finding"));
  if (form && rows.length) {
    var shown = document.getElementById("shown");
    var apply = function () {
      var sev = {};
      Array.prototype.forEach.call(form.querySelectorAll("input[name=sev]"), function (c) {
        sev[c.value] = c.checked;
      });
      var kind = form.elements.kind.value;
      var q = form.elements.q.value.trim().toLowerCase();
      var n = 0;
      rows.forEach(function (r) {
        var ok = sev[r.getAttribute("data-severity")] !== false &&
          (!kind || r.getAttribute("data-kind") === kind) &&
          (!q || r.textContent.toLowerCase().indexOf(q) >= 0);
        r.hidden = !ok;
        if (ok) { n += 1; }
      });
      shown.textContent = n + " of " + rows.length + " shown";
    };
    form.addEventListener("input", apply);
    form.addEventListener("change", apply);
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    form.hidden = false;
    apply();
  }
  window.addEventListener("beforeprint", function () {
    Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) {
      d.open = true;
    });
  });
})();
