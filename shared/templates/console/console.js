// Progressive enhancement only: every page works without it.
// 1. Times are written in UTC; show them in the viewer's zone, UTC kept on hover.
// 2. Where a passkey can answer, a button asks the browser for it (WebAuthn).
"use strict";
document.querySelectorAll("time[datetime]").forEach(function (el) {
  var at = new Date(el.getAttribute("datetime"));
  if (isNaN(at)) return;
  el.title = el.textContent;
  el.textContent = at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
});
document.querySelectorAll("form[data-passkey-options]").forEach(function (form) {
  if (!window.PublicKeyCredential || !PublicKeyCredential.parseRequestOptionsFromJSON) return;
  var options;
  try { options = JSON.parse(form.getAttribute("data-passkey-options")).publicKey; } catch (e) { return; }
  form.hidden = false;
  form.addEventListener("submit", function (event) {
    var field = form.querySelector("input[name=passkey]");
    if (field.value) return;
    event.preventDefault();
    navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) })
      .then(function (credential) { field.value = JSON.stringify(credential.toJSON()); form.submit(); })
      .catch(function () { /* cancelled: the code form is still there */ });
  });
});
