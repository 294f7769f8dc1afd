// Suggestions as the person types, for inputs with data-suggest (the
// identity form's birthplace): the server's search fills the input's
// <datalist>. Without this script the form's own search answers on submit.
'use strict';
(function () {
  for (const input of document.querySelectorAll('input[data-suggest]')) {
    const list = document.getElementById(input.getAttribute('list'));
    if (!list) continue;
    let timer = null;
    let asked = '';
    input.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const typed = input.value.trim();
        // A suggestion picked reads "Name (code)": nothing more to ask.
        if (typed.length < 2 || typed === asked || /\([0-9AB]{5}\)$/.test(typed)) return;
        asked = typed;
        try {
          const res = await fetch(input.dataset.suggest + '?q=' + encodeURIComponent(typed), {
            headers: { Accept: 'application/json' },
          });
          if (!res.ok || input.value.trim() !== typed) return;
          const found = await res.json();
          list.replaceChildren(...found.map((label) => {
            const option = document.createElement('option');
            option.value = label;
            return option;
          }));
        } catch (_) {
          // Offline or refused: the form still works without suggestions.
        }
      }, 250);
    });
  }
})();
