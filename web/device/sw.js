// The device app's service worker: it keeps the app shell so the app
// opens (and is installable) offline. The device API is never cached.
const CACHE = "backchannel-device-v2";
const SHELL = ["/device", "/device/app.js", "/device/passkey.js", "/device/style.css", "/device/icon.svg", "/device/manifest.webmanifest"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

// Network first for the shell, so an upgraded server's app is used at
// once; the cache answers only when the network fails.
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || !SHELL.includes(url.pathname)) {
    return;
  }
  event.respondWith(
    fetch(event.request).catch(() => caches.match(event.request, { ignoreSearch: true })),
  );
});

// Web Push (docs/device-api.md, "Web Push"): the worker shows each new
// request while the app is closed. A message holds what the notification
// shows: request_id, client_name, binding_message and expires_at (no
// secret). With userVisibleOnly, a push may go unshown only while the
// app is in front.
self.addEventListener("push", (event) => {
  let m = {};
  try { m = event.data ? event.data.json() : {}; } catch { /* shown as a generic request */ }
  const expired = typeof m.expires_at === "number" && m.expires_at * 1000 <= Date.now();
  const title = m.client_name || "Sign-in request";
  const body = expired ? "This request has expired."
    : m.binding_message || "A request is waiting for you. Approve only if you started it yourself.";
  event.waitUntil((async () => {
    // The app in front already shows the request, from its stream.
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    if (windows.some((c) => c.focused && c.visibilityState === "visible" && new URL(c.url).pathname === "/device")) return;
    await self.registration.showNotification(title, {
      body,
      tag: m.request_id || "backchannel-request", // one notification per request
      requireInteraction: !expired, // stays until the person answers it
      icon: "/device/icon.svg",
      data: { request_id: m.request_id },
    });
  })());
});

// A click focuses an open app window and tells it which request to show,
// or opens the app at that request.
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const id = event.notification.data && event.notification.data.request_id;
  const url = "/device" + (id ? "#request=" + encodeURIComponent(id) : "");
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const c of windows) {
      const u = new URL(c.url);
      if (u.origin === self.location.origin && u.pathname === "/device") {
        await c.focus();
        if (id) c.postMessage({ type: "open-request", request_id: id });
        return;
      }
    }
    await self.clients.openWindow(url);
  })());
});
