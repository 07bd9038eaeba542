// The backchannel authentication-device web app. It speaks the device
// API of docs/device-api.md: it enrols a non-extractable WebCrypto
// P-256 key, signs every call and decision with it (ES256: WebCrypto's
// ECDSA signature is the raw R || S a JWS wants), and follows the user's
// pending requests over the event stream. Text from clients is only ever
// set with textContent.

import { assertPasskey, createPasskey, needsPasskey, passkeysSupported } from "./passkey.js";

const $ = (id) => document.getElementById(id);
const enc = new TextEncoder();

// ---- IndexedDB: one record, the enrolled device with its CryptoKeyPair.

const DB_NAME = "backchannel-device";
const STORE = "device";
const RECORD = "current";

function openDB() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function dbDo(mode, fn) {
  const db = await openDB();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const req = fn(tx.objectStore(STORE));
    tx.oncomplete = () => { db.close(); resolve(req.result); };
    tx.onerror = () => { db.close(); reject(tx.error); };
  });
}

const loadDevice = () => dbDo("readonly", (s) => s.get(RECORD));
const saveDevice = (d) => dbDo("readwrite", (s) => s.put(d, RECORD));
const forgetDevice = () => dbDo("readwrite", (s) => s.delete(RECORD));

// ---- JWS (RFC 7515 compact, ES256).

function b64url(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = "";
  for (const c of b) s += String.fromCharCode(c);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const b64json = (v) => b64url(enc.encode(JSON.stringify(v)));
const newJTI = () => b64url(crypto.getRandomValues(new Uint8Array(16)));
const nowSeconds = () => Math.floor(Date.now() / 1000);

async function signJWS(privateKey, header, claims) {
  const input = b64json({ alg: "ES256", ...header }) + "." + b64json(claims);
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, enc.encode(input));
  return input + "." + b64url(sig);
}

// deviceProof is the Authorization header of one call (device-api.md,
// "Authenticating calls"): a fresh proof per request and per reconnection.
async function deviceProof(dev, method, url) {
  const htu = url.split("#")[0].split("?")[0];
  const jws = await signJWS(dev.keys.privateKey, { typ: "device+jwt", kid: dev.deviceID },
    { htm: method, htu, iat: nowSeconds(), jti: newJTI() });
  return "Device " + jws;
}

// canonical is the summary's canonical form (device-api.md, "Canonical
// form and digest"), and digest its base64url SHA-256.
function canonical(s) {
  return JSON.stringify({
    request_id: s.request_id, client_id: s.client_id, client_name: s.client_name,
    binding_message: s.binding_message, scopes: s.scopes ?? [],
    acr_values: s.acr_values ?? [], authorization_details: s.authorization_details ?? [],
    expires_at: s.expires_at,
    ...(s.number_choices ? { number_choices: s.number_choices } : {}),
  }).replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

async function digest(s) {
  return b64url(await crypto.subtle.digest("SHA-256", enc.encode(canonical(s))));
}

// call makes a signed device API call with an optional JSON body and
// returns the response and its JSON body ({} when there is none).
async function call(dev, method, path, body) {
  const url = dev.api + path;
  const headers = { Authorization: await deviceProof(dev, method, url) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(url, { method, headers, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body) });
  return { resp, body: await resp.json().catch(() => ({})) };
}

// ---- Discovery.

// The app is served at {issuer}/device, so the issuer is the page's URL
// without that last segment.
function issuerOfPage() {
  return location.origin + location.pathname.replace(/\/device\/?$/, "");
}

function isLoopback(host) {
  return host === "localhost" || host === "[::1]" || /^127\./.test(host);
}

async function discover(issuer) {
  const u = new URL(issuer);
  if (u.protocol !== "https:" && !isLoopback(u.hostname)) {
    throw new Error("This server is not using https; the device app refuses to work with it.");
  }
  const resp = await fetch(issuer + "/.well-known/openid-configuration", { cache: "no-store" });
  if (!resp.ok) throw new Error("The server's configuration could not be read (HTTP " + resp.status + ").");
  const doc = await resp.json();
  // OpenID Connect Discovery §4.3, and the API at the issuer's origin.
  if (doc.issuer !== issuer) throw new Error("The server's configuration names another issuer.");
  const api = doc.device_api_uri;
  if (typeof api !== "string" || new URL(api).origin !== u.origin) {
    throw new Error("The server has no device API at its own origin.");
  }
  return api.replace(/\/$/, "");
}

// ---- Screens.

function show(id) {
  for (const s of ["enrol", "not-enrolled", "ready"]) $(s).hidden = s !== id;
}

function setError(msg) {
  $("error").textContent = msg || "";
  $("error").hidden = !msg;
}

function setStatus(msg) {
  $("status").textContent = msg;
}

// ---- Enrolment.

async function enrol(code) {
  setError("");
  $("enrol-button").disabled = true;
  try {
    const issuer = issuerOfPage();
    const api = await discover(issuer);
    // extractable: false — the private key can sign but never be read,
    // not even by this script. The public half is always exportable.
    const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
    const pub = await crypto.subtle.exportKey("jwk", keys.publicKey);
    const claims = { code };
    const name = $("device-name").value.trim();
    if (name) claims.name = name;
    const proof = await signJWS(keys.privateKey,
      { typ: "device-enrolment+jwt", jwk: { kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y } }, claims);
    const resp = await fetch(api + "/enrol", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ proof }),
    });
    const body = await resp.json().catch(() => ({}));
    if (resp.status !== 201) {
      throw new Error(body.error === "invalid_grant"
        ? "This enrolment link is unknown, used or expired. Ask for a new one."
        : "Enrolment failed: " + (body.error_description || body.error || resp.status));
    }
    const dev = { keys, deviceID: body.device_id, subject: body.subject, issuer, api };
    await saveDevice(dev);
    history.replaceState(null, "", location.pathname); // the code is spent; drop it from the URL
    start(dev);
  } catch (err) {
    setError(err.message);
  } finally {
    $("enrol-button").disabled = false;
  }
}

// ---- Requests.

const cards = new Map(); // request_id → {summary, el}

const SCOPE_WORDS = {
  openid: "Confirm who you are",
  profile: "Your name and basic profile",
  email: "Your email address",
  phone: "Your phone number",
  address: "Your postal address",
  offline_access: "Stay connected when you are not using it",
};

function scopeWords(scope) {
  return SCOPE_WORDS[scope] ?? "Access to “" + scope + "”";
}

function humanKey(k) {
  const s = String(k).replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/[_-]+/g, " ").toLowerCase();
  return s.charAt(0).toUpperCase() + s.slice(1);
}

// renderValue renders a JSON value of authorization_details readably,
// as nested definition lists; only text nodes are created.
function renderValue(v) {
  if (v === null || typeof v !== "object") {
    const span = document.createElement("span");
    span.textContent = String(v);
    return span;
  }
  if (Array.isArray(v) && v.every((x) => x === null || typeof x !== "object")) {
    const span = document.createElement("span");
    span.textContent = v.join(", ");
    return span;
  }
  const dl = document.createElement("dl");
  for (const [k, val] of Object.entries(v)) {
    const dt = document.createElement("dt");
    dt.textContent = Array.isArray(v) ? "#" + (Number(k) + 1) : humanKey(k);
    const dd = document.createElement("dd");
    dd.append(renderValue(val));
    dl.append(dt, dd);
  }
  return dl;
}

function renderDetail(d) {
  if (d === null || typeof d !== "object" || Array.isArray(d)) return renderValue(d);
  const { type, ...rest } = d; // the type is the heading
  const dl = renderValue(rest);
  if (dl.tagName === "DL" && type !== undefined) {
    const kind = document.createElement("div");
    kind.className = "kind";
    kind.textContent = humanKey(type);
    dl.prepend(kind);
  }
  return dl;
}

function addCard(dev, s) {
  if (cards.has(s.request_id)) return;
  const el = $("request-template").content.firstElementChild.cloneNode(true);
  el.dataset.requestId = s.request_id;
  el.querySelector(".client-name").textContent = s.client_name || s.client_id;
  if (s.client_name && s.client_name !== s.client_id) el.querySelector(".client-id").textContent = "(" + s.client_id + ")";
  if (typeof s.logo_uri === "string" && s.logo_uri.startsWith("https://")) {
    const img = el.querySelector(".logo");
    img.src = s.logo_uri;
    img.hidden = false;
  }
  const binding = el.querySelector(".binding");
  if (s.binding_message) {
    binding.textContent = s.binding_message;
  } else {
    binding.textContent = "No message was sent. Approve only if you started this yourself.";
    binding.classList.add("none");
  }
  const ul = el.querySelector(".scopes");
  for (const sc of s.scopes ?? []) {
    const li = document.createElement("li");
    li.textContent = scopeWords(sc);
    ul.append(li);
  }
  const details = s.authorization_details ?? [];
  if (details.length) {
    const box = el.querySelector(".details");
    for (const d of details) box.append(renderDetail(d));
    box.hidden = false;
  }
  if (needsPasskey(s)) {
    const acr = el.querySelector(".acr");
    acr.textContent = "Approving needs your passkey: you will confirm with your fingerprint, face or screen lock.";
    acr.classList.add("passkey");
    acr.hidden = false;
  } else if ((s.acr_values ?? []).length) {
    const acr = el.querySelector(".acr");
    acr.textContent = "Requested assurance: " + s.acr_values.join(", ");
    acr.hidden = false;
  }
  // Number matching: the user picks the number the other screen shows;
  // Approve waits for a pick.
  if (Array.isArray(s.number_choices) && s.number_choices.length) {
    const box = el.querySelector(".numbers");
    for (const n of s.number_choices) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "number";
      b.textContent = String(n);
      b.addEventListener("click", () => {
        el.dataset.number = String(n);
        for (const o of box.querySelectorAll(".number")) o.setAttribute("aria-pressed", String(o === b));
        tick();
      });
      box.append(b);
    }
    box.hidden = false;
  }
  el.querySelector(".approve").addEventListener("click", () => decide(dev, s, el, "approve"));
  el.querySelector(".deny").addEventListener("click", () => decide(dev, s, el, "deny"));
  el.querySelector(".not-me").addEventListener("click", () => decide(dev, s, el, "deny", "not_me"));
  cards.set(s.request_id, { summary: s, el });
  $("requests").append(el);
  tick();
  updateIdle();
  if (s.request_id === wanted) focusRequest(wanted);
  if (document.hidden && "Notification" in window && Notification.permission === "granted") {
    new Notification(s.client_name || s.client_id, { body: s.binding_message, tag: s.request_id });
  }
}

function removeCard(id) {
  const c = cards.get(id);
  if (!c) return;
  c.el.remove();
  cards.delete(id);
  updateIdle();
}

function updateIdle() {
  $("idle").hidden = cards.size > 0;
}

// tick updates every countdown, and disables a request once it expires.
function tick() {
  const now = Date.now() / 1000;
  for (const { summary, el } of cards.values()) {
    const left = Math.max(0, Math.round(summary.expires_at - now));
    const cd = el.querySelector(".countdown");
    if (left === 0) {
      cd.textContent = "Expired";
      for (const b of el.querySelectorAll(".actions button")) b.disabled = true;
    } else {
      const m = Math.floor(left / 60), sec = String(left % 60).padStart(2, "0");
      cd.textContent = "Expires in " + m + ":" + sec;
      for (const b of el.querySelectorAll(".actions button")) b.disabled = el.dataset.busy === "1";
      if (summary.number_choices && !el.dataset.number) el.querySelector(".approve").disabled = true;
    }
    cd.classList.toggle("soon", left < 30);
  }
}

async function decide(dev, s, el, decision, reason) {
  const buttons = el.querySelectorAll(".actions button");
  el.dataset.busy = "1";
  for (const b of buttons) b.disabled = true;
  const result = el.querySelector(".result");
  try {
    const claims = { request_id: s.request_id, decision, summary: await digest(s), iat: nowSeconds(), jti: newJTI() };
    // "This wasn't me" is a deny that also reports the request; a server
    // that does not know the claim ignores it and records a plain deny.
    if (reason) claims.reason = reason;
    if (decision === "approve" && el.dataset.number) claims.number = el.dataset.number;
    if (decision === "approve" && needsPasskey(s)) {
      if (!passkeys.ids.length) {
        showPasskeyPanel(true);
        throw new Error("this request needs a passkey. Set one up above, then approve again.");
      }
      try {
        claims.passkey = await assertPasskey(claims.summary, passkeys.ids);
      } catch (err) {
        throw new Error(err.name === "NotAllowedError" ? "the passkey check was cancelled or timed out." : "the passkey check failed (" + err.message + ").");
      }
    }
    const jws = await signJWS(dev.keys.privateKey, { typ: "decision+jwt", kid: dev.deviceID }, claims);
    const url = dev.api + "/requests/" + encodeURIComponent(s.request_id) + "/decision";
    const resp = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/jose", Authorization: await deviceProof(dev, "POST", url) },
      body: jws,
    });
    if (resp.status !== 204) {
      const body = await resp.json().catch(() => ({}));
      if (resp.status === 401) return refused();
      if (body.error === "passkey_required") showPasskeyPanel(true);
      throw new Error(body.error_description || body.error || "HTTP " + resp.status);
    }
    const who = s.client_name || s.client_id;
    const words = decision === "approve" ? "You approved " : reason === "not_me" ? "You reported and denied " : "You denied ";
    $("last-outcome").textContent = words + who + (s.binding_message ? " — " + s.binding_message : "");
    removeCard(s.request_id);
  } catch (err) {
    result.textContent = "Could not send your answer: " + err.message;
    el.dataset.busy = "";
    tick();
  }
}

// ---- Opening a request from a notification: the service worker opens
// /device#request=ID, or messages an open window.

let wanted = new URLSearchParams(location.hash.slice(1)).get("request");

function focusRequest(id) {
  wanted = id;
  const c = cards.get(id);
  if (!c) return; // shown when it arrives on the stream
  for (const o of cards.values()) o.el.classList.toggle("focus", o === c);
  c.el.scrollIntoView({ behavior: "smooth", block: "start" });
  wanted = null;
  if (location.hash) history.replaceState(null, "", location.pathname);
}

// ---- Web Push (docs/device-api.md, "Web Push"): after enrolment the
// person may enable notifications; the browser subscribes with the
// server's VAPID key and the subscription is saved by a signed call, so
// that requests ring the phone while this page is closed. Without a push
// service (some browsers, headless ones) the app says so and keeps
// working over the event stream.

function pushStatus(msg) {
  $("push-status").textContent = msg || "";
  $("push-status").hidden = !msg;
}

async function pushRegistration() {
  if (!("serviceWorker" in navigator)) return null;
  return navigator.serviceWorker.getRegistration("/device");
}

// deviceCall makes one signed device API call with an optional JSON body.
async function deviceCall(dev, method, path, body) {
  const url = dev.api + path;
  const headers = { Authorization: await deviceProof(dev, method, url) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(url, { method, headers, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body) });
}

// withTimeout settles like p, or rejects with message after ms.
function withTimeout(p, ms, message) {
  let timer;
  return Promise.race([p, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(message)), ms); })])
    .finally(() => clearTimeout(timer));
}

function keyBytes(b64) {
  const s = atob(b64.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

async function setupPush(dev) {
  const nb = $("notify-button");
  nb.hidden = true;
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    pushStatus("This browser cannot show notifications while the page is closed. Keep this page open: requests appear here as they arrive.");
    return;
  }
  const resp = await deviceCall(dev, "GET", "/push");
  if (resp.status === 404) {
    pushStatus("This server does not send notifications. Keep this page open: requests appear here as they arrive.");
    return;
  }
  if (!resp.ok) throw new Error("HTTP " + resp.status);
  const info = await resp.json();
  // ready never settles if the worker could not be registered.
  const reg = await withTimeout(navigator.serviceWorker.ready, 10000, "no service worker");
  let existing = await reg.pushManager.getSubscription();
  if (existing && !sameKey(existing, info.application_server_key)) {
    // Made for another server key (a reset server): it cannot be used.
    await existing.unsubscribe().catch(() => {});
    existing = null;
  }
  if (Notification.permission === "granted" && existing) {
    // Saved again on every start: the browser may have renewed it, and
    // saving replaces the device's one subscription.
    await saveSubscription(dev, existing);
    pushStatus("Notifications are on.");
    return;
  }
  if (Notification.permission === "denied") {
    pushStatus("Notifications are blocked for this site. Allow them in the browser's settings, or keep this page open.");
    return;
  }
  nb.hidden = false;
  nb.onclick = async () => {
    nb.disabled = true;
    try {
      if (await Notification.requestPermission() !== "granted") {
        pushStatus("Notifications were not allowed. Keep this page open: requests appear here as they arrive.");
        nb.hidden = true;
        return;
      }
      let sub;
      try {
        // A browser without a reachable push service may never answer.
        sub = await withTimeout(reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(info.application_server_key) }),
          10000, "the push service did not answer");
      } catch (err) {
        pushStatus("Push notifications are unavailable in this browser (" + err.message + "). Keep this page open: requests appear here as they arrive.");
        nb.hidden = true;
        return;
      }
      await saveSubscription(dev, sub);
      nb.hidden = true;
      pushStatus("Notifications are on.");
    } catch (err) {
      pushStatus("Notifications could not be turned on (" + err.message + ").");
    } finally {
      nb.disabled = false;
    }
  };
}

// sameKey reports whether sub was made with the server's current key.
function sameKey(sub, key) {
  const k = sub.options && sub.options.applicationServerKey;
  return !k || b64url(k) === key;
}

async function saveSubscription(dev, sub) {
  const resp = await deviceCall(dev, "PUT", "/push", sub.toJSON());
  if (resp.status !== 204) {
    const body = await resp.json().catch(() => ({}));
    throw new Error(body.error_description || body.error || "HTTP " + resp.status);
  }
}

// ---- The event stream, read with fetch() so that it can carry the
// Authorization header that EventSource cannot send.

let stream = null; // the AbortController of the open stream

async function follow(dev) {
  let attempt = 0;
  for (;;) {
    const ctl = new AbortController();
    stream = ctl;
    let watchdog;
    const feed = () => { clearTimeout(watchdog); watchdog = setTimeout(() => ctl.abort(), 45000); };
    try {
      const url = dev.api + "/requests";
      setStatus("Connecting…");
      const resp = await fetch(url, {
        headers: { Accept: "text/event-stream", Authorization: await deviceProof(dev, "GET", url) },
        cache: "no-store", signal: ctl.signal,
      });
      if (resp.status === 401) return refused();
      if (resp.status >= 400 && resp.status < 500 && resp.status !== 408 && resp.status !== 429) {
        setStatus("Stopped");
        setError("The server refused this device (HTTP " + resp.status + "). Is this device's clock right?");
        return;
      }
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      setStatus("Connected");
      attempt = 0;
      feed();
      // After a reconnection the server sends the whole list again.
      const seen = new Set();
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "", event = "", data = [];
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        feed();
        buf += value;
        let nl;
        while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + (buf.startsWith("\r\n", nl) ? 2 : 1));
          if (line === "") {
            if (data.length) dispatch(dev, event || "message", data.join("\n"), seen);
            event = ""; data = [];
          } else if (line.startsWith(":")) {
            // a comment: the heartbeat
          } else {
            const i = line.indexOf(":");
            const field = i < 0 ? line : line.slice(0, i);
            let val = i < 0 ? "" : line.slice(i + 1);
            if (val.startsWith(" ")) val = val.slice(1);
            if (field === "event") event = val;
            else if (field === "data") data.push(val);
          }
        }
      }
      // The server ends streams after 10 minutes: reconnect at once.
    } catch (err) {
      if (stream !== ctl) return; // stopped on purpose
      attempt++;
      setStatus("Offline, retrying…");
      // Exponential backoff with jitter: half to all of 1 s, 2 s, 4 s … 30 s.
      const cap = Math.min(30000, 1000 * 2 ** (attempt - 1));
      await new Promise((r) => setTimeout(r, cap / 2 + Math.random() * cap / 2));
    } finally {
      clearTimeout(watchdog);
    }
    if (stream !== ctl) return;
  }
}

function dispatch(dev, event, data, seen) {
  let msg;
  try { msg = JSON.parse(data); } catch { return; }
  if (event === "request") {
    seen.add(msg.request_id);
    addCard(dev, msg);
  } else if (event === "gone") {
    removeCard(msg.request_id);
  } // other events are ignored (device-api.md)
}

// refused handles a 401: the device was revoked, or this device's clock
// is so far off that its proofs are refused (the server does not say
// which). The key is kept, so a clock fix recovers; "Remove this device"
// forgets it.
function refused() {
  stream = null;
  for (const id of [...cards.keys()]) removeCard(id);
  setStatus("Stopped");
  setError("The server refused this device. It may have been removed (remove it here and open a new enrolment link), or this device's clock may be wrong.");
}

async function forgotten() {
  await forgetDevice();
  for (const id of [...cards.keys()]) removeCard(id);
  $("device-footer").hidden = true;
  setStatus("");
  show("not-enrolled");
}

// ---- Passkeys.

const passkeys = { available: false, ids: [] };

// refreshPasskeys learns whether the server offers passkeys and which
// this device has, and shows the set-up panel when it has none.
async function refreshPasskeys(dev) {
  try {
    const { resp, body } = await call(dev, "GET", "/passkeys");
    if (!resp.ok) return;
    passkeys.available = body.available === true && passkeysSupported();
    passkeys.ids = (body.passkeys ?? []).map((p) => p.id);
  } catch { return; }
  $("passkey-state").textContent = passkeys.ids.length ? "· passkey set up" : "";
  showPasskeyPanel(passkeys.available && !passkeys.ids.length);
}

function showPasskeyPanel(on) {
  $("passkey-panel").hidden = !on;
  if (on && !passkeys.available) {
    $("passkey-button").hidden = true;
    $("passkey-status").textContent = passkeysSupported()
      ? "This server does not offer passkeys, so requests that need one cannot be approved here."
      : "This browser does not support passkeys, so requests that need one cannot be approved here.";
  }
}

async function setUpPasskey(dev) {
  const status = $("passkey-status");
  $("passkey-button").disabled = true;
  status.textContent = "";
  try {
    const opts = await call(dev, "POST", "/passkeys/options");
    if (!opts.resp.ok) throw new Error(opts.body.error_description || "HTTP " + opts.resp.status);
    let cred;
    try {
      cred = await createPasskey(opts.body);
    } catch (err) {
      throw new Error(err.name === "NotAllowedError" ? "cancelled or timed out" : err.message);
    }
    const made = await call(dev, "POST", "/passkeys", cred);
    if (made.resp.status !== 201) throw new Error(made.body.error_description || "HTTP " + made.resp.status);
    $("last-outcome").textContent = "Passkey set up: requests that need it can now be approved here.";
    await refreshPasskeys(dev);
  } catch (err) {
    status.textContent = "The passkey was not set up: " + err.message;
  } finally {
    $("passkey-button").disabled = false;
  }
}

function start(dev) {
  $("device-id").textContent = dev.deviceID;
  $("subject").textContent = dev.subject;
  $("device-footer").hidden = false;
  $("forget-button").onclick = () => forget(dev);
  $("passkey-button").onclick = () => setUpPasskey(dev);
  setupPush(dev).catch((err) => pushStatus("Notifications could not be set up (" + err.message + "). Requests still arrive while this page is open."));
  show("ready");
  updateIdle();
  refreshPasskeys(dev);
  follow(dev);
}

async function forget(dev) {
  if (!confirm("Remove this device? It will stop receiving requests.")) return;
  // The server drops the subscription with the device; drop it here too.
  pushRegistration().then((reg) => reg && reg.pushManager.getSubscription())
    .then((sub) => sub && sub.unsubscribe()).catch(() => {});
  const url = dev.api + "/device";
  try {
    await fetch(url, { method: "DELETE", headers: { Authorization: await deviceProof(dev, "DELETE", url) } });
  } catch { /* forgotten locally all the same */ }
  const s = stream;
  stream = null;
  if (s) s.abort();
  await forgotten();
  setError("");
}

async function main() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/device/sw.js", { scope: "/device" }).catch(() => {});
    navigator.serviceWorker.addEventListener("message", (e) => {
      if (e.data && e.data.type === "open-request" && typeof e.data.request_id === "string") focusRequest(e.data.request_id);
    });
  }
  window.addEventListener("hashchange", () => {
    const id = new URLSearchParams(location.hash.slice(1)).get("request");
    if (id) focusRequest(id);
  });
  setInterval(tick, 1000);
  const code = new URLSearchParams(location.hash.slice(1)).get("enrol");
  const dev = await loadDevice().catch(() => undefined);
  if (code) {
    show("enrol");
    $("enrol-button").addEventListener("click", () => enrol(code));
    if (dev) setError("This browser already has a device enrolled; enrolling again replaces it here.");
    return;
  }
  if (!dev) {
    show("not-enrolled");
    return;
  }
  start(dev);
}

main().catch((err) => setError(err.message));
