// The HTML report's first script: any error while the charts are drawn shows on the page
// (the box #errors) and in its <html data-errors> count, so neither a reader nor a test
// takes a half-drawn page for a whole one. agent_tracker/reporthtml.py writes the page.
(function () {
  "use strict";
  function show(message) {
    var box = document.getElementById("errors");
    var line = document.createElement("li");
    line.textContent = message;
    box.querySelector("ul").appendChild(line);
    box.hidden = false;
    var count = Number(document.documentElement.getAttribute("data-errors") || "0") + 1;
    document.documentElement.setAttribute("data-errors", String(count));
  }
  window.addEventListener("error", function (event) {
    show(String(event.message || event.type));
  });
  window.addEventListener("unhandledrejection", function (event) {
    show("unhandled rejection: " + String(event.reason));
  });
  document.addEventListener("securitypolicyviolation", function (event) {
    show("blocked by the page's policy: " + event.violatedDirective + " " + event.blockedURI);
  });
})();
