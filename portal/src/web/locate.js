// The ticket-by-phone form: when it is sent, the browser's position goes with it (the
// portal checks on its side that the citizen is near the office). The browser asks
// the citizen first; a refusal is said on the page, and nothing is sent.
"use strict";
(function () {
  const form = document.getElementById("remote-ticket");
  if (!form || !navigator.geolocation) return;
  const button = form.querySelector("button[type=submit]");
  const status = document.getElementById("remote-locating");
  let located = false;
  form.addEventListener("submit", (event) => {
    if (located) return;
    event.preventDefault();
    status.textContent = button.dataset.locating;
    navigator.geolocation.getCurrentPosition(
      (position) => {
        form.elements.latitude.value = String(position.coords.latitude);
        form.elements.longitude.value = String(position.coords.longitude);
        form.elements.accuracy.value = String(position.coords.accuracy);
        located = true;
        form.submit();
      },
      () => {
        status.textContent = button.dataset.denied;
      },
      { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 },
    );
  });
})();
