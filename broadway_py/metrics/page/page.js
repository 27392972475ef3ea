// The live page of broadway-py: polls ./status once a second and draws it.
// Plain JavaScript, no framework, nothing fetched but this origin's /status.
// Every text from /status goes into the page through textContent (never as
// HTML): a failure's reason is the handler's or the broker's text.
"use strict";

(function () {
  const POLL_MS = 1000;
  const DECISIONS = { retry: "retry", dead_letter: "dead letter", discard: "discard" };
  let previous = null; // {at: ms, values: Map(key -> counter)}

  // ---- DOM helpers ---------------------------------------------------------
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function byId(id) {
    return document.getElementById(id);
  }

  function num(value) {
    return typeof value === "number" && isFinite(value) ? value : 0;
  }

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  const grouping = new Intl.NumberFormat("en-US");

  function count(value) {
    return grouping.format(Math.round(num(value)));
  }

  function perSecond(rate) {
    if (rate === null) return "…/s";
    return (rate >= 100 ? grouping.format(Math.round(rate)) : rate.toFixed(1)) + "/s";
  }

  function age(seconds) {
    if (typeof seconds !== "number" || !isFinite(seconds)) return "–";
    if (seconds < 1) return Math.round(seconds * 1000) + " ms";
    if (seconds < 60) return seconds.toFixed(1) + " s";
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " min " + Math.round(seconds % 60) + " s";
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  // ---- rates from counter deltas --------------------------------------------
  function Rates(now) {
    this.now = now;
    this.values = new Map();
  }
  Rates.prototype.of = function (key, value) {
    const v = num(value);
    this.values.set(key, v);
    if (previous === null || !previous.values.has(key)) return null;
    const seconds = (this.now - previous.at) / 1000;
    if (seconds <= 0) return null;
    return Math.max(v - previous.values.get(key), 0) / seconds;
  };

  // ---- one shape for one process and for the --workers front ---------------
  function sumInto(target, source) {
    for (const key of Object.keys(source)) {
      const value = source[key];
      if (typeof value === "number") target[key] = num(target[key]) + value;
      else if (isObject(value)) sumInto((target[key] = isObject(target[key]) ? target[key] : {}), value);
    }
    return target;
  }

  function fromWorkers(doc) {
    const answered = doc.workers.filter(function (w) {
      return isObject(w) && isObject(w.status);
    });
    const first = answered.length ? answered[0].status : {};
    const totals = isObject(doc.totals) ? doc.totals : {};
    // Per source, combined by the front (metrics/sum_status.py: the largest for a
    // queue, the sum for a Kafka topic); an older front leaves it to the page.
    const combinedBacklog = isObject(totals.backlog);
    const merged = Object.assign({}, first, {
      name: doc.name || first.name,
      counters: isObject(totals.counters) ? totals.counters : {},
      in_flight: totals.in_flight,
      oldest_in_flight_age: totals.oldest_in_flight_age,
      backlog_total: totals.backlog_total,
      stages: {},
      producer_connections: {},
      oldest_in_flight_age_by_producer: {},
      backlog: combinedBacklog ? Object.assign({}, totals.backlog) : {},
      // Added up by the front (metrics/sum_status.py); absent from an older one.
      partition_lag: isObject(totals.partition_lag) ? totals.partition_lag : undefined,
      recent_failures: Array.isArray(totals.recent_failures) ? totals.recent_failures : undefined,
      not_ready_reasons: [],
    });
    const states = new Set();
    let ready = answered.length > 0;
    let alive = false;
    for (const worker of answered) {
      const s = worker.status;
      const tag = "w" + worker.index + "/";
      states.add(String(s.state));
      ready = ready && s.ready === true;
      alive = alive || s.alive === true;
      for (const reason of s.not_ready_reasons || []) merged.not_ready_reasons.push(tag + reason);
      const stages = isObject(s.stages) ? s.stages : {};
      for (const key of Object.keys(stages)) {
        if (key.startsWith("producer_")) merged.stages[tag + key] = stages[key];
        else merged.stages[key] = sumInto(merged.stages[key] || {}, stages[key]);
      }
      for (const [key, value] of Object.entries(s.producer_connections || {})) {
        merged.producer_connections[tag + key] = value;
      }
      for (const [key, value] of Object.entries(s.oldest_in_flight_age_by_producer || {})) {
        merged.oldest_in_flight_age_by_producer[tag + key] = value;
      }
      // An older front: each worker reports the whole depth of a queue it shares,
      // so the largest, not a sum.
      if (!combinedBacklog) {
        for (const [queue, depth] of Object.entries(s.backlog || {})) {
          merged.backlog[queue] = Math.max(num(merged.backlog[queue]), num(depth));
        }
      }
    }
    merged.state = Array.from(states).join(", ") || "no answer";
    merged.ready = ready;
    merged.alive = alive;
    merged.workers_info = {
      count: num(totals.workers),
      live: num(totals.live),
      answered: num(totals.answered),
    };
    return merged;
  }

  function normalize(doc) {
    if (isObject(doc) && Array.isArray(doc.workers)) return fromWorkers(doc);
    return isObject(doc) ? doc : {};
  }

  // ---- the producers, from the stage names (producer_<i>, w<k>/producer_<i>) -
  function producerList(s) {
    const keys = new Set();
    for (const key of Object.keys(s.stages || {})) {
      if (/(^|\/)producer_\d+$/.test(key)) keys.add(key);
    }
    for (const key of Object.keys(s.producer_connections || {})) keys.add(key);
    const instances = Array.isArray(s.producer_instances) ? s.producer_instances : [];
    return Array.from(keys)
      .sort()
      .map(function (key) {
        const index = Number(key.slice(key.lastIndexOf("_") + 1));
        return { key: key, name: instances[index] };
      });
  }

  // ---- rendering -----------------------------------------------------------
  function stageBox(title, rateText, lines, className) {
    const box = el("div", "stage" + (className ? " " + className : ""));
    box.appendChild(el("div", "title", title));
    const rate = el("div", "rate", rateText);
    box.appendChild(rate);
    for (const line of lines) {
      if (line !== null) box.appendChild(el("div", "line", line));
    }
    return box;
  }

  function column(stage, heading, boxes) {
    const col = el("div", "column");
    col.dataset.stage = stage;
    col.appendChild(el("h3", null, heading));
    for (const box of boxes) col.appendChild(box);
    return col;
  }

  function renderTopology(s, rates) {
    const stages = isObject(s.stages) ? s.stages : {};
    const counters = isObject(s.counters) ? s.counters : {};
    const processed = isObject(counters.processed) ? counters.processed : {};
    const inFlight = num(s.in_flight);
    const inProcessors = Math.max(
      num(counters.received) - num(processed.ok) - num(processed.failed),
      0
    );
    const inProcessorsShown = Math.min(inProcessors, inFlight);
    const connections = isObject(s.producer_connections) ? s.producer_connections : {};
    const oldestBy = isObject(s.oldest_in_flight_age_by_producer)
      ? s.oldest_in_flight_age_by_producer
      : {};

    const producerBoxes = producerList(s).map(function (p) {
      const received = isObject(stages[p.key]) ? stages[p.key].received : 0;
      const connection = connections[p.key];
      const down = isObject(connection) && connection.connected === false;
      return stageBox(
        p.key + (p.name ? " · " + p.name : ""),
        perSecond(rates.of("stage:" + p.key, received)),
        [
          count(received) + " received",
          p.key in oldestBy ? "oldest in flight " + age(oldestBy[p.key]) : null,
          down ? "disconnected" : null,
        ],
        down ? "down" : null
      );
    });
    if (!producerBoxes.length) producerBoxes.push(stageBox("none", "–", [], null));

    const processors = isObject(s.processors) ? s.processors : {};
    const processorKeys = Object.keys(stages)
      .filter(function (k) {
        return /^processor_\d+$/.test(k);
      })
      .sort(function (a, b) {
        return Number(a.slice(10)) - Number(b.slice(10));
      });
    let processorRate = 0;
    let processorRateKnown = true;
    const chips = el("div", "workers");
    for (const key of processorKeys) {
      const done = num(stages[key].ok) + num(stages[key].failed);
      const rate = rates.of("stage:" + key, done);
      if (rate === null) processorRateKnown = false;
      else processorRate += rate;
      if (processorKeys.length <= 32) chips.appendChild(el("span", "worker", key.slice(10) + ": " + perSecond(rate)));
    }
    const processorBox = stageBox(
      "processors ×" + num(processors.concurrency || processorKeys.length),
      perSecond(processorRateKnown && processorKeys.length ? processorRate : null),
      [
        "in flight " + count(inProcessorsShown),
        count(processed.ok) + " ok · " + count(processed.failed) + " failed",
        processors.executor ? "executor " + processors.executor : null,
      ],
      null
    );
    processorBox.appendChild(chips);

    const batchers = Array.isArray(s.batchers) ? s.batchers : [];
    const inBatchers = Math.max(inFlight - inProcessorsShown, 0);
    const batcherBoxes = [];
    const batchBoxes = [];
    for (const b of batchers) {
      const counts = isObject(stages["batcher_" + b.name]) ? stages["batcher_" + b.name] : {};
      batcherBoxes.push(
        stageBox(
          String(b.name),
          perSecond(rates.of("batches:" + b.name, counts.batches)) + " batches",
          [
            "size " + count(b.batch_size) + " · timeout " + age(b.batch_timeout),
            count(counts.batches) + " batches",
          ],
          null
        )
      );
      batchBoxes.push(
        stageBox(
          String(b.name) + " ×" + num(b.concurrency),
          perSecond(rates.of("batched:" + b.name, counts.messages)),
          [count(counts.messages) + " messages", count(counts.failed) + " failed"],
          null
        )
      );
    }

    const topology = byId("topology");
    const columns = [
      column("producers", "Producers", producerBoxes),
      column("processors", "Processors", [processorBox]),
    ];
    if (batchers.length) {
      columns.push(column("batchers", "Batchers · in flight " + count(inBatchers), batcherBoxes));
      columns.push(column("batch-processors", "Batch processors", batchBoxes));
    }
    const children = [];
    columns.forEach(function (col, i) {
      if (i > 0) children.push(el("div", "arrow"));
      children.push(col);
    });
    topology.replaceChildren.apply(topology, children);
  }

  function card(label, metric, value, text, sub) {
    const node = el("div", "card");
    node.appendChild(el("div", "label", label));
    const shown = el("div", "value", text);
    shown.dataset.metric = metric;
    shown.dataset.value = String(value);
    node.appendChild(shown);
    if (sub) node.appendChild(el("div", "sub", sub));
    return node;
  }

  function renderTotals(s, rates) {
    const counters = isObject(s.counters) ? s.counters : {};
    const acked = isObject(counters.acked) ? counters.acked : {};
    const restarts = isObject(counters.restarts) ? counters.restarts : {};
    let restartCount = 0;
    for (const value of Object.values(restarts)) restartCount += num(value);
    const cards = [
      card("received", "received", num(counters.received), count(counters.received),
        perSecond(rates.of("received", counters.received))),
      card("acked ok", "acked.successful", num(acked.successful), count(acked.successful),
        perSecond(rates.of("acked.successful", acked.successful))),
      card("retried", "acked.retried", num(acked.retried), count(acked.retried),
        perSecond(rates.of("acked.retried", acked.retried))),
      card("dead-lettered", "acked.dead_lettered", num(acked.dead_lettered),
        count(acked.dead_lettered), perSecond(rates.of("acked.dead_lettered", acked.dead_lettered))),
      card("discarded", "acked.discarded", num(acked.discarded), count(acked.discarded),
        perSecond(rates.of("acked.discarded", acked.discarded))),
      card("in flight", "in_flight", num(s.in_flight), count(s.in_flight),
        "backlog " + count(s.backlog_total)),
      card("oldest in flight", "oldest_in_flight_age", num(s.oldest_in_flight_age),
        age(s.oldest_in_flight_age), null),
      card("restarts", "restarts", restartCount, count(restartCount),
        count(counters.ack_failures) + " ack failures"),
    ];
    const totals = byId("totals");
    totals.replaceChildren.apply(totals, cards);
  }

  function renderProducers(s) {
    const connections = isObject(s.producer_connections) ? s.producer_connections : {};
    const oldestBy = isObject(s.oldest_in_flight_age_by_producer)
      ? s.oldest_in_flight_age_by_producer
      : {};
    const cards = producerList(s).map(function (p) {
      const node = el("div", "card");
      node.dataset.producer = p.key;
      node.appendChild(el("div", "label", p.key + (p.name ? " · " + p.name : "")));
      const connection = connections[p.key];
      let pill;
      if (!isObject(connection)) pill = el("span", "pill", "no connection reported");
      else if (connection.connected) pill = el("span", "pill ok", "connected");
      else pill = el("span", "pill bad", "disconnected");
      node.appendChild(pill);
      if (isObject(connection)) {
        node.appendChild(el("div", "sub", "for " + age(connection.for_seconds)));
        if (!connection.connected && connection.reason) {
          node.appendChild(el("div", "sub", String(connection.reason)));
        }
      }
      if (p.key in oldestBy) {
        node.appendChild(el("div", "sub", "oldest in flight " + age(oldestBy[p.key])));
      }
      return node;
    });
    const producers = byId("producers");
    if (!cards.length) cards.push(el("p", "muted", "no producers reported"));
    producers.replaceChildren.apply(producers, cards);

    const backlog = byId("backlog");
    const queues = Object.entries(isObject(s.backlog) ? s.backlog : {});
    backlog.replaceChildren.apply(
      backlog,
      queues.length
        ? queues.map(function (entry) {
          return el("span", "chip", entry[0] + ": " + count(entry[1]));
        })
        : [el("span", "muted", "no backlog reported (a broker that counts it reports it here)")]
    );

    const lag = byId("lag");
    const sources = isObject(s.partition_lag) ? Object.entries(s.partition_lag) : [];
    const blocks = [];
    for (const [source, partitions] of sources) {
      const block = el("div", "source");
      block.dataset.source = source;
      block.appendChild(el("div", "label", source));
      const chips = el("div", "chips");
      const entries = Object.entries(isObject(partitions) ? partitions : {}).sort(function (a, b) {
        return Number(a[0]) - Number(b[0]);
      });
      for (const [partition, behind] of entries) {
        const chip = el("span", "chip" + (num(behind) > 0 ? " lagging" : ""),
          "p" + partition + ": " + count(behind));
        chip.dataset.partition = partition;
        chips.appendChild(chip);
      }
      block.appendChild(chips);
      blocks.push(block);
    }
    if (!blocks.length) {
      blocks.push(el("p", "muted", "no partitions reported (Kafka producers report their lag here)"));
    }
    lag.replaceChildren.apply(lag, blocks);
  }

  function renderFailures(s) {
    const box = byId("failures");
    if (!Array.isArray(s.recent_failures)) {
      box.replaceChildren(el("p", "muted", "this version's /status lists no failures"));
      return;
    }
    if (!s.recent_failures.length) {
      box.replaceChildren(el("p", "muted", "no failures yet"));
      return;
    }
    const rows = s.recent_failures.map(function (f) {
      const decision = String(f.decision);
      const row = el("div", "failure " + decision.replace(/[^a-z_]/g, ""));
      row.dataset.decision = decision;
      const meta = el("div", "meta");
      const when = typeof f.at === "number" ? new Date(f.at * 1000).toLocaleTimeString() : "";
      meta.appendChild(el("span", null, when));
      meta.appendChild(el("span", null, String(f.stage)));
      if (f.message_id !== null && f.message_id !== undefined) {
        meta.appendChild(el("span", null, "id " + f.message_id));
      }
      const pill = el("span", "pill " + (decision === "retry" ? "warn" : "bad"),
        DECISIONS[decision] || decision);
      pill.dataset.role = "decision";
      meta.appendChild(pill);
      if (decision === "retry" && typeof f.delay === "number") {
        meta.appendChild(el("span", null, "again in " + age(f.delay)));
      }
      row.appendChild(meta);
      const reason = el("div", "reason", String(f.reason));
      row.appendChild(reason);
      return row;
    });
    box.replaceChildren.apply(box, rows);
  }

  function renderHeader(s) {
    byId("name").textContent = String(s.name || "broadway-py");
    document.title = String(s.name || "broadway-py") + " · broadway-py";
    const state = byId("state");
    state.textContent = String(s.state || "unknown");
    state.className = "pill " + (s.alive === false ? "bad" : s.state === "running" ? "ok" : "warn");
    const ready = byId("ready");
    ready.textContent = s.ready ? "ready" : "not ready";
    ready.className = "pill " + (s.ready ? "ok" : "bad");
    const info = s.workers_info;
    const reasons = Array.isArray(s.not_ready_reasons) ? s.not_ready_reasons : [];
    let text = "updated " + new Date().toLocaleTimeString();
    if (isObject(info)) text += " · " + info.answered + " of " + info.count + " workers answered";
    byId("updated").textContent = text;
    const problem = byId("problem");
    problem.hidden = reasons.length === 0;
    problem.textContent = reasons.join("; ");
  }

  function render(doc) {
    const s = normalize(doc);
    const rates = new Rates(performance.now());
    renderHeader(s);
    renderTopology(s, rates);
    renderTotals(s, rates);
    renderProducers(s);
    renderFailures(s);
    previous = { at: rates.now, values: rates.values };
    document.body.dataset.updates = String(num(Number(document.body.dataset.updates)) + 1);
  }

  function unreachable(reason) {
    const problem = byId("problem");
    problem.hidden = false;
    problem.textContent = "cannot read /status: " + reason;
    const state = byId("state");
    state.textContent = "unreachable";
    state.className = "pill bad";
  }

  async function poll() {
    try {
      const response = await fetch("status", {
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      const doc = await response.json();
      if (!response.ok && !isObject(doc)) unreachable("HTTP " + response.status);
      else render(doc);
    } catch (error) {
      unreachable(error && error.message ? error.message : String(error));
    } finally {
      window.setTimeout(poll, POLL_MS);
    }
  }

  poll();
})();
