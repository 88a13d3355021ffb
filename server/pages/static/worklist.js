// Keeps the open work list current without a reload: asks the server for the list every
// few seconds and swaps it in when it changed, keeping what was ticked and where the focus
// was, and says in a live region how many red alerts there are now. A file from this server
// (the pages' CSP allows no inline script); with scripts off, a reload does the same.
// When the list cannot be refreshed it says so, with the time of the last good update: a
// matron must never take a stale list for a quiet one.
const list = document.getElementById("cw-worklist");
const status = document.getElementById("cw-live-status");

const clock = () => new Date().toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
let lastGood = clock();
let failures = 0;

function notUpdating(why) {
  status.textContent = `Not updating since ${lastGood}: ${why}`;
  status.classList.add("cw-live--stale");
}

async function refresh() {
  const view = list.dataset.view || "open";
  let response;
  try {
    response = await fetch(`/alerts/live?view=${encodeURIComponent(view)}`, {
      credentials: "same-origin",
      headers: { Accept: "text/html" },
    });
  } catch {
    // One blink is normal on a ward's Wi-Fi; two in a row is worth saying.
    failures += 1;
    if (failures >= 2) notUpdating("cannot reach CareWatch. Still trying; reload the page to check.");
    return;
  }
  if (response.redirected || response.status === 401 || response.status === 403) {
    notUpdating("you have been signed out. Reload the page to sign in again.");
    return;
  }
  if (!response.ok) {
    failures += 1;
    notUpdating(`CareWatch answered with an error (${response.status}). Still trying.`);
    return;
  }
  failures = 0;
  lastGood = clock();
  status.classList.remove("cw-live--stale");
  const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("cw-worklist");
  if (!fresh) return;
  if (fresh.dataset.version === list.dataset.version) {
    if (status.textContent.startsWith("Not updating")) status.textContent = `Updated ${lastGood}.`;
    return;
  }
  const ticked = new Set([...list.querySelectorAll("input[name=alert_id]:checked")].map((i) => i.value));
  const focused = list.contains(document.activeElement) ? document.activeElement.id : "";
  const redBefore = Number(list.dataset.red || 0);
  list.replaceChildren(...[...fresh.childNodes].map((n) => document.importNode(n, true)));
  for (const key of ["version", "red"]) list.dataset[key] = fresh.dataset[key];
  for (const box of list.querySelectorAll("input[name=alert_id]")) box.checked = ticked.has(box.value);
  if (focused) document.getElementById(focused)?.focus();
  const red = Number(fresh.dataset.red || 0);
  status.textContent =
    red > redBefore
      ? `Updated ${lastGood}: ${red - redBefore} new red alert${red - redBefore === 1 ? "" : "s"}.`
      : `Updated ${lastGood}.`;
}

if (list && status) {
  setInterval(refresh, Number(list.dataset.refresh || 10) * 1000);
}
