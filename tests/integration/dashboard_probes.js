// Run in the dashboard page by tests/integration/test_dashboard.py.

// What sticks out of its card: every element's box must lie within its card's, the
// card must not scroll sideways, and the texts of neighbouring table cells must keep
// a gap (numbers that touch read as one).
function layoutProblems() {
  const textBox = (el) => {
    const range = document.createRange();
    range.selectNodeContents(el);
    const box = range.getBoundingClientRect();
    return box.width ? box : null;
  };
  const name = (el) =>
    `<${el.tagName.toLowerCase()}> "${(el.textContent || "").trim().slice(0, 24)}"`;
  const problems = [];
  for (const card of document.querySelectorAll(".card")) {
    const box = card.getBoundingClientRect(), symbol = card.dataset.symbol;
    if (card.scrollWidth > card.clientWidth) {
      problems.push(`${symbol}: content ${card.scrollWidth - card.clientWidth}px wider than the card`);
    }
    for (const el of card.querySelectorAll("*")) {
      const r = el.getBoundingClientRect();
      if (!r.width && !r.height) continue;
      const out = Math.max(box.left - r.left, r.right - box.right);
      if (out > 0.5) problems.push(`${symbol}: ${name(el)} sticks out by ${out.toFixed(1)}px`);
    }
    for (const row of card.querySelectorAll("tr")) {
      const cells = [...row.children];
      for (let i = 1; i < cells.length; i++) {
        const a = textBox(cells[i - 1]), b = textBox(cells[i]);
        if (a && b && b.left - a.right < 6) {
          problems.push(`${symbol}: ${name(cells[i - 1])} and ${name(cells[i])} are ` +
                        `${(b.left - a.right).toFixed(1)}px apart`);
        }
      }
    }
  }
  return problems;
}

// Each chart's axis labels, with their boxes on the page.
function chartAxes() {
  const labels = (svg, axis) => [...svg.querySelectorAll(`.axis-${axis} text`)].map(
    (text) => ({text: text.textContent, box: text.getBoundingClientRect().toJSON()}));
  return [...document.querySelectorAll(".card")].map((card) => {
    const svg = card.querySelector("svg");
    return {symbol: card.dataset.symbol, price: labels(svg, "price"), time: labels(svg, "time")};
  });
}

// True once every statistic in the tables has a value.
function statisticsShown() {
  const cells = [...document.querySelectorAll(".card td")];
  return cells.length > 0 && cells.every((td) => td.textContent !== "\u2013");
}

// The starts of the candles a symbol's chart draws, oldest first.
function candleStarts(symbol) {
  const card = document.querySelector(`.card[data-symbol="${symbol}"]`);
  return card ? [...card.querySelectorAll("svg .candle")].map((g) => g.dataset.start) : [];
}

// The newest candle a symbol's chart draws (null before there is one).
function lastCandle(symbol) {
  const candles = document.querySelectorAll(`.card[data-symbol="${symbol}"] svg .candle`);
  return candles.length ? candles[candles.length - 1].outerHTML : null;
}

// How many /api/candles/ (or another API's) requests the page has made so far for a symbol.
function candleRequests(symbol, api = "candles") {
  return performance.getEntriesByType("resource").filter(
    (entry) => new URL(entry.name).pathname.startsWith(`/api/${api}/${symbol}/`)).length;
}

// What a symbol's card shows of the streams: trades per second, spread, bid / ask,
// and the table's volume row (one cell per window).
function marketShown(symbol) {
  const card = document.querySelector(`.card[data-symbol="${symbol}"]`);
  const field = (name) => {
    const el = card && card.querySelector(`.market [data-field="${name}"]`);
    return el ? el.textContent : null;
  };
  const row = card && [...card.querySelectorAll("tr")].find(
    (tr) => tr.firstElementChild.textContent === "volume");
  return {rate: field("rate"), spread: field("spread"), book: field("book"),
          volume: row ? [...row.querySelectorAll("td")].map((td) => td.textContent) : null};
}
