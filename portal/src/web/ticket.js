// The QR ticket page, live: the ticket's status arrives by server-sent events
// (`<page>/feed`) and replaces the page's text; when the call comes, the phone
// vibrates and chimes where the browser allows it. Without this script, or when the
// feed cannot be opened, the page's refresh link does the same by hand.
"use strict";
(function () {
  const headline = document.getElementById("ticket-headline");
  const detail = document.getElementById("ticket-detail");
  const box = document.getElementById("ticket-status");
  const live = document.getElementById("ticket-live");
  // The installed app's offline memory: this page's last state without a connection.
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
  const offline = document.getElementById("ticket-offline");
  if (offline) {
    const look = () => { offline.hidden = navigator.onLine; };
    look();
    window.addEventListener("offline", look);
    // Back online: the page as it is now.
    window.addEventListener("online", () => location.reload());
  }
  if (!headline || !window.EventSource) return;
  let called = box.classList.contains("portal-ticket-called");
  // Browsers let a page sound and vibrate only after a tap on it: the button asks.
  const alertButton = document.getElementById("ticket-alert");
  let audio = null;
  if (alertButton) {
    alertButton.hidden = false;
    alertButton.addEventListener("click", () => {
      try {
        audio = new (window.AudioContext || window.webkitAudioContext)();
      } catch (e) {
        audio = null;
      }
      alertButton.disabled = true;
      alertButton.querySelector(".kern-label").textContent = alertButton.dataset.on;
    });
  }
  const mayAlert = () =>
    navigator.userActivation ? navigator.userActivation.hasBeenActive : audio !== null;

  function chime() {
    if (!audio) return;
    try {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.setValueAtTime(0.2, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 1.2);
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 1.2);
    } catch (e) {
      // No audio here: the text and the vibration tell it.
    }
  }

  const feed = new EventSource(location.pathname.replace(/\/$/, "") + "/feed");
  let over = false;
  feed.addEventListener("open", () => { live.hidden = over; });
  feed.addEventListener("ticket", (event) => {
    const t = JSON.parse(event.data);
    headline.textContent = t.headline;
    detail.textContent = t.detail;
    box.classList.toggle("portal-ticket-called", t.called);
    if (t.called && !called && mayAlert()) {
      if (navigator.vibrate) navigator.vibrate([400, 150, 400]);
      chime();
    }
    called = t.called;
    if (t.over) {
      over = true;
      feed.close();
      // Nothing more will be called: no live notice, no sound to switch on.
      live.hidden = true;
      if (alertButton) alertButton.hidden = true;
      // Served: the page, loaded again, asks how it went.
      const asked = document.querySelector("form.portal-feedback") || document.getElementById("feedback-given");
      if (t.served && !asked) location.reload();
    }
  });
  feed.addEventListener("error", () => { live.hidden = true; });
})();
