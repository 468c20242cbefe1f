// memoryapp's small client-side behaviour; everything else is htmx.
(function () {
  "use strict";

  function composerInput() {
    return document.querySelector("#composer textarea");
  }

  function nearBottom(el) {
    return el.scrollHeight - el.scrollTop - el.clientHeight < 120;
  }

  function scrollToBottom(force) {
    const messages = document.getElementById("messages");
    if (messages && (force || nearBottom(messages))) {
      messages.scrollTop = messages.scrollHeight;
    }
  }

  function autoGrow(textarea) {
    textarea.style.height = "auto";
    textarea.style.height = Math.min(textarea.scrollHeight, 240) + "px";
  }

  function markCurrentConversation() {
    document.querySelectorAll(".conversation-item").forEach(function (item) {
      const link = item.querySelector("a");
      const current = link && link.getAttribute("href") === window.location.pathname;
      item.classList.toggle("current", Boolean(current));
      if (link) {
        if (current) link.setAttribute("aria-current", "page");
        else link.removeAttribute("aria-current");
      }
    });
  }

  // Enter sends, Shift+Enter makes a new line (and IME composition is left alone).
  document.addEventListener("keydown", function (event) {
    const input = event.target;
    if (!(input instanceof HTMLTextAreaElement) || !input.closest("#composer")) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      input.form.requestSubmit();
    }
  });

  document.addEventListener("input", function (event) {
    if (event.target instanceof HTMLTextAreaElement && event.target.closest("#composer")) {
      autoGrow(event.target);
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    const form = event.detail.elt;
    if (form && form.id === "composer" && event.detail.successful) {
      form.reset();
      const error = document.getElementById("composer-error");
      if (error) error.textContent = "";
      const input = composerInput();
      if (input) {
        autoGrow(input);
        input.focus();
      }
      scrollToBottom(true);
    }
  });

  // A refused message replaces the composer: keep the text and the focus in it.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "composer") {
      const input = composerInput();
      if (input) input.focus();
    }
    markCurrentConversation();
  });

  document.addEventListener("htmx:oobAfterSwap", function () {
    scrollToBottom(false);
    markCurrentConversation();
  });

  // Whenever the websocket (re)connects, unfinished answers reload themselves from the
  // server: one that finished while no socket listened shows its final text.
  document.addEventListener("htmx:wsOpen", function () {
    document.body.dispatchEvent(new CustomEvent("memoryapp:resync"));
  });

  // A refused action on a message (Retry, Continue, Stop) says why in the message itself;
  // htmx does not swap error responses. The text goes in as text, never as HTML.
  function showMessageError(elt, text) {
    const article = elt && elt.closest ? elt.closest("article.msg") : null;
    if (!article) return;
    let error = article.querySelector(".msg-action-error");
    if (!error) {
      error = document.createElement("p");
      error.className = "msg-error msg-action-error";
      error.setAttribute("role", "alert");
      article.appendChild(error);
    }
    error.textContent = text;
  }

  // The app's own refusals are plain text; anything else (Django's 403 and 404 pages, a
  // proxy's error page) is HTML, and says nothing a person could act on.
  function refusalText(xhr) {
    const plain = (xhr.getResponseHeader("Content-Type") || "").startsWith("text/plain");
    if (xhr.status < 500 && plain && xhr.responseText) return xhr.responseText.slice(0, 300);
    if (xhr.status === 403) return "That was refused: your session may have ended. Reload the page and try again.";
    if (xhr.status === 404) return "This message is no longer there. Reload the page.";
    return "That did not work: please reload the page and try again.";
  }

  document.addEventListener("htmx:responseError", function (event) {
    showMessageError(event.detail.elt, refusalText(event.detail.xhr));
  });

  document.addEventListener("htmx:sendError", function (event) {
    showMessageError(event.detail.elt, "The server could not be reached: check the connection and try again.");
  });

  // An answer sent back to work (Retry, Continue) may finish before this response arrives;
  // the response would then hide the finished answer the websocket already delivered, so
  // unfinished answers fetch their state once more.
  document.addEventListener("htmx:afterSettle", function (event) {
    const elt = event.detail.elt;
    if (!elt || !elt.matches || !elt.matches("button.retry, button.continue")) return;
    document.body.dispatchEvent(new CustomEvent("memoryapp:resync"));
  });

  // A citation chip links here with ?highlight=<message ids>: mark and show those messages.
  function highlightCitedMessages() {
    const ids = new URLSearchParams(window.location.search).get("highlight");
    if (!ids) return false;
    const found = ids.split(",").map(function (id) {
      return document.getElementById("msg-" + id);
    }).filter(Boolean);
    found.forEach(function (el) { el.classList.add("highlight"); });
    if (found.length) found[0].scrollIntoView({ block: "center" });
    return found.length > 0;
  }

  document.addEventListener("DOMContentLoaded", function () {
    markCurrentConversation();
    if (!highlightCitedMessages()) scrollToBottom(true);
    const input = composerInput();
    if (input) input.focus();
  });
})();
