// Start the deck: the 1280×760 canvas reveal scales to the screen, slide numbers, the speaker view (S).
Reveal.initialize({ hash: true, slideNumber: "c/t", width: 1280, height: 760, margin: 0.04,
                    plugins: [RevealNotes] });
// slides laid out only when shown: mark the wide equations of each as they appear (see katex-init.js)
["ready", "slidechanged"].forEach(function (ev) {
  Reveal.on(ev, function () { if (window.paperclubScrollable) window.paperclubScrollable(); });
});
