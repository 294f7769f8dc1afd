// Waiting page of the phone login: follows the approval by Server-Sent
// Events, falls back to polling, and reloads the page (which moves on) once
// the approval is decided. Without JavaScript the page refreshes itself.
(function () {
  'use strict';
  var status = document.getElementById('wait-status');
  if (!status) return;
  var tx = encodeURIComponent(status.getAttribute('data-tx'));
  var page = '/login/telephone/attente?tx=' + tx;
  var moved = false;
  function moveOn() {
    if (!moved) {
      moved = true;
      window.location.replace(page);
    }
  }
  function poll() {
    fetch('/login/telephone/etat?tx=' + tx, { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        if (body.state !== 'pending') moveOn(); else window.setTimeout(poll, 2000);
      })
      .catch(function () { window.setTimeout(poll, 4000); });
  }
  if ('EventSource' in window) {
    var events = new EventSource('/login/telephone/evenements?tx=' + tx);
    events.addEventListener('state', function (e) {
      if (e.data !== 'pending') {
        events.close();
        moveOn();
      }
    });
    events.onerror = function () {
      events.close();
      if (!moved) poll();
    };
  } else {
    poll();
  }
  // Once the request has expired, show the outcome without waiting.
  var expires = Number(status.getAttribute('data-expires')) * 1000;
  if (expires) {
    window.setTimeout(moveOn, Math.max(0, expires - Date.now()) + 1500);
  }
})();
