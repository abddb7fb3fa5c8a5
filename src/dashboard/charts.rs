//! Server-rendered SVG line charts for the metrics page: one line per series, gaps where a
//! point has no value, the scale's top and the period's ends written on the axes.

use std::fmt::Write;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 22.0;
const TOP: f64 = 8.0;

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

/// The polylines' point lists of one series: a new list after every gap.
fn segments(values: &[Option<f64>], top: f64) -> Vec<String> {
    let points = values.len().max(2) - 1;
    let plot_w = WIDTH - LEFT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let mut segments = Vec::new();
    let mut current = String::new();
    for (i, value) in values.iter().enumerate() {
        match value {
            Some(v) => {
                let x = LEFT + plot_w * i as f64 / points as f64;
                let y = TOP + plot_h * (1.0 - v / top);
                if !current.is_empty() {
                    current.push(' ');
                }
                let _ = write!(current, "{x:.1},{y:.1}");
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

/// The chart as an inline `<svg>` element.
pub(crate) fn render(chart: &Chart) -> String {
    let max = chart
        .series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0f64, |m, v| m.max(*v));
    let top = nice_top(max);
    let title = escape(&chart.title);
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{title}\">\
         <title>{title}</title>\
         <line class=\"axis\" x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{y0}\"/>\
         <line class=\"axis\" x1=\"{LEFT}\" y1=\"{y0}\" x2=\"{WIDTH}\" y2=\"{y0}\"/>\
         <text class=\"tick\" x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{top_label}</text>\
         <text class=\"tick\" x=\"{lx}\" y=\"{y0}\" text-anchor=\"end\">0</text>\
         <text class=\"tick\" x=\"{LEFT}\" y=\"{HEIGHT}\">{from}</text>\
         <text class=\"tick\" x=\"{WIDTH}\" y=\"{HEIGHT}\" text-anchor=\"end\">{to}</text>",
        y0 = HEIGHT - BOTTOM,
        lx = LEFT - 4.0,
        ty = TOP + 10.0,
        top_label = escape(&chart.unit.label(top)),
        from = escape(&chart.from),
        to = escape(&chart.to),
    );
    let drawn = chart
        .series
        .iter()
        .any(|s| s.values.iter().any(Option::is_some));
    if !drawn {
        let _ = write!(
            svg,
            "<text class=\"empty\" x=\"{x}\" y=\"{y}\" text-anchor=\"middle\">no data in this period</text>",
            x = LEFT + (WIDTH - LEFT) / 2.0,
            y = HEIGHT / 2.0,
        );
    }
    for series in &chart.series {
        for points in segments(&series.values, top) {
            let _ = write!(
                svg,
                "<polyline class=\"line {}\" points=\"{points}\"><title>{}</title></polyline>",
                series.class,
                escape(&series.label)
            );
        }
    }
    svg.push_str("</svg>");
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
        let segments = segments(&values, 10.0);
        assert_eq!(segments.len(), 2);
        assert_eq!(segments[0], "56.0,158.0 192.0,8.0");
        assert_eq!(segments[1], "464.0,83.0");
        assert!(super::segments(&[None, None], 1.0).is_empty());
    }

    #[test]
    fn a_chart_draws_each_series_and_escapes_its_text() {
        let svg = render(&chart(vec![
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
        assert!(svg.starts_with("<svg class=\"chart\""), "{svg}");
        assert!(
            svg.contains("aria-label=\"Response &lt;time&gt;\""),
            "{svg}"
        );
        assert!(svg.contains(">50 ms</text>"), "top label: {svg}");
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        assert!(svg.contains("p99 &lt;slow&gt;"), "{svg}");
        assert!(!svg.contains("no data"), "{svg}");
    }

    #[test]
    fn an_empty_period_says_so() {
        let svg = render(&chart(vec![Series {
            label: "p50".into(),
            class: "p50",
            values: vec![None, None],
        }]));
        assert!(svg.contains("no data in this period"), "{svg}");
        assert!(!svg.contains("<polyline"), "{svg}");
    }
}
