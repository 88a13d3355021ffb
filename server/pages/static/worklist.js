// Keeps the open work list current without a reload: asks the server for the list every
// few seconds and swaps it in when it changed, keeping what was ticked and where the focus
// was, and says in a live region how many red alerts there are now. A file from this server
// (the pages' CSP allows no inline script); with scripts off, a reload does the same.
const list = document.getElementById("cw-worklist");
const status = document.getElementById("cw-live-status");

async function refresh() {
  const view = list.dataset.view || "open";
  let response;
  try {
    response = await fetch(`/alerts/live?view=${encodeURIComponent(view)}`, {
      credentials: "same-origin",
      headers: { Accept: "text/html" },
    });
  } catch {
    return; // the network blinked: the next round tries again
  }
  if (!response.ok || response.redirected) return; // signed out: the next reload says so
  const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("cw-worklist");
  if (!fresh || fresh.dataset.version === list.dataset.version) return;
  const ticked = new Set([...list.querySelectorAll("input[name=alert_id]:checked")].map((i) => i.value));
  const focused = list.contains(document.activeElement) ? document.activeElement.id : "";
  const redBefore = Number(list.dataset.red || 0);
  list.replaceChildren(...[...fresh.childNodes].map((n) => document.importNode(n, true)));
  for (const key of ["version", "red"]) list.dataset[key] = fresh.dataset[key];
  for (const box of list.querySelectorAll("input[name=alert_id]")) box.checked = ticked.has(box.value);
  if (focused) document.getElementById(focused)?.focus();
  const red = Number(fresh.dataset.red || 0);
  const time = new Date().toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
  status.textContent =
    red > redBefore
      ? `Updated ${time}: ${red - redBefore} new red alert${red - redBefore === 1 ? "" : "s"}.`
      : `Updated ${time}.`;
}

if (list && status) {
  setInterval(refresh, Number(list.dataset.refresh || 10) * 1000);
}
