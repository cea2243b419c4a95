// A citizen in a real browser (headless Chromium) on a running portal: registers,
// confirms the address from the mail, logs in, books an appointment by clicking through
// departments, services, days and times, opens the booking and its QR code, cancels it,
// waits for a fully booked day and stops waiting, switches to English, resets the password from the mail, and deletes the account.
// On every page: axe-core finds no WCAG 2.1 A/AA violation, the browser reports no
// error (a style, font or script the CSP refuses, a failed load), no script runs but
// the proof of work's (which solves the register and booking forms' challenge without
// any interaction), and at phone width nothing is wider than the screen.
//
// Run by `node/tests/portal_browser.rs` against a gateway it starts;
// by hand: PORTAL_URL=http://127.0.0.1:8080 PORTAL_OUTBOX=<dir> node portal/e2e/citizen.mjs.
// With PORTAL_WALKTHROUGH set, the demo's walk-through instead (`node/tests/demo_walkthrough.rs`).

import { createHmac } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Browser } from "./cdp.mjs";

const base = process.env.PORTAL_URL;
const outbox = process.env.PORTAL_OUTBOX;
if (!base || !outbox) {
  console.error("PORTAL_URL and PORTAL_OUTBOX must name the portal and its mail folder");
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const axeSource = readFileSync(join(here, "..", "node_modules", "axe-core", "axe.min.js"), "utf8");

let checkedPages = 0;

function fail(message) {
  throw new Error(message);
}

/** What every page must hold; `name` says which page in a failure. */
/** The link of the second day offered, or the only one: the first may be today or
 * the first day past the booking lead, with only its last minutes left (the test
 * runs at any hour). */
async function fullDay(page, prefix) {
  const href = await page.eval(
    `(() => { const a = [...document.querySelectorAll('main a[href^=${JSON.stringify(prefix)}]')]; return (a[1] ?? a[0])?.getAttribute("href"); })()`,
  );
  if (!href) fail(`no day offered on ${await page.path()}`);
  return `main a[href="${href}"]`;
}

async function checkPage(page, name, { status = 200, lang = "de", blocked = undefined } = {}) {
  if (page.status !== status) fail(`${name}: status ${page.status}, expected ${status}`);
  const facts = await page.eval(`({
    lang: document.documentElement.lang,
    scripts: [...document.scripts].map(s => s.getAttribute("src")),
    pow: !!document.querySelector("input[name=pow]"),
    ticket: !!document.getElementById("ticket-status"),
    locate: !!document.getElementById("remote-ticket"),
    title: document.title,
    h1: document.querySelectorAll("h1").length,
    skip: document.querySelector("a.portal-skip")?.getAttribute("href"),
    main: !!document.querySelector("main#main"),
    wide: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    fontsLoaded: document.fonts.status,
  })`);
  if (facts.lang !== lang) fail(`${name}: lang="${facts.lang}", expected ${lang}`);
  // No script but the proof of work's, and that only on the forms it guards; and the
  // QR ticket page's feed reader.
  const expected = facts.pow
    ? ["/assets/pow.js"]
    : facts.ticket
      ? ["/assets/ticket.js"]
      : facts.locate
        ? ["/assets/locate.js"]
        : [];
  if (facts.scripts.join() !== expected.join()) fail(`${name}: scripts ${facts.scripts}`);
  if (!facts.title) fail(`${name}: no title`);
  if (facts.h1 !== 1) fail(`${name}: ${facts.h1} h1 headings`);
  if (facts.skip !== "#main" || !facts.main) fail(`${name}: no skip link to main`);
  if (facts.wide > 0) fail(`${name}: ${facts.wide} px wider than the screen`);
  const headers = page.headers ?? {};
  const csp = headers["content-security-policy"] ?? headers["Content-Security-Policy"] ?? "";
  if (!csp.includes("default-src 'none'") || csp.includes("unsafe-inline")) {
    fail(`${name}: CSP "${csp}"`);
  }
  await page.eval("document.fonts.ready.then(() => true)");
  await page.eval(axeSource);
  const violations = await page.eval(`axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    }).then(r => r.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ") + " — " + n.failureSummary),
    })))`);
  if (violations.length > 0) {
    const listing = violations
      .map((v) => `  ${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.join("\n    ")}`)
      .join("\n");
    fail(`${name}: axe finds ${violations.length} WCAG 2.1 A/AA violations:\n${listing}`);
  }
  // The page's own status (checked above) is logged as a failed load when it is 4xx.
  const problems = page.problems
    .filter((p) => p.url !== page.url && !p.url?.endsWith("/favicon.ico"))
    .filter((p) => !(blocked && p.url?.includes(blocked)))
    .map((p) => p.text);
  if (problems.length > 0) fail(`${name}: the browser reports\n  ${problems.join("\n  ")}`);
  page.problems = [];
  checkedPages += 1;
  if (process.env.PORTAL_SCREENSHOTS) {
    const { data } = await page.send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true });
    const file = `${String(checkedPages).padStart(2, "0")}-${name.replace(/[^a-z0-9]+/gi, "-")}.png`;
    writeFileSync(join(process.env.PORTAL_SCREENSHOTS, file), Buffer.from(data, "base64"));
  }
  console.log(`ok   ${name} (${await page.path()})`);
}

/** The newest link in the outbox that starts with `path`. */
function linkFromMail(path) {
  const prefix = `${base}${path}`;
  const mails = readdirSync(outbox)
    .filter((f) => f.endsWith(".eml"))
    .sort()
    .map((f) => readFileSync(join(outbox, f), "utf8"));
  for (const mail of mails.reverse()) {
    const start = mail.indexOf(prefix);
    if (start >= 0) return mail.slice(start).split(/\s/)[0];
  }
  fail(`no mail with a link to ${path} in ${outbox}`);
}

async function expectText(page, name, ...texts) {
  const body = await page.text();
  for (const t of texts) if (!body.includes(t)) fail(`${name}: "${t}" not on the page:\n${body}`);
}

/** The page's script has answered its proof of work by itself; says how long it took. */
async function powSolved(page, name) {
  const started = Date.now();
  const answer = await page.eval(`new Promise((resolve) => {
      const input = document.querySelector("input[name=pow]");
      const look = () => (input.value ? resolve(input.value) : setTimeout(look, 20));
      look();
    })`);
  const d = await page.eval(`({ ...document.querySelector("input[name=pow]").dataset })`);
  if (!answer.startsWith(d.powSalt + ":")) fail(`${name}: proof of work answered "${answer}"`);
  const number = answer.split(":").at(-2);
  console.log(
    `     ${name}: the page solved its proof of work (number ${number} of ${d.powMax}) ` +
      `in ${d.powMs} ms; ready ${Date.now() - started} ms after the fields were filled`,
  );
}

/** The accessibility check is alive: a field without a label on the page is found. */
async function axeFindsAnUnlabelledField(page) {
  await page.eval(axeSource);
  const ids = await page.eval(`(() => {
      const probe = document.createElement("input");
      probe.id = "axe-probe";
      document.querySelector("main").append(probe);
      return axe.run(document, { runOnly: { type: "tag", values: ["wcag2a"] } })
        .then(r => { probe.remove(); return r.violations.map(v => v.id); });
    })()`);
  if (!ids.includes("label")) fail(`axe misses an unlabelled field (found: ${ids})`);
}

/**
 * A kiosk ticket's QR page on a phone (`PORTAL_TICKET`, its path): it shows the
 * ticket, opens its live feed, and shows the call by itself when the desk
 * (`PORTAL_DESK_API`) calls next.
 */
async function ticketPage(browser) {
  const phone = await browser.newPage({ separate: true });
  await phone.viewport(360, 740, true);
  await phone.goto(`${base}${process.env.PORTAL_TICKET}`);
  await checkPage(phone, "QR ticket page");
  await expectText(phone, "QR ticket page", "Ihre Wartemarke", "Sie sind als Nächste an der Reihe");
  // The ticket page's service worker keeps it for the offline app.
  await phone.eval("navigator.serviceWorker.ready.then(() => true)");
  // The page says it follows by itself once its feed is open.
  await phone.eval(`new Promise((resolve) => {
      const live = document.getElementById("ticket-live");
      const look = () => (live.hidden ? setTimeout(look, 20) : resolve(true));
      look();
    })`);
  // The citizen asks for sound and vibration (browsers allow both after a tap only).
  await phone.tap("#ticket-alert");
  const alertOn = await phone.eval(`document.getElementById("ticket-alert").disabled`);
  if (!alertOn) fail("the sound-and-vibration button did not switch on");
  // The page may take this in after the desk's call has already reached it (the
  // call and this script's request race to the tab): then the call is on it already.
  const called = phone.eval(`new Promise((resolve) => {
      const h = document.getElementById("ticket-headline");
      const look = () => { if (h.textContent.startsWith("Bitte zu")) resolve(h.textContent); };
      new MutationObserver(look).observe(h, { childList: true, characterData: true, subtree: true });
      look();
    })`);
  const answer = await fetch(`${process.env.PORTAL_DESK_API}/call-next`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  if (answer.status !== 200) fail(`the desk's call-next answered ${answer.status}`);
  const started = Date.now();
  const headline = await called;
  console.log(`     QR ticket page: "${headline}" shown ${Date.now() - started} ms after the desk's call`);
  if (!(await phone.eval(`document.getElementById("ticket-status").classList.contains("portal-ticket-called")`))) {
    fail("the called ticket is not marked");
  }
  await checkPage(phone, "QR ticket page, called", { lang: "de" });

  // Served and done at the desk: the page loads again by itself and asks how it went.
  await phone.loading("the ticket page loading again once the visit is done", async () => {
    for (const action of ["serving", "done"]) {
      const r = await fetch(`${process.env.PORTAL_DESK_API}/${action}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      if (r.status !== 200) fail(`the desk's ${action} answered ${r.status}`);
    }
  });
  await checkPage(phone, "QR ticket page, done, asks for feedback");
  const number = await phone.text(".portal-ticket-number");
  await phone.eval(`document.getElementById("rating-4").click()`);
  await phone.type("#comment", "Freundlich und schnell.");
  await phone.click('form.portal-feedback button[type="submit"]');
  await checkPage(phone, "feedback thanks");
  await expectText(phone, "feedback thanks", "Danke für Ihre Rückmeldung");

  // Without a connection the app shows the ticket's last known state, marked so.
  // Offline for the page and for its service worker (a target of its own).
  const { targetInfos } = await browser.send("Target.getTargets");
  const phoneTarget = targetInfos.find((t) => t.type === "page" && t.url.includes(process.env.PORTAL_TICKET));
  const worker = targetInfos.find(
    (t) => t.type === "service_worker" && t.url.endsWith("/sw.js") && t.browserContextId === phoneTarget?.browserContextId,
  );
  if (!worker) fail("the ticket page's service worker is not running");
  const { sessionId: workerSession } = await browser.send("Target.attachToTarget", {
    targetId: worker.targetId,
    flatten: true,
  });
  // Every request the worker sends fails as on a phone without a connection.
  const stopFailing = browser.listen((m) => {
    if (m.method === "Fetch.requestPaused" && m.sessionId === workerSession) {
      browser
        .send("Fetch.failRequest", { requestId: m.params.requestId, errorReason: "InternetDisconnected" }, workerSession)
        .catch(() => {});
    }
  });
  await browser.send("Fetch.enable", { patterns: [{ urlPattern: "*" }] }, workerSession);
  const network = (offline) => ({ offline, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await phone.send("Network.emulateNetworkConditions", network(true));
  const controlled = await phone.eval("!!navigator.serviceWorker.controller");
  if (!controlled) fail("the ticket page is not in the service worker's care");
  await phone.goto(`${base}${process.env.PORTAL_TICKET}`);
  if ((await phone.text(".portal-ticket-number").catch(() => "")) !== number) {
    fail(`offline, the ticket page shows no ${number} but ${await phone.text("body")}`);
  }
  if (await phone.eval(`document.getElementById("ticket-offline").hidden`)) {
    fail("offline, the ticket page does not say so");
  }
  // Any other page is the "no connection" page. Asked for from a blank tab: asked for
  // from the offline ticket page, that page now and then loads itself again and
  // cancels the navigation (seen on CI and here 2 times in 3 since 2026-11-27; cause
  // not found: neither its "online" handler nor its feed fired).
  await phone.goto("about:blank");
  await phone.goto(`${base}/book`);
  await expectText(phone, "offline page", "Keine Verbindung");
  await browser.send("Fetch.disable", {}, workerSession);
  stopFailing();
  await phone.send("Network.emulateNetworkConditions", network(false));
  console.log(`     QR ticket page: offline it shows ${number} from the app's memory`);
}

/** The code an authenticator app shows for `secret` (base32) in 30-second step `step`
 * (RFC 6238: HMAC-SHA-1, six digits). */
function totp(secret, step) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const key = [];
  let bits = 0;
  let value = 0;
  for (const c of secret) {
    value = ((value << 5) | alphabet.indexOf(c)) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      key.push((value >>> bits) & 0xff);
    }
  }
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const h = createHmac("sha1", Buffer.from(key)).update(counter).digest();
  const o = h[19] & 0x0f;
  const n = (((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3]) % 1000000;
  return String(n).padStart(6, "0");
}

/**
 * An admin invited by city IT (`PORTAL_ADMIN_SETUP`, the invitation's link, for
 * `PORTAL_ADMIN_EMAIL`): sets a password and the second factor from the page's QR
 * code's key, logs in with the app's next code, opens every admin page, renames
 * Reisepass (`PORTAL_ADMIN_RENAME`), which the test then finds at the kiosk, sends
 * opening hours with a mistake, and logs out.
 */
async function adminPages(browser) {
  const page = await browser.newPage();
  const email = process.env.PORTAL_ADMIN_EMAIL;
  const password = "Verwaltung am Altmarkt 7";
  await page.goto(process.env.PORTAL_ADMIN_SETUP);
  await checkPage(page, "admin set-up");
  const loaded = await page.eval(`document.querySelector("main img").naturalWidth`);
  if (!(loaded > 0)) fail("the set-up page's QR code did not load");
  const secret = (await page.text("main code")).trim();
  const step = Math.floor(Date.now() / 30000);
  await page.type("#password", password);
  await page.type("#code", totp(secret, step));
  await page.click('form[action^="/admin/setup/"] button[type="submit"]');
  await checkPage(page, "admin access set up");
  await expectText(page, "admin access set up", "Zugang eingerichtet");

  await page.goto(`${base}/admin/login`);
  await checkPage(page, "admin login");
  await page.type("#email", email);
  await page.type("#password", password);
  // The set-up spent this step's code: the app's next one.
  await page.type("#code", totp(secret, step + 1));
  await page.click('form[action="/admin/login"] button[type="submit"]');
  if ((await page.path()) !== "/admin") fail(`the admin login leads to ${await page.path()}`);
  await checkPage(page, "admin overview");
  await expectText(page, "admin overview", email);
  for (const [path, name] of [
    ["/admin/hours", "admin opening hours"],
    ["/admin/holidays", "admin holidays"],
    ["/admin/notices", "admin notices"],
    ["/admin/cancel", "admin cancel an appointment"],
    ["/admin/statistics", "admin statistics"],
    ["/admin/texts", "admin texts"],
    ["/admin/texts/datenschutz", "admin privacy text"],
    ["/admin/services", "admin services"],
    ["/admin/desks", "admin desks"],
    ["/admin/appointments", "admin appointment capacity"],
  ]) {
    await page.goto(`${base}${path}`);
    await checkPage(page, name);
  }
  await page.goto(`${base}/admin/statistics`);
  await expectText(page, "admin statistics", "Nach Dienstleistung", "An- und Ummeldung");
  if (!(await page.eval(`!!document.querySelector("figure svg rect")`))) fail("no chart on the statistics page");
  await page.goto(`${base}/admin/services`);
  await page.type('[id="de.reisepass"]', process.env.PORTAL_ADMIN_RENAME);
  await page.click('form[action="/admin/services"] button[type="submit"]');
  await checkPage(page, "admin services published");
  await expectText(page, "admin services published", "Veröffentlicht als Revision");

  await page.goto(`${base}/admin/hours`);
  await page.type('[id="tue.buergerbuero"]', "8 bis 12");
  await page.click('form[action="/admin/hours"] button[type="submit"]');
  await checkPage(page, "admin opening hours with a mistake", { status: 422 });
  const invalid = await page.eval(`document.getElementById("tue.buergerbuero").getAttribute("aria-invalid")`);
  if (invalid !== "true") fail("the wrong field is not marked");

  // A desk left with no service: its boxes, unticked with the mouse, are named.
  await page.goto(`${base}/admin/desks`);
  const ticked = await page.eval(
    `[...document.querySelectorAll('input[type=checkbox][id^="svc.desk-2."]:checked')].map((b) => b.id)`,
  );
  if (ticked.length === 0) fail("desk 2 shows no ticked service");
  for (const id of ticked) {
    await page.eval(`document.getElementById(${JSON.stringify(id)}).scrollIntoView({ block: "center", behavior: "instant" })`);
    await page.tap(`[id="${id}"]`);
  }
  if (await page.eval(`!!document.querySelector('input[id^="svc.desk-2."]:checked')`)) fail("a tap does not untick a service");
  await page.click('form[action="/admin/desks"] button[type="submit"]');
  await checkPage(page, "admin desks with a mistake", { status: 422 });
  const described = await page.eval(`document.getElementById("services.desk-2").getAttribute("aria-describedby") ?? ""`);
  if (!described.includes("services.desk-2-error")) fail("the desk's services do not name their error");

  await page.click('form[action="/admin/logout"] button');
  await page.goto(`${base}/admin`);
  if ((await page.path()) !== "/admin/login") fail("the admin pages open after logout");
}

/** Registers `email` (the form's proof of work solved by its script) and confirms
 * the address with the mailed link. */
async function register(page, email, password) {
  await page.goto(`${base}/register`);
  await page.type("#email", email);
  await page.type("#password", password);
  await powSolved(page, "register");
  await page.click('form[action="/register"] button[type="submit"]');
  await checkPage(page, "registered");
  await expectText(page, "registered", email);
  await page.goto(linkFromMail("/verify?token="));
  await checkPage(page, "address confirmed");
}

async function logIn(page, email, password) {
  await page.goto(`${base}/login`);
  await page.type("#email", email);
  await page.type("#password", password);
  await page.click('form[action="/login"] button[type="submit"]');
  if ((await page.path()) !== "/account") fail(`login leads to ${await page.path()}`);
  await checkPage(page, "account");
}

/** A ticket by phone, standing near the office (the browser's position is set, and
 * the citizen allowed the page to use it). */
async function ticketByPhone(browser, page) {
  await browser.send("Browser.grantPermissions", { permissions: ["geolocation"], origin: base });
  const draw = async (latitude, longitude) => {
    await page.send("Emulation.setGeolocationOverride", { latitude, longitude, accuracy: 25 });
    await page.goto(`${base}/ticket`);
    await checkPage(page, "ticket by phone");
    await page.eval(`document.querySelector('input[name="service"][value="anmeldung"]').click()`);
    await page.click('#remote-ticket button[type="submit"]');
  };
  // From Leipzig, 40 km away: refused, with the distance named.
  await draw(51.3397, 12.3731);
  await checkPage(page, "ticket by phone, too far away", { status: 422 });
  await expectText(page, "ticket by phone, too far away", "km vom Amt entfernt");
  // At the office's door.
  await draw(51.0481, 12.1386);
  const drawn = await page.path();
  if (!drawn.startsWith("/t/")) {
    fail(`drawing a ticket by phone leads to ${drawn} (${page.status}): ${await page.text("main")}`);
  }
  await checkPage(page, "ticket by phone: its page");
  await expectText(page, "ticket by phone: its page", "Ihre Wartemarke", "An- und Ummeldung");
  const number = await page.text(".portal-ticket-number");
  console.log(`     ticket by phone: ${number}`);
  await page.send("Emulation.clearGeolocationOverride");
}

/**
 * The demo's walk-through (`PORTAL_WALKTHROUGH`), as a newcomer tries it: the
 * printed ticket's QR page (`PORTAL_TICKET`, read from the picture) on a phone,
 * called live; a citizen who registers and draws a ticket by phone; an admin who
 * renames a service (the kiosk's side is the caller's to check).
 */
async function walkthrough(browser) {
  await ticketPage(browser);
  // In the browser's own context: the position's permission is granted there.
  const page = await browser.newPage();
  await page.viewport(360, 740, true);
  const email = `neu.${process.pid}@example.org`;
  const password = "Erster Besuch im Amt 2026";
  await register(page, email, password);
  await logIn(page, email, password);
  await ticketByPhone(browser, page);
  await adminPages(browser);
}

async function run(browser) {
  // `browser` opens a second tab below: the mail read on a phone.
  const page = await browser.newPage();
  await page.viewport(1280, 900, false);
  const email = `erika.${process.pid}@example.org`;
  const password = "Sommer im Stadtpark 2026";

  await page.goto(`${base}/`);
  await axeFindsAnUnlabelledField(page);
  await checkPage(page, "home");
  // An app without an app store: Chromium finds the portal installable.
  const { installabilityErrors } = await page.send("Page.getInstallabilityErrors");
  if (installabilityErrors.length > 0) {
    fail(`the portal is not installable: ${JSON.stringify(installabilityErrors)}`);
  }

  // The first Tab reaches the skip link; Enter moves the focus to the content.
  await page.press("Tab");
  const focused = await page.eval("document.activeElement.className");
  if (!focused.includes("portal-skip")) fail(`first Tab focuses "${focused}", not the skip link`);
  await page.press("Enter");
  const afterSkip = await page.eval("document.activeElement.id");
  if (afterSkip !== "main") fail(`the skip link moves the focus to "${afterSkip}", not to main`);

  // Register: an empty form names both fields, tied to them.
  await page.click('a[href="/register"]');
  await checkPage(page, "register");
  await page.click('form[action="/register"] button[type="submit"]');
  await checkPage(page, "register with errors", { status: 422 });
  const tied = await page.eval(`["email", "password"].map(id => {
      const input = document.getElementById(id);
      const ids = (input.getAttribute("aria-describedby") || "").split(" ");
      return input.getAttribute("aria-invalid") === "true"
        && ids.some(i => document.getElementById(i)?.classList.contains("kern-error"));
    })`);
  if (!tied.every(Boolean)) fail(`register: errors not tied to their fields (${tied})`);
  const summary = await page.eval(
    `[...document.querySelectorAll('[role="alert"] a')].map(a => a.getAttribute("href"))`,
  );
  if (summary.join() !== "#email,#password") fail(`error summary links ${summary}`);

  // Without the proof of work's script (blocked, as by a browser without JavaScript)
  // the form comes back with the reason, and nothing is sent.
  await page.send("Network.setBlockedURLs", { urls: ["*/assets/pow.js"] });
  await page.goto(`${base}/register`);
  await page.type("#email", email);
  await page.type("#password", password);
  await page.click('form[action="/register"] button[type="submit"]');
  await checkPage(page, "register without the script", { status: 422, blocked: "pow.js" });
  await expectText(page, "register without the script", "Sicherheitsprüfung nicht ausgeführt");
  await page.send("Network.setBlockedURLs", { urls: [] });
  await register(page, email, password);

  // Login with a wrong password, then the right one.
  await page.goto(`${base}/login`);
  await checkPage(page, "login");
  await page.type("#email", email);
  await page.type("#password", "falsch falsch falsch");
  await page.click('form[action="/login"] button[type="submit"]');
  await checkPage(page, "login refused", { status: 401 });
  await logIn(page, email, password);

  // Book by clicking: departments → service → day → time.
  await page.click('nav a[href="/book"]');
  await checkPage(page, "departments");
  await page.click('main a[href^="/book/department/"]');
  await checkPage(page, "services");
  await page.click('main a[href="/book/service/reisepass"]');
  await checkPage(page, "days");
  // A second matter in the same appointment: the days of both.
  await page.click('main a[href="/book/service/reisepass?also=personalausweis"]');
  await checkPage(page, "days of two services");
  await expectText(page, "days of two services", "Reisepass, Personalausweis – etwa 16 Minuten");
  await page.click(await fullDay(page, "/book/service/reisepass?also=personalausweis&day="));
  await checkPage(page, "times");
  const timesPath = await page.path();
  const time = await page.eval(
    `(() => { const r = document.querySelector('input[name="time"]'); r.click(); return r.value; })()`,
  );
  await powSolved(page, "times");
  await page.click('form[action="/book"] button[type="submit"]');
  const bookingPath = await page.path();
  let code = bookingPath.match(/^\/bookings\/([^?]+)\?new=1$/)?.[1];
  if (!code) fail(`booking leads to ${bookingPath}`);
  await checkPage(page, "booked");
  await expectText(page, "booked", code, time, "Reisepass, Personalausweis");
  const qr = await page.eval(
    `new Promise(r => { const i = document.querySelector("img.portal-qr"); i.complete ? r(i.naturalWidth) : i.onload = () => r(i.naturalWidth); })`,
  );
  if (!(qr > 0)) fail("the booking's QR code does not load");
  if (!linkFromMail("/").length) fail("no mail");
  const mails = readdirSync(outbox).map((f) => readFileSync(join(outbox, f), "utf8"));
  if (!mails.some((m) => m.includes(code))) fail(`no confirmation mail names ${code}`);

  // Move it to another time: a new code, the old one cancelled.
  await page.click(`main a[href="/bookings/${code}/move"]`);
  await checkPage(page, "move: days");
  await page.click(await fullDay(page, `/bookings/${code}/move?day=`));
  await checkPage(page, "move: times");
  const movedTime = await page.eval(
    `(() => { const r = document.querySelectorAll('input[name="time"]')[2]; r.click(); return r.value; })()`,
  );
  await powSolved(page, "move");
  await page.click(`form[action="/bookings/${code}/move"] button[type="submit"]`);
  const moved = (await page.path()).match(/^\/bookings\/([^?]+)\?new=1$/)?.[1];
  if (!moved || moved === code) fail(`moving leads to ${await page.path()}`);
  await checkPage(page, "moved");
  await expectText(page, "moved", moved, movedTime, "Reisepass, Personalausweis");
  code = moved;

  await page.click('a[href="/account"]');
  await checkPage(page, "account with a booking");
  await expectText(page, "account with a booking", code);

  // Cancel it.
  await page.click(`main a[href="/bookings/${code}"]`);
  await checkPage(page, "booking");
  await page.click(`form[action="/bookings/${code}/cancel"] button`);
  await checkPage(page, "booking cancelled");
  const canCancel = await page.eval(`!!document.querySelector('form[action$="/cancel"]')`);
  if (canCancel) fail("a cancelled booking still offers to cancel");

  // Another appointment, cancelled with the link in its mail, in a browser that is not
  // logged in (the mail read on a phone).
  await page.goto(`${base}${timesPath}`);
  const second = await page.eval(
    `(() => { const r = document.querySelectorAll('input[name="time"]')[1]; r.click(); return r.value; })()`,
  );
  await powSolved(page, "second booking");
  await page.click('form[action="/book"] button[type="submit"]');
  const secondCode = (await page.path()).match(/^\/bookings\/([^?]+)\?new=1$/)?.[1];
  if (!secondCode) fail(`the second booking leads to ${await page.path()}`);
  const cancelLink = linkFromMail(`/c/${secondCode}/`);
  const phone = await browser.newPage({ separate: true });
  await phone.viewport(360, 740, true);
  await phone.goto(cancelLink);
  await checkPage(phone, "cancel link (not logged in)");
  if (await phone.eval(`!!document.querySelector('a[href="/login"]')`) !== true) {
    fail("the phone's browser is logged in");
  }
  await expectText(phone, "cancel link (not logged in)", secondCode, second);
  await phone.click("main form button");
  await checkPage(phone, "cancelled by the link");
  await expectText(phone, "cancelled by the link", "abgesagt");
  await phone.goto(cancelLink);
  await checkPage(phone, "cancel link again");
  if (await phone.eval(`!!document.querySelector("main form")`)) fail("a cancelled booking's link still offers to cancel");

  await ticketByPhone(browser, page);
  await page.goto(`${base}/account`);

  // A fully booked day (the Kita department takes one appointment per start time
  // here): the citizen books every time of a day, then waits for it, and stops.
  await page.goto(`${base}/book/service/kita-platz`);
  await checkPage(page, "Kita days");
  await page.click(await fullDay(page, "/book/service/kita-platz?day="));
  const kitaDay = await page.path();
  for (let booked = 0; ; booked++) {
    await page.goto(`${base}${kitaDay}`);
    const left = await page.eval(`document.querySelectorAll('input[name="time"]').length`);
    if (left === 0) break;
    if (booked >= 12) fail(`${kitaDay} still offers times after ${booked} bookings`);
    await page.eval(`document.querySelector('input[name="time"]').click()`);
    await powSolved(page, "Kita times");
    await page.click('form[action="/book"] button[type="submit"]');
    if (!(await page.path()).startsWith("/bookings/")) {
      fail(`booking on ${kitaDay} leads to ${await page.path()}: ${await page.text("main")}`);
    }
  }
  await checkPage(page, "fully booked day");
  await page.click('form[action="/book/waitlist"] button[type="submit"]');
  await checkPage(page, "on the waitlist");
  await expectText(page, "on the waitlist", "Sie stehen auf der Warteliste", "Kita-Platz");
  await page.click('main a[href="/account"]');
  await checkPage(page, "account with a waitlist");
  await expectText(page, "account with a waitlist", "Ihre Wartelisten");
  await page.click('form[action="/account/waitlist/leave"] button');
  await checkPage(page, "account after leaving the waitlist");
  if ((await page.text("main")).includes("Ihre Wartelisten")) fail("the waitlist stays after leaving it");

  // English, and back.
  await page.click('nav a[href^="/lang?to=en"]');
  await checkPage(page, "account in English", { lang: "en" });
  await page.goto(`${base}/account/password`);
  await checkPage(page, "change password (English)", { lang: "en" });
  await page.click('nav a[href^="/lang?to=de"]');
  await checkPage(page, "change password", { lang: "de" });

  // The pages every public website has, linked from every page's footer.
  for (const path of ["/impressum", "/datenschutz", "/barrierefreiheit", "/leichte-sprache", "/gebaerdensprache"]) {
    await page.click(`footer a[href="${path}"]`);
    await checkPage(page, `legal ${path}`);
  }
  await page.goto(`${base}/barrierefreiheit`);
  await page.type("#description", "Die Zeitauswahl ist am Handy schwer zu treffen.");
  await page.click('form[action="/barrierefreiheit"] button[type="submit"]');
  await checkPage(page, "barrier reported");

  // A phone: the same pages fit its width.
  await page.viewport(360, 740, true);
  for (const path of ["/", "/account", "/book", "/book/service/reisepass", `/bookings/${code}`]) {
    await page.goto(`${base}${path}`);
    await checkPage(page, `phone ${path}`);
  }
  await page.viewport(1280, 900, false);

  // Log out; the account is closed to this browser.
  await page.click('form[action="/logout"] button');
  await page.goto(`${base}/account`);
  if ((await page.path()).startsWith("/account")) fail("the account page opens after logout");

  // Forgotten password: the mail's link sets a new one.
  await page.goto(`${base}/reset`);
  await checkPage(page, "reset");
  await page.type("#email", email);
  await page.click('form[action="/reset"] button[type="submit"]');
  await checkPage(page, "reset requested");
  await page.goto(linkFromMail("/reset/confirm?token="));
  await checkPage(page, "new password");
  const newPassword = "Herbst am Marktplatz 2027";
  await page.type("#new_password", newPassword);
  await page.click('form[action="/reset/confirm"] button[type="submit"]');
  await checkPage(page, "password set");
  await page.goto(`${base}/login`);
  await page.type("#email", email);
  await page.type("#password", newPassword);
  await page.click('form[action="/login"] button[type="submit"]');
  if ((await page.path()) !== "/account") fail(`login with the new password leads to ${await page.path()}`);

  // Delete the account.
  await page.goto(`${base}/account/delete`);
  await checkPage(page, "delete account");
  await page.type("#password", newPassword);
  await page.click('form[action="/account/delete"] button[type="submit"]');
  await checkPage(page, "account deleted");
  await page.goto(`${base}/login`);
  await page.type("#email", email);
  await page.type("#password", newPassword);
  await page.click('form[action="/login"] button[type="submit"]');
  await checkPage(page, "login after deletion", { status: 401 });
}

const browser = await Browser.launch(
  process.env.CHROMIUM || "chromium",
  process.env.PORTAL_BROWSER_PROFILE,
);
try {
  if (process.env.PORTAL_WALKTHROUGH) {
    await walkthrough(browser);
  } else {
    await run(browser);
    if (process.env.PORTAL_TICKET && process.env.PORTAL_DESK_API) await ticketPage(browser);
    if (process.env.PORTAL_ADMIN_SETUP) await adminPages(browser);
  }
  console.log(`citizen: ${checkedPages} pages checked, all pass`);
} catch (e) {
  console.error(`citizen: FAILED: ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
