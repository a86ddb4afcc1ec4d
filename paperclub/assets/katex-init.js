// Typeset the math that pymdownx.arithmatex marked (\( … \) inline, \[ … \] display) with KaTeX,
// served from this site. Only .arithmatex elements are touched, so code and notebook output never are.
(function () {
  function typeset(root) {
    if (!window.renderMathInElement) return;
    (root || document).querySelectorAll(".arithmatex:not([data-typeset])").forEach(function (el) {
      renderMathInElement(el, {
        delimiters: [{ left: "\\(", right: "\\)", display: false }, { left: "\\[", right: "\\]", display: true }],
        throwOnError: false,
        trust: false
      });
      el.setAttribute("data-typeset", "1");
    });
    scrollable();
    document.documentElement.setAttribute("data-math-typeset", "1");
  }
  // A display wider than its column (or a notebook output taller than its box) scrolls: it takes keyboard
  // focus then, so a reader without a mouse can scroll it too (WCAG 2.1.1); one that fits is no tab stop.
  function scrollable() {
    document.querySelectorAll(".katex-display, pre.pc-output").forEach(function (d) {
      var tall = d.tagName === "PRE" && d.scrollHeight > d.clientHeight + 1;   // displays clip vertically
      if (d.scrollWidth > d.clientWidth + 1 || tall) d.setAttribute("tabindex", "0");
      else d.removeAttribute("tabindex");
    });
  }
  window.addEventListener("load", function () { scrollable(); });   // KaTeX's fonts change the widths
  if (document.fonts && document.fonts.ready) document.fonts.ready.then(function () { scrollable(); });
  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(scrollable, 150);
  });
  window.paperclubTypeset = typeset;
  window.paperclubScrollable = scrollable;
  typeset();  // scripts load at the end of <body>: the page is already parsed
})();
