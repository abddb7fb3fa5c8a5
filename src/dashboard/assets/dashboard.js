// The dashboard's live parts: the log view follows its stream, and a form's button says it is
// busy while a long action runs. Every page reads without this script.
"use strict";

function followLog(log) {
  const state = document.getElementById("log-state");
  const source = new EventSource(log.dataset.events);
  source.onopen = () => { if (state) state.textContent = "Live: following the log."; };
  source.onmessage = (event) => {
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.append(event.data + "\n");
    if (atBottom) log.scrollTop = log.scrollHeight;
  };
  source.onerror = () => { if (state) state.textContent = "The log stream was interrupted; reconnecting…"; };
}

function markBusy(form) {
  form.addEventListener("submit", () => {
    const button = form.querySelector("button[data-busy]");
    if (button) {
      button.textContent = button.dataset.busy;
      setTimeout(() => { button.disabled = true; }, 0);
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const log = document.getElementById("log");
  if (log && log.dataset.events) followLog(log);
  document.querySelectorAll("form").forEach(markBusy);
});
