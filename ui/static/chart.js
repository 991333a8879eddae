// chart: every chart in the interface is Apache ECharts (vendored in vendor/echarts, so no
// CDN), drawn by this one function. ECharts is Chinese-first, has its own zh/en locale, and
// draws heat maps, interval bars and time series alike. The SVG renderer keeps charts
// crisp when printed for a centre's report, and leaves their text in the DOM, where
// screen readers and the browser tests can read it.
import { h } from "./dom.js";
import { locale } from "./i18n.js";

// ECharts is 1.1 MB: it is fetched the first time a chart is drawn, not with the app, so a
// trainer on a slow county-town connection never waits for it on the work screen.
let loading = null;
function loadECharts() {
  loading ??= import("./vendor/echarts/echarts.esm.min.js");
  return loading;
}

// chart returns an element that draws option (an ECharts option object) once it has a
// size, follows its box when it is resized, and frees the chart when it leaves the page.
// label describes the chart for assistive technology.
export function chart(option, { height = 280, label = "" } = {}) {
  const el = h("div", { class: "chart", role: "img", "aria-label": label, style: { height: `${height}px` } });
  let instance = null;
  let starting = false;
  const observer = new ResizeObserver(() => {
    if (!el.isConnected) {
      observer.disconnect();
      instance?.dispose();
      instance = null;
      return;
    }
    if (el.clientWidth === 0) return;
    if (instance) {
      instance.resize();
      return;
    }
    if (starting) return;
    starting = true;
    loadECharts().then((echarts) => {
      if (!el.isConnected) return;
      instance = echarts.init(el, null, { renderer: "svg", locale: locale() === "en" ? "EN" : "ZH" });
      instance.setOption({ animation: false, ...option });
      el.dataset.drawn = "true"; // for tests: the chart is on screen
    });
  });
  observer.observe(el);
  return el;
}
