// The HTML report's charts, drawn with Chart.js from the JSON block #report-data that
// agent_tracker/reporthtml.py writes. Names are only ever drawn on canvases by Chart.js or
// set as textContent, never parsed as HTML. When every chart is drawn, <html data-charts>
// holds how many.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var groups = data.groups;
  var ROW = 40; // two lines of a label

  Chart.defaults.animation = false; // a printed or captured page shows the final state
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.family = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  Chart.defaults.color = "#1f2937";

  function signed(value) {
    return (value > 0 ? "+" : "") + value.toFixed(1);
  }

  function plural(count, word) {
    return count + " " + word + (count === 1 ? "" : "s");
  }

  // The canvas of figure `name`, its box sized for `rows` rows; null when the page has none.
  function canvas(name, rows) {
    var found = document.getElementById("chart-" + name);
    if (!found) {
      return null;
    }
    found.parentElement.style.height = Math.max(180, 70 + rows * ROW) + "px";
    return found;
  }

  // A dashed vertical line at x = options.value with a small label (the overall mean, the
  // minimum of user grades): drawn by hand, as Chart.js has no such element of its own.
  var referenceLine = {
    id: "referenceLine",
    afterDatasetsDraw: function (chart, args, options) {
      if (options.value === null || options.value === undefined) {
        return;
      }
      var x = chart.scales.x.getPixelForValue(options.value);
      var area = chart.chartArea;
      var ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = "#6b7280";
      ctx.setLineDash([5, 4]);
      ctx.beginPath();
      ctx.moveTo(x, area.top);
      ctx.lineTo(x, area.bottom);
      ctx.stroke();
      ctx.fillStyle = "#4b5563";
      ctx.font = "11px " + Chart.defaults.font.family;
      ctx.textAlign = "left";
      ctx.textBaseline = "bottom";
      ctx.fillText(options.label, x + 4, area.top - 2);
      ctx.restore();
    },
  };

  // The names' axis of a horizontal chart: every name shown, each line clipped shorter on
  // a narrow screen so that the bars keep room.
  function axisY(extra) {
    return Object.assign(
      {
        ticks: {
          autoSkip: false,
          callback: function (value) {
            var label = this.getLabelForValue(value);
            var room = this.chart.width < 600 ? 18 : 48;
            return (Array.isArray(label) ? label : [label]).map(function (line) {
              return line.length > room ? line.slice(0, room - 1) + "\u2026" : line;
            });
          },
        },
      },
      extra
    );
  }

  function horizontal(extra) {
    var options = {
      indexAxis: "y",
      layout: { padding: { top: 16 } },
      plugins: { legend: { display: false }, referenceLine: {} },
      scales: { y: axisY({}) },
    };
    Object.keys(extra).forEach(function (key) {
      options[key] = Object.assign({}, options[key] || {}, extra[key]);
    });
    return options;
  }

  var drawn = 0;
  var fitted = groups.filter(function (g) {
    return g.score !== null && g.low !== null;
  });
  var labels = function (list) {
    return list.map(function (g) {
      return g.lines;
    });
  };

  var scoreCanvas = canvas("score", fitted.length);
  if (scoreCanvas) {
    new Chart(scoreCanvas, {
      type: "bar",
      plugins: [referenceLine],
      data: {
        labels: labels(fitted),
        datasets: [
          {
            type: "bar",
            label: "95% interval",
            indexAxis: "y",
            data: fitted.map(function (g) {
              return [g.low, g.high];
            }),
            backgroundColor: fitted.map(function (g) {
              return g.light;
            }),
            borderColor: "#111827",
            borderWidth: fitted.map(function (g) {
              return g.chosen ? 2 : 0;
            }),
            borderSkipped: false,
            barPercentage: 0.7,
            order: 2,
          },
          {
            type: "line",
            label: "expected user grade",
            indexAxis: "y",
            data: fitted.map(function (g) {
              return g.score;
            }),
            showLine: false,
            pointStyle: "rectRot",
            pointRadius: 7,
            pointHoverRadius: 8,
            backgroundColor: fitted.map(function (g) {
              return g.colour;
            }),
            borderColor: "#ffffff",
            order: 1,
          },
        ],
      },
      options: horizontal({
        scales: {
          x: {
            suggestedMin: -1,
            suggestedMax: 5,
            title: { display: true, text: "expected user grade (bad -1 … excellence +5)" },
          },
          y: axisY({}),
        },
        plugins: {
          legend: { display: false },
          referenceLine: { value: data.overall_mean, label: "overall mean" },
          tooltip: {
            callbacks: {
              label: function (item) {
                var g = fitted[item.dataIndex];
                return (
                  "score " + signed(g.score) + " (95% interval " + signed(g.low) + " to " +
                  signed(g.high) + "), " + plural(g.user_graded, "user-graded commit")
                );
              },
            },
          },
        },
      }),
    });
    drawn += 1;
  }

  var pbestCanvas = canvas("pbest", fitted.length);
  if (pbestCanvas) {
    new Chart(pbestCanvas, {
      type: "bar",
      data: {
        labels: labels(fitted),
        datasets: [
          {
            label: "P(best)",
            data: fitted.map(function (g) {
              return Math.round((g.p_best || 0) * 1000) / 10;
            }),
            backgroundColor: fitted.map(function (g) {
              return g.colour;
            }),
            barPercentage: 0.7,
          },
        ],
      },
      options: horizontal({
        scales: {
          x: {
            min: 0,
            max: 100,
            title: { display: true, text: "chance to be the best (%)" },
            ticks: {
              callback: function (value) {
                return value + "%";
              },
            },
          },
          y: axisY({}),
        },
        plugins: {
          legend: { display: false },
          referenceLine: {},
          tooltip: {
            callbacks: {
              label: function (item) {
                return "P(best) " + item.parsed.x + "%";
              },
            },
          },
        },
      }),
    });
    drawn += 1;
  }

  var trended = groups.filter(function (g) {
    return g.weekly !== undefined;
  });
  var trendCanvas = canvas("trend", 8);
  if (trendCanvas) {
    new Chart(trendCanvas, {
      type: "line",
      data: {
        labels: data.weeks,
        datasets: trended.map(function (g) {
          return {
            label: g.label,
            data: g.weekly,
            borderColor: g.colour,
            backgroundColor: g.colour,
            borderWidth: g.chosen ? 3 : 2,
            spanGaps: true,
            tension: 0,
            pointRadius: g.weekly_n.map(function (n) {
              return n ? 2 + Math.min(Math.sqrt(n), 5) : 0;
            }),
          };
        }),
      },
      options: {
        interaction: { mode: "nearest", intersect: false },
        scales: {
          y: {
            suggestedMin: -1,
            suggestedMax: 5,
            title: { display: true, text: "your mean grade that week" },
          },
          x: { title: { display: true, text: "week (ISO, UTC)" } },
        },
        plugins: {
          legend: { position: "bottom" },
          tooltip: {
            callbacks: {
              label: function (item) {
                var g = trended[item.datasetIndex];
                return (
                  g.label + ": " + signed(item.parsed.y) + " over " +
                  plural(g.weekly_n[item.dataIndex], "grade")
                );
              },
            },
          },
        },
      },
    });
    drawn += 1;
  }

  var mixed = groups.filter(function (g) {
    return g.mix.some(function (n) {
      return n > 0;
    });
  });
  var mixCanvas = canvas("mix", mixed.length);
  if (mixCanvas) {
    new Chart(mixCanvas, {
      type: "bar",
      data: {
        labels: labels(mixed),
        datasets: data.grades.map(function (name, index) {
          return {
            label: name,
            backgroundColor: data.grade_colours[index],
            data: mixed.map(function (g) {
              var total = g.mix.reduce(function (a, b) {
                return a + b;
              }, 0);
              return Math.round((g.mix[index] / total) * 1000) / 10;
            }),
            barPercentage: 0.7,
          };
        }),
      },
      options: horizontal({
        scales: {
          x: {
            stacked: true,
            min: 0,
            max: 100,
            ticks: {
              callback: function (value) {
                return value + "%";
              },
            },
          },
          y: axisY({ stacked: true }),
        },
        plugins: {
          legend: { display: true, position: "bottom" },
          referenceLine: {},
          tooltip: {
            callbacks: {
              label: function (item) {
                var count = mixed[item.dataIndex].mix[item.datasetIndex];
                return data.grades[item.datasetIndex] + ": " + count + " (" + item.parsed.x + "%)";
              },
            },
          },
        },
      }),
    });
    drawn += 1;
  }

  var evidenceCanvas = canvas("evidence", groups.length);
  if (evidenceCanvas) {
    new Chart(evidenceCanvas, {
      type: "bar",
      plugins: [referenceLine],
      data: {
        labels: labels(groups),
        datasets: [
          {
            label: "user-graded commits",
            data: groups.map(function (g) {
              return g.user_graded;
            }),
            backgroundColor: groups.map(function (g) {
              return g.user_graded >= data.min_user_graded ? g.colour : g.light;
            }),
            borderColor: "#111827",
            borderWidth: groups.map(function (g) {
              return g.chosen ? 2 : 0;
            }),
            barPercentage: 0.7,
          },
        ],
      },
      options: horizontal({
        scales: {
          x: {
            beginAtZero: true,
            suggestedMax: data.min_user_graded * 2,
            title: { display: true, text: "commits you graded" },
            ticks: { precision: 0 },
          },
          y: axisY({}),
        },
        plugins: {
          legend: { display: false },
          referenceLine: { value: data.min_user_graded, label: "enough to recommend" },
          tooltip: {
            callbacks: {
              label: function (item) {
                var g = groups[item.dataIndex];
                return plural(g.user_graded, "user-graded commit") + " of " + g.commits;
              },
            },
          },
        },
      }),
    });
    drawn += 1;
  }

  document.documentElement.setAttribute("data-charts", String(drawn));
})();
