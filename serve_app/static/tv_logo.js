// TradingView's attribution mark (lightweight-charts' NOTICE asks for it), drawn with the DOM
// for charts created with `attributionLogo: false`: the library's own logo adds an inline
// <style> element that the page's CSP (`style-src 'self'`) blocks. Same mark, same URL as
// the library's; placed and coloured by style.css (`.tv-logo`).

import { h } from "./dom.js";

const LOGO = [
  ["var(--stroke)",
    "M2 0H0v10h6v9h21.4l.5-1.3 6-15 1-2.7H23.7l-.5 1.3-.2.6a5 5 0 0 0-7-.9V0H2Zm20 17"
    + "h4l5.2-13 .8-2h-7l-1 2.5-.2.5-1.5 3.8-.3.7V17Zm-.8-10a3 3 0 0 0 .7-2.7A3 3 0 1 0"
    + " 16.8 7h4.4ZM14 7V2H2v6h6v9h4V7h2Z"],
  ["var(--fill)", "M14 2H2v6h6v9h6V2Zm12 15h-7l6-15h7l-6 15Zm-7-9a3 3 0 1 0 0-6 3 3 0 0 0 0 6Z"],
];

/** The attribution link with TradingView's mark, classed `tv-logo`. */
export function tradingViewLogo() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const size = { width: "35", height: "19", fill: "none", viewBox: "0 0 35 19" };
  for (const [k, v] of Object.entries(size)) svg.setAttribute(k, v);
  for (const [fill, d] of LOGO) {
    const path = document.createElementNS(ns, "path");
    path.setAttribute("fill", fill);
    path.setAttribute("fill-rule", "evenodd");
    path.setAttribute("d", d);
    svg.append(path);
  }
  const link = h("a", {
    class: "tv-logo",
    href: "https://www.tradingview.com/?utm_medium=lwc-link&utm_campaign=lwc-chart",
    title: "Charting by TradingView", target: "_blank", rel: "noopener noreferrer",
  });
  link.append(svg);
  return link;
}
