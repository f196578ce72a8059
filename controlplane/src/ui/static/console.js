// Sigil console: the only script (no inline scripts: the Content-Security-Policy forbids them).
// Copy buttons: <button data-copy="ELEMENT-ID"> copies that element's text.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      if (!source) return;
      const text = source.textContent.trim();
      let copied = false;
      try {
        await navigator.clipboard.writeText(text);
        copied = true;
      } catch (_) {
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        copied = document.execCommand("copy");
      }
      button.textContent = copied ? "Copied" : "Select and copy by hand";
    });
  }
});
// Forms with data-confirm="QUESTION" ask before they submit.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
// An element with data-refresh="SECONDS" (a job's progress) reloads the page after that time.
document.addEventListener("DOMContentLoaded", () => {
  const el = document.querySelector("[data-refresh]");
  const secs = el ? Number(el.dataset.refresh) : 0;
  if (secs > 0) setTimeout(() => window.location.reload(), secs * 1000);
});
