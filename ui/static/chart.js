// chart: every chart in the interface is Apache ECharts (vendored in vendor/echarts, so no
// CDN), drawn by this one function. ECharts is Chinese-first, has its own zh/en locale, and
// draws heat maps, interval bars and time series alike. The SVG renderer keeps charts
// crisp when printed for a centre's report, and leaves their text in the DOM, where
// screen readers and the browser tests can read it.
import * as echarts from "./vendor/echarts/echarts.esm.min.js";
import { h } from "./dom.js";
import { locale } from "./i18n.js";

// chart returns an element that draws option (an ECharts option object) once it has a
// size, follows its box when it is resized, and frees the chart when it leaves the page.
// label describes the chart for assistive technology.
export function chart(option, { height = 280, label = "" } = {}) {
  const el = h("div", { class: "chart", role: "img", "aria-label": label, style: { height: `${height}px` } });
  let instance = null;
  const observer = new ResizeObserver(() => {
    if (!el.isConnected) {
      observer.disconnect();
      instance?.dispose();
      instance = null;
      return;
    }
    if (el.clientWidth === 0) return;
    if (!instance) {
      instance = echarts.init(el, null, { renderer: "svg", locale: locale() === "en" ? "EN" : "ZH" });
      instance.setOption({ animation: false, ...option });
    } else {
      instance.resize();
    }
  });
  observer.observe(el);
  return el;
}
