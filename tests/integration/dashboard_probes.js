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
