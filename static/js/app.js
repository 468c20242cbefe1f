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

  // A request that fails says so next to what failed: under the composer (whose text stays
  // for another try), in the message whose action failed (Retry, Continue, Stop), or beside
  // any other element. htmx swaps no error response (but the composer's 422, which brings
  // its own error), so nothing else would show. The text goes in as text, never as HTML.

  // A request the server never answers (a hung connection) says so instead of spinning.
  htmx.config.timeout = 30000;

  const UNREACHABLE = "The server could not be reached: check the connection and try again.";
  const TIMED_OUT = "The server did not answer in time.";

  // Worth trying again as it was: the server or the connection failed, not the request.
  function transient(status) {
    return status === 0 || status === 408 || status === 429 || status >= 500;
  }

  // The app's own refusals, and its 503 while the database is down, are plain text; anything
  // else (Django's 403, 404 and 500 pages, a proxy's error page) is HTML, and says nothing a
  // person could act on. A 404 is said by the place that failed (`gone`).
  function failureText(xhr) {
    const plain = (xhr.getResponseHeader("Content-Type") || "").startsWith("text/plain");
    const own = xhr.status < 500 || xhr.status === 503;
    if (own && plain && xhr.responseText) return xhr.responseText.slice(0, 300);
    if (xhr.status === 403) return "That was refused: your session may have ended. Reload the page and try again.";
    if (xhr.status === 404) return null;
    if (xhr.status >= 500) return "The server failed (error " + xhr.status + "). Try again in a moment.";
    return "That did not work (error " + xhr.status + "): reload the page and try again.";
  }

  // Where the failure of a request from `elt` is shown, and what it is called if it is gone.
  function failureSlot(elt) {
    if (elt.closest("#composer")) {
      return { slot: document.getElementById("composer-error"), gone: "This conversation is no longer there. Reload the page.", prefix: "Your message was not sent. " };
    }
    const article = elt.closest("article.msg");
    if (article) {
      let slot = article.querySelector(".msg-action-error");
      if (!slot) {
        slot = document.createElement("p");
        slot.className = "msg-error msg-action-error";
        slot.setAttribute("role", "alert");
        article.appendChild(slot);
      }
      return { slot: slot, gone: "This message is no longer there. Reload the page.", prefix: "" };
    }
    return { slot: besideSlot(elt), gone: "This is no longer there. Reload the page.", prefix: "" };
  }

  // A form gets its message as its last child; any other element, right after it.
  function besideSlot(elt) {
    const form = elt instanceof HTMLFormElement;
    let slot = form ? elt.querySelector(":scope > .request-error") : elt.nextElementSibling;
    if (slot && slot.classList.contains("request-error")) return slot;
    slot = document.createElement("p");
    slot.className = "error request-error";
    slot.setAttribute("role", "alert");
    if (form) elt.appendChild(slot);
    else elt.insertAdjacentElement("afterend", slot);
    return slot;
  }

  // Sends the failed request again, as the person would have: the composer's current text,
  // the same button, the same event.
  function resender(elt, detail) {
    const config = detail.requestConfig || {};
    const type = config.triggeringEvent ? config.triggeringEvent.type : "";
    if (elt.closest("#composer")) {
      return function () {
        const composer = document.getElementById("composer");
        if (composer) composer.requestSubmit();
      };
    }
    if (type === "memoryapp:resync") {
      return function () { document.body.dispatchEvent(new CustomEvent("memoryapp:resync")); };
    }
    return function () {
      if (!document.body.contains(elt)) return;
      if (elt instanceof HTMLFormElement) elt.requestSubmit();
      else if (elt instanceof HTMLButtonElement) elt.click();
      else htmx.trigger(elt, type || "click");
    };
  }

  function showFailure(elt, detail, text, retry) {
    if (!elt || !elt.closest) return;
    const place = failureSlot(elt);
    if (!place.slot) return;
    place.slot.textContent = place.prefix + (text || place.gone);
    if (!retry) return;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link try-again";
    button.textContent = "Try again";
    const resend = resender(elt, detail);
    button.addEventListener("click", function () {
      place.slot.textContent = "";
      resend();
    });
    place.slot.append(" ", button);
  }

  function clearFailure(elt) {
    if (!elt || !elt.closest || elt.closest("#composer") || elt.closest("article.msg")) return;
    const slot = elt instanceof HTMLFormElement
      ? elt.querySelector(":scope > .request-error")
      : elt.nextElementSibling;
    if (slot && slot.classList.contains("request-error")) slot.remove();
  }

  document.addEventListener("htmx:responseError", function (event) {
    const xhr = event.detail.xhr;
    showFailure(event.detail.elt, event.detail, failureText(xhr), transient(xhr.status));
  });

  document.addEventListener("htmx:sendError", function (event) {
    showFailure(event.detail.elt, event.detail, UNREACHABLE, true);
  });

  document.addEventListener("htmx:timeout", function (event) {
    const elt = event.detail.elt;
    // The server may have done it all the same: a message sent twice is worse than a reload.
    const text = elt && elt.closest && elt.closest("#composer")
      ? TIMED_OUT + " It may have been sent: reload the page to see, or try again."
      : TIMED_OUT + " Reload the page to see whether it was done, or try again.";
    showFailure(elt, event.detail, text, true);
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.successful) clearFailure(event.detail.elt);
  });

  // The websocket extension waits up to 2^n seconds (capped at 64) between attempts, so a
  // tab that lost its socket in an outage of a minute stayed deaf for up to a minute more.
  // Here the first attempt comes within half a second, later ones double up to 5 seconds;
  // the jitter keeps many tabs from reconnecting in step. Each (re)connection resyncs the
  // unfinished answers (htmx:wsOpen above).
  htmx.config.wsReconnectDelay = function (retryCount) {
    const ceiling = Math.min(500 * Math.pow(2, retryCount), 5000);
    return ceiling / 2 + Math.random() * (ceiling / 2);
  };

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
