// A small client for the Chrome DevTools Protocol over `--remote-debugging-pipe`:
// Chromium reads commands from fd 3 and writes answers and events to fd 4, each a JSON
// text ended by a NUL byte. No WebSocket, no npm package, any Node from 18 on.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** How long one command or one awaited event may take before the test fails. */
const STEP_MS = 20_000;

export class Browser {
  /**
   * Starts headless Chromium (`binary`, default `chromium`) with an empty profile in
   * `profile` (left for its owner to remove), or in a new temporary folder removed on close.
   */
  static async launch(binary = "chromium", profile = undefined) {
    const owned = !profile;
    profile ??= mkdtempSync(join(tmpdir(), "aufruf-chromium-"));
    const proc = spawn(
      binary,
      [
        "--headless",
        "--remote-debugging-pipe",
        "--no-sandbox", // CI runs as root, where Chromium's sandbox refuses to start
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--lang=de-DE",
        `--user-data-dir=${profile}`,
        "about:blank",
      ],
      // Its own process group, so closing ends the renderers and helpers too.
      { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"], detached: true },
    );
    const browser = new Browser(proc, owned ? profile : undefined);
    await new Promise((resolve, reject) => {
      proc.once("spawn", resolve);
      proc.once("error", (e) =>
        reject(new Error(`cannot start ${binary} (scripts/setup.sh installs it): ${e.message}`)),
      );
    });
    await browser.send("Target.setDiscoverTargets", { discover: true });
    return browser;
  }

  constructor(proc, profile) {
    this.proc = proc;
    this.profile = profile;
    this.nextId = 1;
    this.pending = new Map();
    this.waiters = [];
    this.stderr = "";
    proc.stdio[2].on("data", (d) => {
      this.stderr = (this.stderr + d).slice(-4000);
    });
    let buffered = Buffer.alloc(0);
    proc.stdio[4].on("data", (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (let end = buffered.indexOf(0); end >= 0; end = buffered.indexOf(0)) {
        const message = JSON.parse(buffered.subarray(0, end).toString("utf8"));
        buffered = buffered.subarray(end + 1);
        this.dispatch(message);
      }
    });
    proc.once("exit", (code) => {
      const error = new Error(`Chromium ended (${code}): ${this.stderr}`);
      for (const { reject } of this.pending.values()) reject(error);
      this.pending.clear();
    });
  }

  dispatch(message) {
    if (message.id !== undefined) {
      const call = this.pending.get(message.id);
      if (!call) return;
      this.pending.delete(message.id);
      clearTimeout(call.timer);
      if (message.error) {
        call.reject(new Error(`${call.method}: ${message.error.message}`));
      } else {
        call.resolve(message.result);
      }
      return;
    }
    for (const listener of [...this.waiters]) listener(message);
  }

  /** Sends one command (to a page when `session` is given) and resolves with its result. */
  send(method, params = {}, session = undefined) {
    const id = this.nextId++;
    const message = { id, method, params };
    if (session) message.sessionId = session;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method} got no answer within ${STEP_MS} ms`));
      }, STEP_MS);
      this.pending.set(id, { method, resolve, reject, timer });
      this.proc.stdio[3].write(JSON.stringify(message) + "\0");
    });
  }

  /** Calls `listener` with every event until the returned function is called. */
  listen(listener) {
    this.waiters.push(listener);
    return () => {
      this.waiters = this.waiters.filter((w) => w !== listener);
    };
  }

  /** Resolves with the next event `method` of `session` that `accept` takes. */
  next(method, session, what, accept = () => true) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        stop();
        reject(new Error(`no ${method} within ${STEP_MS} ms: ${what}`));
      }, STEP_MS);
      const stop = this.listen((m) => {
        if (m.method === method && m.sessionId === session && accept(m.params)) {
          clearTimeout(timer);
          stop();
          resolve(m.params);
        }
      });
    });
  }

  /** Opens a new tab; with `separate`, in a context of its own (no cookies shared). */
  async newPage({ separate = false } = {}) {
    const params = { url: "about:blank" };
    if (separate) {
      params.browserContextId = (await this.send("Target.createBrowserContext")).browserContextId;
    }
    const { targetId } = await this.send("Target.createTarget", params);
    const { sessionId } = await this.send("Target.attachToTarget", { targetId, flatten: true });
    const page = new Page(this, sessionId);
    await page.init();
    return page;
  }

  async close() {
    try {
      await this.send("Browser.close");
    } catch {
      // Already gone.
    }
    if (this.proc.exitCode === null) {
      const gone = new Promise((resolve) => this.proc.once("exit", resolve));
      process.kill(-this.proc.pid, "SIGKILL");
      await gone;
    } else {
      try {
        process.kill(-this.proc.pid, "SIGKILL");
      } catch {
        // The whole group is gone.
      }
    }
    if (this.profile) {
      // Helpers killed a moment ago may still be closing files in it.
      rmSync(this.profile, { recursive: true, force: true, maxRetries: 5 });
    }
  }
}

export class Page {
  constructor(browser, session) {
    this.browser = browser;
    this.session = session;
    /** Everything the browser reported as an error (CSP refusals, failed loads, …). */
    this.problems = [];
    this.status = 0;
  }

  async init() {
    const b = this.browser;
    b.listen((m) => {
      if (m.sessionId !== this.session) return;
      // PORTAL_TRACE=1: the tab's navigations, script contexts and requests on stderr,
      // with the time (the test prints stderr when it fails).
      if (process.env.PORTAL_TRACE && /^(Page\.(frameNavigated|loadEventFired|frameRequestedNavigation|frameScheduledNavigation|navigatedWithinDocument)|Runtime\.executionContext|Inspector|Network\.(requestWillBeSent|responseReceived|loadingFailed|loadingFinished|eventSourceMessageReceived))/.test(m.method)) {
        console.error(`${new Date().toISOString()} ${this.session.slice(0, 6)} ${m.method} ${JSON.stringify(m.params).slice(0, 200)}`);
      }
      if (m.method === "Log.entryAdded" && m.params.entry.level === "error") {
        this.problems.push({
          text: `${m.params.entry.source}: ${m.params.entry.text} (${m.params.entry.url ?? ""})`,
          url: m.params.entry.url,
        });
      }
      if (m.method === "Runtime.exceptionThrown") {
        this.problems.push({ text: `script error: ${m.params.exceptionDetails.text}` });
      }
      if (m.method === "Network.responseReceived" && m.params.type === "Document") {
        this.status = m.params.response.status;
        this.headers = m.params.response.headers;
        this.url = m.params.response.url;
      }
    });
    await this.send("Page.enable");
    await this.send("Runtime.enable");
    await this.send("Log.enable");
    await this.send("Network.enable");
    // A German citizen's browser (headless Chromium ignores `--lang` for requests).
    await this.send("Network.setUserAgentOverride", {
      userAgent: await this.eval("navigator.userAgent"),
      acceptLanguage: "de-DE,de;q=0.9,en;q=0.8",
    });
  }

  send(method, params = {}) {
    return this.browser.send(method, params, this.session);
  }

  /** Waits for the page that `action` leads to (a click on a link or a form's button). */
  async loading(what, action) {
    const loaded = this.browser.next("Page.loadEventFired", this.session, what);
    await action();
    await loaded;
  }

  async goto(url) {
    await this.loading(`load ${url}`, () => this.send("Page.navigate", { url }));
  }

  /** Evaluates `expression` in the page (DevTools evaluation is not bound by the page's CSP). */
  async eval(expression) {
    const r = await this.send("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    });
    if (r.exceptionDetails) {
      throw new Error(`${expression}: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    }
    return r.result.value;
  }

  /** Clicks the first element `selector` finds and waits for the page it leads to. */
  async click(selector) {
    await this.loading(`click ${selector} on ${await this.path()}`, async () => {
      const found = await this.eval(
        `(() => { const e = document.querySelector(${JSON.stringify(selector)}); if (!e) return false; e.click(); return true; })()`,
      );
      if (!found) throw new Error(`nothing matches ${selector} on ${await this.path()}`);
    });
  }

  /** Taps the element `selector` with the mouse, as a person does (a trusted gesture). */
  async tap(selector) {
    const box = await this.eval(
      `(() => { const r = document.querySelector(${JSON.stringify(selector)})?.getBoundingClientRect(); return r && { x: r.x + r.width / 2, y: r.y + r.height / 2 }; })()`,
    );
    if (!box) throw new Error(`nothing to tap at ${selector} on ${await this.path()}`);
    for (const type of ["mousePressed", "mouseReleased"]) {
      await this.send("Input.dispatchMouseEvent", { type, x: box.x, y: box.y, button: "left", clickCount: 1 });
    }
  }

  /** Types `text` into the field `selector` as keystrokes, after focusing it. */
  async type(selector, text) {
    const found = await this.eval(
      `(() => { const e = document.querySelector(${JSON.stringify(selector)}); if (!e) return false; e.focus(); e.value = ""; return true; })()`,
    );
    if (!found) throw new Error(`no field ${selector} on ${await this.path()}`);
    await this.send("Input.insertText", { text });
  }

  /** Presses one key (`Tab`, `Enter`, …) with optional modifiers (8 = Shift). */
  async press(key, modifiers = 0) {
    const codes = { Tab: 9, Enter: 13 };
    const params = { key, code: key, windowsVirtualKeyCode: codes[key] ?? 0, modifiers };
    if (key === "Enter") params.text = "\r";
    await this.send("Input.dispatchKeyEvent", { type: "keyDown", ...params });
    await this.send("Input.dispatchKeyEvent", { type: "keyUp", ...params });
  }

  async path() {
    return this.eval("location.pathname + location.search");
  }

  async text(selector = "body") {
    return this.eval(`document.querySelector(${JSON.stringify(selector)})?.innerText ?? ""`);
  }

  async viewport(width, height, mobile) {
    await this.send("Emulation.setDeviceMetricsOverride", {
      width,
      height,
      deviceScaleFactor: mobile ? 2 : 1,
      mobile,
    });
  }
}
