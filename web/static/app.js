/*
 * Small behaviours shared by both apps. Loaded with `defer` from base.html; there is
 * no inline script or inline event handler anywhere (CSP script-src 'self'), so
 * every behaviour is declared with data- attributes and wired up here.
 *
 *   <button type="button" class="button" data-print>打印</button>
 *       prints the page (print.css applies).
 *   <div class="chart" data-chart="chart-cases"></div>
 *   <script type="application/json" id="chart-cases">{"xAxis": …, "series": […]}</script>
 *       an ECharts chart; needs {{ vendor('echarts') }} loaded by the page
 *       ({% block scripts %}<script src="{{ vendor('echarts') }}" defer></script>{% endblock %}).
 *   After an htmx swap that contains an invalid field, focus moves to the error summary
 *   or to the first invalid field, so keyboard and screen-reader users hear it.
 */
(function () {
  "use strict";

  function initCharts(root) {
    if (typeof window.echarts === "undefined") {
      return;
    }
    root.querySelectorAll("[data-chart]").forEach(function (element) {
      if (window.echarts.getInstanceByDom(element)) {
        return;
      }
      var source = document.getElementById(element.getAttribute("data-chart"));
      if (!source) {
        return;
      }
      var option;
      try {
        option = JSON.parse(source.textContent);
      } catch (error) {
        element.textContent = "图表数据无法读取";
        return;
      }
      window.echarts.init(element, null, { renderer: "canvas" }).setOption(option);
    });
  }

  function disposeCharts(root) {
    if (typeof window.echarts === "undefined") {
      return;
    }
    var elements = root.matches && root.matches("[data-chart]") ? [root] : [];
    root.querySelectorAll("[data-chart]").forEach(function (element) {
      elements.push(element);
    });
    elements.forEach(function (element) {
      var chart = window.echarts.getInstanceByDom(element);
      if (chart) {
        chart.dispose();
      }
    });
  }

  function resizeCharts() {
    if (typeof window.echarts === "undefined") {
      return;
    }
    document.querySelectorAll("[data-chart]").forEach(function (element) {
      var chart = window.echarts.getInstanceByDom(element);
      if (chart) {
        chart.resize();
      }
    });
  }

  function focusFirstError(root) {
    var target = root.querySelector(".error-summary") || root.querySelector("[aria-invalid='true']");
    if (target) {
      target.focus();
    }
  }

  document.addEventListener("click", function (event) {
    var trigger = event.target.closest("[data-print]");
    if (trigger) {
      event.preventDefault();
      window.print();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    initCharts(document);
  });

  // echarts is loaded with `defer` after this file; it is ready by window "load".
  window.addEventListener("load", function () {
    initCharts(document);
  });

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(resizeCharts, 150);
  });

  document.addEventListener("htmx:beforeCleanupElement", function (event) {
    disposeCharts(event.target);
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    initCharts(event.target);
    focusFirstError(event.target);
  });
})();
