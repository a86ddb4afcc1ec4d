// Start the deck: the 1280×760 canvas reveal scales to the screen, slide numbers, the speaker view (S).
Reveal.initialize({ hash: true, slideNumber: "c/t", width: 1280, height: 760, margin: 0.04,
                    plugins: [RevealNotes] });
