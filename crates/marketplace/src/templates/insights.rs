//! The admin insights page: bar charts drawn as SVG on the server (no script, nothing from a
//! CDN), each beside the table that says the same in text.

use super::Layout;
use askama::Template;

/// Width and height of a chart's drawing, in SVG units; the page scales it to fit.
const WIDTH: f64 = 600.0;
const PLOT_LEFT: f64 = 44.0;
const PLOT_RIGHT: f64 = 592.0;
const PLOT_TOP: f64 = 12.0;
const PLOT_BOTTOM: f64 = 140.0;

/// One bar, placed; `label` is what a pointer or a screen reader gets for it.
pub struct Bar {
    pub x: String,
    pub y: String,
    pub width: String,
    pub height: String,
    pub label: String,
}

pub struct Chart {
    /// Unique on the page: the SVG's title is referenced by it.
    pub id: String,
    pub title: String,
    pub bars: Vec<Bar>,
    /// The value at the top of the scale, as it reads.
    pub top: String,
    pub first: String,
    pub last: String,
    pub width: f64,
}

/// A bar per `(label, value)`, scaled so the largest fills the height; values shown by `show`.
pub fn bar_chart(
    id: &str,
    title: &str,
    points: &[(String, i64)],
    show: impl Fn(i64) -> String,
) -> Chart {
    let max = points.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let slot = (PLOT_RIGHT - PLOT_LEFT) / points.len().max(1) as f64;
    let bars = points
        .iter()
        .enumerate()
        .map(|(i, (label, value))| {
            let height = (*value).max(0) as f64 / max as f64 * (PLOT_BOTTOM - PLOT_TOP);
            Bar {
                x: format!("{:.1}", PLOT_LEFT + i as f64 * slot + slot * 0.1),
                y: format!("{:.1}", PLOT_BOTTOM - height),
                width: format!("{:.1}", slot * 0.8),
                height: format!("{height:.1}"),
                label: format!("{label}: {}", show(*value)),
            }
        })
        .collect();
    Chart {
        id: id.to_owned(),
        title: title.to_owned(),
        bars,
        top: show(max),
        first: points.first().map(|p| p.0.clone()).unwrap_or_default(),
        last: points.last().map(|p| p.0.clone()).unwrap_or_default(),
        width: WIDTH,
    }
}

/// A day's row of the text table.
pub struct DayRow {
    pub day: String,
    pub registrations: i64,
    pub requests: i64,
    pub bookings: i64,
    pub active: i64,
    pub deposits: Vec<String>,
}

pub struct FunnelRow {
    pub step: &'static str,
    pub count: u64,
    pub conversion: String,
}

pub struct RouteRow {
    pub route: String,
    pub requests: u64,
    pub p95: String,
    pub mean: String,
}

#[derive(Template)]
#[template(path = "insights.html")]
pub struct InsightsPage {
    pub layout: Layout,
    pub since: String,
    pub until: String,
    pub active_today: i64,
    pub active_this_week: i64,
    pub charts: Vec<Chart>,
    pub currencies: Vec<&'static str>,
    pub days: Vec<DayRow>,
    pub funnel_chart: Chart,
    pub funnel: Vec<FunnelRow>,
    pub routes: Vec<RouteRow>,
    /// When this instance started counting the funnel and latencies.
    pub counting_since: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_bar_fills_the_plot_and_an_empty_day_is_flat() {
        let points = vec![
            ("2026-11-30".to_owned(), 0),
            ("2026-12-01".to_owned(), 4),
            ("2026-12-02".to_owned(), 2),
        ];
        let chart = bar_chart("r", "Registrations", &points, |v| v.to_string());
        assert_eq!(chart.bars.len(), 3);
        assert_eq!(chart.bars[0].height, "0.0");
        assert_eq!(
            chart.bars[1].height,
            format!("{:.1}", PLOT_BOTTOM - PLOT_TOP)
        );
        assert_eq!(chart.bars[1].y, format!("{PLOT_TOP:.1}"));
        assert_eq!(
            chart.bars[2].height,
            format!("{:.1}", (PLOT_BOTTOM - PLOT_TOP) / 2.0)
        );
        assert_eq!(chart.bars[1].label, "2026-12-01: 4");
        assert_eq!(
            (
                chart.top.as_str(),
                chart.first.as_str(),
                chart.last.as_str()
            ),
            ("4", "2026-11-30", "2026-12-02")
        );
        let empty = bar_chart("e", "Nothing", &[], |v| v.to_string());
        assert!(empty.bars.is_empty());
        assert_eq!(empty.top, "1");
    }
}
