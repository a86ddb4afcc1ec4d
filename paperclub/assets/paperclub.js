// The site's small behaviours. Plain DOM, no framework, no outside request.
(function () {
  function isoToday() {
    var d = new Date();
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
  }

  // Tag filter for the home page's paper cards.
  function tagFilter() {
    var bar = document.querySelector(".pc-tagbar");
    if (!bar || bar.dataset.ready) return;
    bar.dataset.ready = "1";
    bar.addEventListener("click", function (ev) {
      var btn = ev.target.closest("button[data-tag]");
      if (!btn) return;
      var tag = btn.dataset.tag;
      bar.querySelectorAll("button").forEach(function (b) { b.classList.toggle("pc-active", b === btn); });
      document.querySelectorAll(".pc-card").forEach(function (card) {
        var tags = (card.dataset.tags || "").split(" ");
        card.hidden = !(tag === "all" || tags.indexOf(tag) >= 0);
      });
    });
  }

  // "Next session" and the cards' past/upcoming marks follow today's date, not the build's: the page
  // carries every scheduled session and the build-time choice is only the no-script fallback.
  function sessions() {
    var today = isoToday();
    var boxes = Array.prototype.slice.call(document.querySelectorAll(".pc-next[data-date]"));
    if (boxes.length) {
      var next = boxes.filter(function (b) { return b.dataset.date >= today; })[0] || null;
      boxes.forEach(function (b) { b.hidden = b !== next; });
      var none = document.querySelector(".pc-next-none");
      if (none) none.hidden = next !== null;
    }
    var grid = document.querySelector(".pc-grid");
    if (!grid) return;
    var cards = Array.prototype.slice.call(grid.querySelectorAll(".pc-card[data-date]"));
    var dated = cards.filter(function (c) { return c.dataset.date; });
    dated.forEach(function (c) {
      var upcoming = c.dataset.date >= today;
      c.classList.toggle("pc-upcoming", upcoming);
      c.classList.toggle("pc-past", !upcoming);
      var badge = c.querySelector(".pc-when");
      if (badge) {
        badge.textContent = upcoming ? "upcoming" : "past session";
        badge.className = "pc-when " + (upcoming ? "pc-when-upcoming" : "pc-when-past");
      }
    });
    // upcoming first (soonest first), then past (latest first), then the unscheduled as they are
    var up = dated.filter(function (c) { return c.dataset.date >= today; })
                  .sort(function (a, b) { return a.dataset.date < b.dataset.date ? -1 : 1; });
    var past = dated.filter(function (c) { return c.dataset.date < today; })
                    .sort(function (a, b) { return a.dataset.date > b.dataset.date ? -1 : 1; });
    var rest = cards.filter(function (c) { return !c.dataset.date; });
    up.concat(past, rest).forEach(function (c) { grid.appendChild(c); });
  }

  // Click a figure to see it full size; click again or press Escape to close.
  function zoom() {
    document.querySelectorAll(".md-typeset img").forEach(function (img) {
      if (img.closest("a") || img.dataset.zoom) return;
      img.dataset.zoom = "1";
      img.classList.add("pc-zoomable");
      img.addEventListener("click", function () {
        var layer = document.createElement("div");
        layer.className = "pc-zoom";
        layer.setAttribute("role", "dialog");
        layer.setAttribute("aria-label", img.alt || "figure");
        var big = document.createElement("img");
        big.src = img.currentSrc || img.src;
        big.alt = img.alt;
        layer.appendChild(big);
        function close() { layer.remove(); document.removeEventListener("keydown", onKey); }
        function onKey(ev) { if (ev.key === "Escape") close(); }
        layer.addEventListener("click", close);
        document.addEventListener("keydown", onKey);
        document.body.appendChild(layer);
      });
    });
  }

  function setup() { tagFilter(); sessions(); zoom(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
