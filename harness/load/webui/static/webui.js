(function () {
  var config = __CONFIG__;
  var link = new RegExp("^" + config.base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "/harness/[A-Za-z0-9._-]+$");
  var style = document.createElement("style");
  style.textContent = ".harness-link-cell{font-size:0!important}.harness-link-cell a.harness-link{font-size:0.875rem}" +
    ".harness-note{margin:-20px 0 0;font-size:0.8rem;opacity:0.8;line-height:1.4}";
  document.head.appendChild(style);
  function ownText(el) {
    var text = "";
    el.childNodes.forEach(function (n) { if (n.nodeType === 3) { text += n.nodeValue; } });
    return text.trim();
  }
  function links() {  // React owns the cell's text node: leave it, add a link beside it
    document.querySelectorAll("td").forEach(function (td) {
      var text = ownText(td), a = td.querySelector("a.harness-link");
      if (link.test(text)) {
        if (!a) {
          a = document.createElement("a");
          a.className = "harness-link";
          td.appendChild(a);
          td.classList.add("harness-link-cell");
        }
        if (a.getAttribute("href") !== text) { a.setAttribute("href", text); a.textContent = text; }
      } else if (a) {
        a.remove();
        td.classList.remove("harness-link-cell");
      }
    });
  }
  function note() {
    var input = document.querySelector('input[name="spawnRate"]');
    if (!input) { return; }
    var field = input.closest(".MuiFormControl-root") || input.parentElement;
    var next = field.nextElementSibling;
    if (next && next.classList.contains("harness-note")) { return; }
    var p = document.createElement("p");
    p.className = "harness-note";
    p.id = "harness-shape-note";
    p.textContent = "Ignored. " + config.note;
    field.parentElement.insertBefore(p, field.nextSibling);
  }
  var pending = false;
  function update() {
    pending = false;
    links();
    note();
  }
  new MutationObserver(function () {
    if (!pending) { pending = true; window.requestAnimationFrame(update); }
  }).observe(document.body, {childList: true, subtree: true, characterData: true});
  update();
  // Locust's page polls the run's state only while it is spawning or running: a poll that lands
  // in the moment a stop is cleaning up leaves the header at "cleanup" for good. After 3 s of
  // that, ask the server; once it has moved on, reload (the URL keeps the open tab).
  var stuck = 0;
  window.setInterval(function () {
    var header = document.querySelector("header");
    var text = header ? header.textContent.toUpperCase() : "";
    if (text.indexOf("CLEANUP") < 0 && text.indexOf("STOPPING") < 0) { stuck = 0; return; }
    if (!stuck) { stuck = Date.now(); return; }
    if (Date.now() - stuck < 3000) { return; }
    stuck = Date.now();
    fetch(config.base + "/stats/requests").then(function (r) { return r.json(); }).then(function (data) {
      if (data && data.state && data.state !== "cleanup" && data.state !== "stopping") { window.location.reload(); }
    }).catch(function () {});
  }, 1000);
})();
