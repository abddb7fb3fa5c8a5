//! Server-rendered SVG line charts for the metrics page: one line per series over the whole
//! period, gaps where a point has no value, a dot for a value alone between gaps. The words —
//! title, scale, period, legend — are HTML around the drawing, so they read at any width.

use std::fmt::Write;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 160.0;
const LEFT: f64 = 2.0;
/// Room for a dot at the period's end.
const RIGHT: f64 = 6.0;
const BOTTOM: f64 = 2.0;
const TOP: f64 = 4.0;

/// One line: a label for the legend, a CSS class for its colour, a value per point.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub(crate) label: String,
    pub(crate) class: &'static str,
    pub(crate) values: Vec<Option<f64>>,
}

/// A chart of series over the same points.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chart {
    pub(crate) title: String,
    /// How the values read: `ms`, `req`, `bytes`.
    pub(crate) unit: Unit,
    pub(crate) series: Vec<Series>,
    /// The period's first and last point's time, as labels.
    pub(crate) from: String,
    pub(crate) to: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Milliseconds,
    Requests,
    Bytes,
}

impl Unit {
    fn label(self, value: f64) -> String {
        match self {
            Unit::Milliseconds => format!("{value:.0} ms"),
            Unit::Requests => format!("{value:.0}"),
            Unit::Bytes => super::views::bytes(value as u64),
        }
    }
}

/// Escapes text for SVG and HTML.
pub(crate) fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// The smallest 1, 2 or 5 times a power of ten at or above `max` (1 for nothing to show).
pub(crate) fn nice_top(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|top| *top >= max)
        .unwrap_or(10.0 * power)
}

/// The points of one series as drawn, in runs between gaps.
fn segments(values: &[Option<f64>], top: f64) -> Vec<Vec<(f64, f64)>> {
    let points = values.len().max(2) - 1;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let mut segments = Vec::new();
    let mut current = Vec::new();
    for (i, value) in values.iter().enumerate() {
        match value {
            Some(v) => {
                let x = LEFT + plot_w * i as f64 / points as f64;
                current.push((x, TOP + plot_h * (1.0 - v / top)));
            }
            None if !current.is_empty() => segments.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        segments.push(current);
    }
    segments
}

fn draw(svg: &mut String, series: &Series, top: f64) {
    let label = escape(&series.label);
    for run in segments(&series.values, top) {
        if let [(x, y)] = run[..] {
            let _ = write!(
                svg,
                "<circle class=\"dot {}\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\"><title>{label}</title></circle>",
                series.class
            );
        } else {
            let points: Vec<String> = run.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            let _ = write!(
                svg,
                "<polyline class=\"line {}\" points=\"{}\"><title>{label}</title></polyline>",
                series.class,
                points.join(" ")
            );
        }
    }
}

/// The chart as a `<figure>`: its title, scale and legend, and the drawing.
pub(crate) fn render(chart: &Chart) -> String {
    let max = chart
        .series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0f64, |m, v| m.max(*v));
    let top = nice_top(max);
    let title = escape(&chart.title);
    let drawn = chart
        .series
        .iter()
        .any(|s| s.values.iter().any(Option::is_some));
    let legend: String = chart
        .series
        .iter()
        .map(|s| {
            format!(
                "<span class=\"key {}\">{}</span>",
                s.class,
                escape(&s.label)
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    let scale = if drawn {
        format!("0 to {}", escape(&chart.unit.label(top)))
    } else {
        "no data in this period".to_owned()
    };
    let mut svg = format!(
        "<figure class=\"card chart-card\"><figcaption><strong>{title}</strong> \
         <span class=\"scale\">{scale}</span> <span class=\"legend\">{legend}</span></figcaption>\
         <svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{title}, {scale}\">\
         <line class=\"axis\" x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{y0}\"/>\
         <line class=\"axis\" x1=\"{LEFT}\" y1=\"{y0}\" x2=\"{WIDTH}\" y2=\"{y0}\"/>",
        y0 = HEIGHT - BOTTOM,
    );
    for series in &chart.series {
        draw(&mut svg, series, top);
    }
    let _ = write!(
        svg,
        "</svg><div class=\"period\"><span>{}</span><span>{}</span></div></figure>",
        escape(&chart.from),
        escape(&chart.to)
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(series: Vec<Series>) -> Chart {
        Chart {
            title: "Response <time>".into(),
            unit: Unit::Milliseconds,
            series,
            from: "10:00".into(),
            to: "11:00".into(),
        }
    }

    #[test]
    fn the_top_is_a_round_number_at_or_above_the_highest_value() {
        for (max, top) in [
            (0.0, 1.0),
            (0.3, 0.5),
            (1.0, 1.0),
            (1.5, 2.0),
            (7.0, 10.0),
            (42.0, 50.0),
            (120.0, 200.0),
            (999.0, 1000.0),
            (f64::NAN, 1.0),
        ] {
            assert!(
                (nice_top(max) - top).abs() < 1e-9,
                "{max}: {}",
                nice_top(max)
            );
        }
    }

    #[test]
    fn gaps_split_a_line() {
        let values = [Some(0.0), Some(10.0), None, Some(5.0), None];
        let runs = segments(&values, 10.0);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0], vec![(2.0, 158.0), (150.0, 4.0)]);
        assert_eq!(runs[1], vec![(446.0, 81.0)]);
        assert!(segments(&[None, None], 1.0).is_empty());
    }

    #[test]
    fn a_chart_draws_each_series_and_escapes_its_text() {
        let html = render(&chart(vec![
            Series {
                label: "p50".into(),
                class: "p50",
                values: vec![Some(12.0), Some(30.0)],
            },
            Series {
                label: "p99 <slow>".into(),
                class: "p99",
                values: vec![Some(40.0), None],
            },
        ]));
        assert!(
            html.starts_with("<figure class=\"card chart-card\">"),
            "{html}"
        );
        assert!(
            html.contains("<strong>Response &lt;time&gt;</strong>"),
            "{html}"
        );
        assert!(html.contains("0 to 50 ms"), "the scale: {html}");
        assert_eq!(html.matches("<polyline").count(), 1, "{html}");
        assert_eq!(
            html.matches("<circle").count(),
            1,
            "a lone value is a dot: {html}"
        );
        assert!(html.contains("p99 &lt;slow&gt;"), "{html}");
        assert!(
            html.contains("<span>10:00</span><span>11:00</span>"),
            "{html}"
        );
        assert!(!html.contains("no data"), "{html}");
    }

    #[test]
    fn an_empty_period_says_so() {
        let html = render(&chart(vec![Series {
            label: "p50".into(),
            class: "p50",
            values: vec![None, None],
        }]));
        assert!(html.contains("no data in this period"), "{html}");
        assert!(
            !html.contains("<polyline") && !html.contains("<circle"),
            "{html}"
        );
    }
}
