// Panel review desk: small conveniences over plain forms. Everything works without it.
// - forms post with fetch and the page is swapped in place (no full reload, scroll kept);
//   a review you are still editing is never replaced by the swap;
// - unsaved reviews are marked, Ctrl/Cmd+Enter saves, the word count follows your typing;
// - queue filters apply on change; the comparison preview frame fits its page.
(() => {
  "use strict";

  const changed = (el) => {
    if (el.type === "radio" || el.type === "checkbox") return el.checked !== el.defaultChecked;
    if (el.tagName === "TEXTAREA" || el.type === "text") return el.value !== el.defaultValue;
    return false;
  };
  const isDirty = (card) => [...card.querySelectorAll("form.edit textarea, form.edit input")].some(changed);

  // What the server sent for a review card: its texts and verdict as first rendered.
  const stored = (card) => {
    const texts = [...card.querySelectorAll("form.edit textarea, form.edit input[type=text]")];
    const picked = [...card.querySelectorAll("form.edit input[name=verdict]")].find((r) => r.defaultChecked);
    return JSON.stringify([...texts.map((t) => t.defaultValue), picked ? picked.value : ""]);
  };

  const words = (text) => text.trim().split(/\s+/).filter(Boolean).length;

  // Grow a textarea to fit its text (never shrinking below its CSS minimum).
  const fit = (area) => {
    area.style.height = "auto";
    area.style.height = `${area.scrollHeight + 2}px`;
  };

  function enhance(root) {
    for (const card of root.querySelectorAll("[data-card]")) {
      const area = card.querySelector("form.edit textarea[name=quote]");
      const count = card.querySelector("[data-words]");
      if (!area) continue;
      const update = () => {
        card.classList.toggle("dirty", isDirty(card));
        if (count) count.textContent = `${words(area.value)} words`;
        fit(area);
      };
      fit(area);
      card.addEventListener("input", update);
      card.addEventListener("change", update);
    }
    for (const form of root.querySelectorAll("form[data-autosubmit]")) {
      form.addEventListener("change", () => form.requestSubmit());
    }
    for (const frame of root.querySelectorAll("iframe[data-autoheight]")) {
      frame.addEventListener("load", () => {
        try {
          frame.style.height = `${frame.contentDocument.documentElement.scrollHeight + 4}px`;
        } catch (_) { /* keep the CSS height */ }
      });
    }
  }

  // Replace <main> with the server's, keeping any review card the editor is still changing.
  function swap(doc, form) {
    const fresh = doc.querySelector("main");
    const current = document.querySelector("main");
    if (!fresh || !current) return false;
    const own = form.closest("[data-card]");
    for (const card of current.querySelectorAll("[data-card]")) {
      if (card === own || !isDirty(card)) continue;
      const twin = fresh.querySelector(`[data-card="${CSS.escape(card.dataset.card)}"]`);
      if (!twin) continue;
      // The review you are typing in did not change in the new revision: your edit now
      // applies to that revision. If it did change, it keeps the old one, so saving it
      // shows the conflict instead of overwriting.
      if (stored(card) === stored(twin)) {
        const revisions = twin.querySelectorAll("input[name=revision]");
        card.querySelectorAll("input[name=revision]").forEach((input, i) => {
          if (revisions[i]) input.value = revisions[i].value;
        });
      }
      twin.replaceWith(card);
    }
    current.replaceWith(fresh);
    const style = doc.head.querySelector("style");
    const ours = document.head.querySelector("style");
    if (style && ours) ours.textContent = style.textContent; // each page adds its own rules
    document.title = doc.title;
    enhance(fresh);
    return true;
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") return;
    if (form.closest(".bar")) return; // the editor-name form reloads the page
    event.preventDefault();
    const button = event.submitter;
    const label = button ? button.textContent : "";
    const body = new URLSearchParams(new FormData(form, button));
    if (button) {
      button.disabled = true;
      if (button.dataset.busy) button.textContent = button.dataset.busy;
    }
    let response;
    try {
      // A button may post elsewhere (formaction: "Approve and publish", "Waive").
      const action = button && button.hasAttribute("formaction") ? button.formAction : form.action;
      response = await fetch(action, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
    } catch (_) {
      if (button && button.hasAttribute("formaction")) form.action = button.formAction;
      if (button && button.name) {
        const sent = Object.assign(document.createElement("input"), { type: "hidden", name: button.name, value: button.value });
        form.append(sent); // form.submit() sends no submitter
      }
      form.submit(); // the network failed under fetch: fall back to a plain post
      return;
    }
    const html = await response.text();
    const doc = new DOMParser().parseFromString(html, "text/html");
    const scroll = window.scrollY;
    if (swap(doc, form)) {
      if (response.ok && response.redirected) {
        const url = new URL(response.url);
        history.replaceState(null, "", url.pathname + url.search);
        window.scrollTo(0, scroll);
      } else {
        window.scrollTo(0, 0);
      }
      const message = document.querySelector("[role=alert], [role=status]");
      if (message) message.setAttribute("tabindex", "-1");
    } else {
      document.body.textContent = html; // not a desk page (e.g. a refusal): show it as text
    }
    if (button && button.isConnected) {
      button.disabled = false;
      button.textContent = label;
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    const form = event.target.closest && event.target.closest("form");
    if (form && form.method.toLowerCase() === "post") {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  document.documentElement.classList.add("js");
  enhance(document);
})();
