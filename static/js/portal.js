// Starts NHS.UK frontend's components on every page of the portal (a file, not an inline script,
// so that the Content-Security-Policy allows no inline script of ours), and the record page's
// headings, filter and sorting.
import { initAll } from "../vendor/nhsuk/nhsuk-frontend.min.js";
import { initPrintedAt, initRecordView } from "./record-view.js";

initAll();
initRecordView();
initPrintedAt();
