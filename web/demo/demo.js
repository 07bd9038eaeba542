// The demo console: it asks its server-side half (web.Demo) to start a
// CIBA request as the demo client, then shows the request's state every
// second until it is decided. All server text is set with textContent.

const $ = (id) => document.getElementById(id);
let timer = null;

$("start-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  clearInterval(timer);
  $("form-error").hidden = true;
  $("start-button").disabled = true;
  try {
    const resp = await fetch("/demo/api/requests", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        login_hint: $("login-hint").value,
        binding_message: $("binding-message").value,
        scope: $("scope").value,
        acr_values: acrValues(),
        authorization_details: $("authorization-details").value,
      }),
    });
    const run = await resp.json();
    if (!resp.ok) throw new Error(run.error_description || run.error || "HTTP " + resp.status);
    render(run);
    timer = setInterval(() => refresh(run.id), 1000);
  } catch (err) {
    $("form-error").textContent = err.message;
    $("form-error").hidden = false;
  } finally {
    $("start-button").disabled = false;
  }
});

// acrValues are the acr_values typed in, with the passkey acr added when
// the operator asks for a passkey.
function acrValues() {
  const values = $("acr-values").value.split(/\s+/).filter(Boolean);
  if ($("require-passkey").checked && !values.includes(PASSKEY_ACR)) values.unshift(PASSKEY_ACR);
  return values.join(" ");
}

const PASSKEY_ACR = "urn:backchannel:acr:passkey";

async function refresh(id) {
  try {
    const resp = await fetch("/demo/api/requests/" + encodeURIComponent(id), { cache: "no-store" });
    if (resp.ok) render(await resp.json());
  } catch { /* try again in a second */ }
}

function render(run) {
  $("run").hidden = false;
  $("run-binding").textContent = run.binding_message || "(no message)";
  $("run-state").textContent = run.state;
  $("run-state").dataset.state = run.state;
  $("run-error").textContent = run.error || "";
  $("matching-number").textContent = run.matching_number || "";
  $("matching").hidden = !run.matching_number;
  const final = ["approved", "denied", "expired", "failed"].includes(run.state);
  $("step-pending").className = run.state === "starting" ? "" : "done";
  $("step-decided").className = !final ? "" : run.state === "approved" ? "done" : "failed";
  $("step-decided").textContent = run.state === "denied" ? "Denied" : run.state === "expired" ? "Expired" : run.state === "failed" ? "Failed" : final ? "Approved" : "Decided";
  $("step-tokens").className = run.id_token_claims ? "done" : "";
  if (final) clearInterval(timer);
  const table = $("claims");
  table.replaceChildren();
  if (run.id_token_claims) {
    for (const [k, v] of Object.entries(run.id_token_claims)) {
      const tr = table.insertRow();
      tr.insertCell().textContent = k;
      const shown = (k === "exp" || k === "iat" || k === "auth_time") && typeof v === "number"
        ? v + " (" + new Date(v * 1000).toISOString() + ")"
        : typeof v === "string" ? v : JSON.stringify(v);
      tr.insertCell().textContent = shown;
    }
  }
  $("claims-box").hidden = !run.id_token_claims;
}
