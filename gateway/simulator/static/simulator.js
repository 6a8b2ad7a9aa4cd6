// The feature phone: a USSD session against the real /ussd endpoint, an SMS inbox,
// M-Pesa PIN prompts, and a timeline of what happened behind the scenes.
(function () {
  "use strict";
  const serviceCode = document.getElementById("simulator-script").dataset.serviceCode;
  const $ = (id) => document.getElementById(id);
  const state = { phone: null, sessionId: null, answers: [], open: false, promptId: null };

  function newSessionId() {
    return "SIM_" + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
  }

  function show(text, ended) {
    const screen = $("screen");
    screen.textContent = text;
    screen.classList.toggle("ended", !!ended);
    $("reply").disabled = !!ended;
    $("send").disabled = !!ended;
    if (!ended) { $("reply").focus(); }
  }

  async function ussd(text) {
    const body = new URLSearchParams({
      sessionId: state.sessionId, serviceCode: serviceCode,
      phoneNumber: state.phone, networkCode: "63902", text: text,
    });
    const response = await fetch("/ussd", { method: "POST", body: body });
    const reply = await response.text();
    if (!response.ok) { show("Network error (" + response.status + ")", true); return; }
    const ended = reply.startsWith("END ");
    state.open = !ended;
    show(reply.slice(4), ended);
    refreshSoon();
  }

  function dial() {
    state.sessionId = newSessionId();
    state.answers = [];
    show("Connecting…", false);
    ussd("");
  }

  function send(event) {
    event.preventDefault();
    if (!state.open) { return; }
    const value = $("reply").value.trim();
    $("reply").value = "";
    state.answers.push(value);
    ussd(state.answers.join("*"));
  }

  function hangup() {
    state.open = false;
    show("Session ended.", true);
  }

  async function loadPhones() {
    const data = await (await fetch("/simulator/api/phones")).json();
    const select = $("phone-select");
    select.innerHTML = "";
    for (const p of data.phones) {
      const option = document.createElement("option");
      option.value = p.phone;
      option.textContent = p.label;
      select.appendChild(option);
    }
    choosePhone(select.value);
  }

  function choosePhone(phone) {
    state.phone = phone;
    $("phone-number").textContent = phone;
    hangup();
    $("screen").innerHTML = '<div class="idle">Mkopo<br><small>Press Dial to call ' +
      serviceCode + "</small></div>";
    refresh();
  }

  async function refreshInbox() {
    const data = await (await fetch("/simulator/api/inbox?phone=" +
      encodeURIComponent(state.phone))).json();
    const list = $("inbox");
    list.innerHTML = "";
    if (!data.messages || data.messages.length === 0) {
      list.innerHTML = '<li class="muted">No messages yet.</li>';
      return;
    }
    for (const m of data.messages) {
      const item = document.createElement("li");
      const meta = document.createElement("div");
      meta.className = "meta";
      meta.textContent = new Date(m.at).toLocaleString() + " · " + m.status;
      const body = document.createElement("div");
      body.textContent = m.body;
      item.append(body, meta);
      list.appendChild(item);
    }
  }

  async function refreshPrompts() {
    const data = await (await fetch("/simulator/api/prompts?phone=" +
      encodeURIComponent(state.phone))).json();
    const card = $("prompt-card");
    const prompt = (data.prompts || [])[0];
    if (!prompt) { card.hidden = true; state.promptId = null; return; }
    if (state.promptId === prompt.id) { return; }
    state.promptId = prompt.id;
    $("prompt-text").textContent = "Pay KES " + (prompt.amount / 100).toLocaleString() +
      " to " + (prompt.business || "Mkopo") + " for account " + prompt.account +
      "? Enter your M-Pesa PIN.";
    $("mpesa-pin").value = "";
    card.hidden = false;
  }

  async function answerPrompt(pin) {
    if (!state.promptId) { return; }
    await fetch("/simulator/api/prompts/" + encodeURIComponent(state.promptId), {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ pin: pin }),
    });
    $("prompt-card").hidden = true;
    state.promptId = null;
    refreshSoon();
  }

  async function refreshTimeline() {
    const data = await (await fetch("/simulator/api/timeline")).json();
    const list = $("timeline");
    list.innerHTML = "";
    for (const e of data.events) {
      const item = document.createElement("li");
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = e.type;
      item.append(tag, " " + new Date(e.at).toLocaleTimeString() + " " + e.text);
      list.appendChild(item);
    }
  }

  async function payBill(event) {
    event.preventDefault();
    const shillings = parseInt($("paybill-amount").value, 10);
    if (!shillings || shillings <= 0) { return; }
    await fetch("/simulator/api/paybill", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ phone: state.phone, account: $("paybill-account").value,
                             amount: shillings * 100 }),
    });
    refreshSoon();
  }

  async function simSwap() {
    if (!state.phone) { return; }
    await fetch("/simulator/api/sim-swap", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ phone: state.phone, days_ago: 0 }),
    });
    refreshSoon();
  }

  function refresh() {
    if (!state.phone) { return; }
    refreshInbox().catch(() => {});
    refreshPrompts().catch(() => {});
    refreshTimeline().catch(() => {});
  }

  function refreshSoon() { setTimeout(refresh, 400); setTimeout(refresh, 1500); }

  $("dial").addEventListener("click", dial);
  $("hangup").addEventListener("click", hangup);
  $("reply-form").addEventListener("submit", send);
  $("phone-select").addEventListener("change", (e) => choosePhone(e.target.value));
  $("prompt-form").addEventListener("submit", (e) => { e.preventDefault();
    answerPrompt($("mpesa-pin").value); });
  $("prompt-cancel").addEventListener("click", () => answerPrompt(null));
  $("paybill-form").addEventListener("submit", payBill);
  $("sim-swap").addEventListener("click", simSwap);
  for (const key of document.querySelectorAll("#keypad button")) {
    key.addEventListener("click", () => { if (state.open) { $("reply").value += key.dataset.key; } });
  }
  setInterval(refresh, 3000);
  loadPhones();
})();
