// The NHS.UK design system's behaviour (the header's menu, the error summary taking focus):
// a module file, so the pages' CSP allows scripts from this server only.
import { initAll } from "/static/nhsuk/nhsuk-frontend.min.js";

document.body.classList.add("js-enabled", "nhsuk-frontend-supported");
initAll();
