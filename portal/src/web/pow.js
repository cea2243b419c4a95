// The proof of work of a form (register, book): as soon as the page is there, find the
// number whose SHA-256 together with the salt is the challenge (see src/pow.rs), and
// put the answer into the form's `pow` field. No interaction; a form sent before the
// answer is ready waits for it.
"use strict";
(function () {
  const encoder = new TextEncoder();
  const bytes = (hex) => Uint8Array.from(hex.match(/../g) || [], (h) => parseInt(h, 16));
  const same = (buffer, target) => {
    const a = new Uint8Array(buffer);
    for (let i = 0; i < target.length; i++) if (a[i] !== target[i]) return false;
    return true;
  };

  async function solve(salt, challenge, max) {
    const target = bytes(challenge);
    // Hash in batches: the digests of a batch run side by side.
    for (let start = 0; start <= max; start += 256) {
      const numbers = [];
      for (let n = start; n <= Math.min(max, start + 255); n++) numbers.push(n);
      const hashes = await Promise.all(
        numbers.map((n) => crypto.subtle.digest("SHA-256", encoder.encode(salt + n))),
      );
      const found = hashes.findIndex((h) => same(h, target));
      if (found >= 0) return numbers[found];
    }
    return null;
  }

  for (const input of document.querySelectorAll("input[name=pow][data-pow-challenge]")) {
    const form = input.form;
    const d = input.dataset;
    const started = performance.now();
    const ready = solve(d.powSalt, d.powChallenge, Number(d.powMax)).then((n) => {
      if (n !== null) input.value = d.powSalt + ":" + n + ":" + d.powSignature;
      d.powMs = String(Math.round(performance.now() - started));
    });
    let sending = false;
    form.addEventListener("submit", (event) => {
      if (input.value) return;
      event.preventDefault();
      if (sending) return;
      sending = true;
      form.setAttribute("aria-busy", "true");
      // `submit()` sends without another submit event.
      ready.finally(() => form.submit());
    });
  }
})();
