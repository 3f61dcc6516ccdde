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

// The newest candle a symbol's chart draws, its start and prices (null before there is
// one): not where it is drawn, which moves with the price axis (the headline price on it).
function lastCandle(symbol) {
  const candles = document.querySelectorAll(`.card[data-symbol="${symbol}"] svg .candle`);
  return candles.length ? JSON.stringify({...candles[candles.length - 1].dataset}) : null;
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

// Each card's headline price and top of book (as shown) with its chart's bounds: the
// price axis's (data-lo, data-hi), the time axis's (data-t0, data-t1), its first candle
// and its time labels, and the note under it.
function chartBounds() {
  return [...document.querySelectorAll(".card")].map((card) => {
    const svg = card.querySelector("svg"), first = svg.querySelector(".candle");
    const book = card.querySelector('.market [data-field="book"]');
    return {symbol: card.dataset.symbol, price: card.querySelector(".price").textContent,
            book: book ? book.textContent : null,
            lo: svg.dataset.lo === undefined ? null : Number(svg.dataset.lo),
            hi: svg.dataset.hi === undefined ? null : Number(svg.dataset.hi),
            t0: svg.dataset.t0 || null, t1: svg.dataset.t1 || null,
            first: first ? first.dataset.start : null,
            times: [...svg.querySelectorAll(".axis-time text")].map((text) => text.textContent),
            note: card.querySelector(".note").textContent};
  });
}

// A symbol's hover card: null while hidden, else its candle's start, its numbers by
// label, and whether it lies inside its card.
function hoverShown(symbol) {
  const card = document.querySelector(`.card[data-symbol="${symbol}"]`);
  const hover = card && card.querySelector(".hover");
  if (!hover || hover.hidden) return null;
  const box = hover.getBoundingClientRect(), outer = card.getBoundingClientRect();
  const fields = {};
  for (const dd of hover.querySelectorAll("dd")) fields[dd.dataset.field] = dd.textContent;
  return {start: hover.dataset.start, text: hover.textContent, fields,
          inside: box.width > 0 && box.left >= outer.left && box.right <= outer.right &&
                  box.top >= outer.top && box.bottom <= outer.bottom};
}

// Where the opened card's chart and statistics table are on the page.
function openedBoxes() {
  const card = document.querySelector(".card.wide");
  if (!card) return null;
  const box = (selector) => card.querySelector(selector).getBoundingClientRect().toJSON();
  return {chart: box("svg"), note: box(".note"), table: box("table")};
}

// The middle of the newest candle a symbol's chart draws, in the page's pixels.
function newestCandleMiddle(symbol) {
  const candles = document.querySelectorAll(`.card[data-symbol="${symbol}"] svg .candle`);
  if (!candles.length) return null;
  const box = candles[candles.length - 1].getBoundingClientRect();
  return {x: box.left + box.width / 2, y: box.top + box.height / 2,
          start: candles[candles.length - 1].dataset.start};
}
