// The sign-in page: posts the name and password as JSON to /login, which sets the session cookie
// (HttpOnly: no script here or elsewhere can read it), then goes back to the page asked for.

import { t, setLanguage, language } from "./i18n.js";

const form = document.getElementById("login");
const error = document.getElementById("login-error");

function render() {
  document.title = `${t("sign_in")} · ${t("brand")} · civic-ledger`;
  for (const [id, key] of [["brand", "brand"], ["login-title", "sign_in"], ["name-label", "account"],
    ["password-label", "password"], ["submit", "sign_in"], ["login-note", "sign_in_note"]]) {
    document.getElementById(id).textContent = t(key);
  }
  document.getElementById("lang").textContent = t("lang_switch");
}

/** Only a path of this site: never an open redirect to another one. */
function next() {
  const target = new URLSearchParams(location.search).get("next") || "/";
  return target.startsWith("/") && !target.startsWith("//") && !target.startsWith("/\\") ? target : "/";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  const body = JSON.stringify({ name: form.elements.name.value, password: form.elements.password.value });
  const response = await fetch("/login", { method: "POST", headers: { "Content-Type": "application/json" }, body });
  if (response.ok) { location.assign(next()); return; }
  error.textContent = response.status === 429 ? t("sign_in_limited") : t("sign_in_failed");
  error.hidden = false;
});

document.getElementById("lang").addEventListener("click", () => {
  setLanguage(language() === "zh" ? "en" : "zh");
  localStorage.setItem("civic.lang", language());
  render();
});

setLanguage(localStorage.getItem("civic.lang") ?? "zh");
render();
