// The portal's service worker: the installed app's offline memory. It keeps the
// stylesheets, fonts and scripts, and the QR ticket pages the phone opened (nothing
// else: no account page is ever stored on the phone). Without a connection a ticket
// page comes from here — its last known state, which the page marks as such — and
// any other page is the "no connection" page. The live feed is never stored.
"use strict";
const CACHE = "aufruf-1";
const SHELL = ["/offline", "/assets/kern.css", "/assets/portal.css", "/assets/ticket.js"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

function keep(request, response) {
  if (response.ok) {
    const copy = response.clone();
    caches.open(CACHE).then((cache) => cache.put(request, copy));
  }
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.endsWith("/feed")) return;
  if (request.mode === "navigate") {
    const ticket = /^\/t\/[A-Za-z0-9]+$/.test(url.pathname);
    event.respondWith(
      fetch(request)
        .then((response) => (ticket ? keep(request, response) : response))
        .catch(() =>
          caches
            .match(request)
            .then((hit) => (ticket && hit) || caches.match("/offline"))
            .then((page) => page || Response.error()),
        ),
    );
    return;
  }
  if (url.pathname.startsWith("/assets/")) {
    event.respondWith(
      fetch(request)
        .then((response) => keep(request, response))
        .catch(() => caches.match(request).then((hit) => hit || Response.error())),
    );
  }
});
