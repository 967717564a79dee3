//! The PNG next to each JSON result: latency percentiles per second (top, log scale) and
//! throughput per second (bottom), with the warm-up shaded. A compare chart draws the baseline
//! chain's lines beside the pipeline's.
//!
//! Text needs a TrueType font, read at run time: plotters' bitmap backend renders glyphs with
//! ab_glyph from whatever file it is given, and there is no system font lookup (no fontconfig,
//! no network). The file is the one named, else the first of [`FONT_CANDIDATES`] that exists
//! (Debian's `fonts-dejavu-core` or `fonts-liberation`). With none, the chart is drawn without
//! any text rather than not at all; the JSON carries every figure anyway.

use crate::report::{BaselineReport, LoadReport, Report};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Fonts tried, in order, when none is named: Debian/Ubuntu, then Fedora and Arch paths.
pub const FONT_CANDIDATES: [&str; 5] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// The x axis of every load and baseline panel.
const LOAD_X_DESC: &str = "seconds since the first due time";
/// Colours for [`draw_lines`], in turn.
const PALETTE: [RGBColor; 12] = [
    BLUE_,
    RED_,
    GREEN_,
    ORANGE_,
    PURPLE_,
    GRAY_,
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 0),
    RGBColor(100, 100, 220),
];

/// The family name the charts ask plotters for.
const FAMILY: &str = "sans-serif";
const WIDTH: u32 = 1400;
const HEIGHT: u32 = 900;

/// Why a chart could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the chart {path}: {reason}")]
pub struct ChartError {
    path: PathBuf,
    reason: String,
}

/// Registers a font with plotters once per process: `explicit`, else the first candidate
/// found. Returns the font used, or `None` if charts will have no text.
pub fn font(explicit: Option<&Path>) -> Option<PathBuf> {
    static REGISTERED: OnceLock<Option<PathBuf>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let candidates = explicit
                .map(Path::to_path_buf)
                .into_iter()
                .chain(FONT_CANDIDATES.iter().map(PathBuf::from));
            for path in candidates {
                let Ok(bytes) = std::fs::read(&path) else {
                    continue;
                };
                // plotters keeps fonts for the life of the process; this runs once.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font(FAMILY, FontStyle::Normal, bytes).is_ok() {
                    return Some(path);
                }
                tracing::warn!(font = %path.display(), "not a usable TrueType font");
            }
            tracing::warn!("no TrueType font found: charts are drawn without text");
            None
        })
        .clone()
}

/// A line to draw: its name, colour and points `(second, value)`.
struct Line {
    name: String,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

/// One panel: its title, axis name, lines and whether the y axis is logarithmic.
struct Panel {
    title: String,
    x_desc: &'static str,
    y_desc: &'static str,
    log: bool,
    lines: Vec<Line>,
    /// Where the legend sits: where the lines are least likely to be (below the p50 on a log
    /// scale; near zero, left of the ramp-up, for rates).
    legend: SeriesLabelPosition,
}

const BLUE_: RGBColor = RGBColor(31, 119, 180);
const RED_: RGBColor = RGBColor(214, 39, 40);
const GRAY_: RGBColor = RGBColor(127, 127, 127);
const GREEN_: RGBColor = RGBColor(44, 160, 44);
const ORANGE_: RGBColor = RGBColor(255, 127, 14);
const PURPLE_: RGBColor = RGBColor(148, 103, 189);
const LIGHT_BLUE: RGBColor = RGBColor(158, 202, 225);
const PINK: RGBColor = RGBColor(247, 182, 210);

/// Draws `report` into the PNG at `path`; `text` when a font was registered (see [`font`]).
///
/// # Errors
/// [`ChartError`] if the file cannot be written.
pub fn draw(report: &Report, path: &Path, text: bool) -> Result<(), ChartError> {
    let (title, warmup_s, panels) = match report {
        Report::Load(load) => (
            load_title(load),
            warmup_of_load(load),
            load_panels(load, None),
        ),
        Report::Baseline(baseline) => (
            baseline_title(baseline),
            warmup_of_baseline(baseline),
            baseline_panels(baseline),
        ),
        Report::Compare(compare) => (
            format!(
                "{} vs raw Kafka chain ({})",
                load_title(&compare.load),
                compare
                    .baselines
                    .iter()
                    .filter_map(|b| b.settings.as_ref().map(|s| s.mode.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            warmup_of_load(&compare.load),
            load_panels(&compare.load, Some(&compare.baselines)),
        ),
    };
    let fail = |reason: String| ChartError {
        path: path.to_path_buf(),
        reason,
    };
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let body = if text {
        root.titled(&title, (FAMILY, 22))
            .map_err(|e| fail(e.to_string()))?
    } else {
        root.clone()
    };
    let areas = body.split_evenly((panels.len().max(1), 1));
    for (area, panel) in areas.iter().zip(&panels) {
        draw_panel(area, panel, warmup_s, text).map_err(fail)?;
    }
    root.present().map_err(|e| fail(e.to_string()))
}

/// A named line for [`draw_lines`].
#[derive(Debug, Clone, PartialEq)]
pub struct NamedLine {
    pub name: String,
    /// `(x, y)` points, x ascending.
    pub points: Vec<(f64, f64)>,
}

/// One linear panel of `lines` into the PNG at `path`, for figures that are not a load or
/// baseline report (the chaos soak's memory per instance); `text` as for [`draw`].
///
/// # Errors
/// [`ChartError`] if the file cannot be written.
pub fn draw_lines(
    path: &Path,
    title: &str,
    x_desc: &'static str,
    y_desc: &'static str,
    lines: &[NamedLine],
    text: bool,
) -> Result<(), ChartError> {
    let fail = |reason: String| ChartError {
        path: path.to_path_buf(),
        reason,
    };
    let panel = Panel {
        title: title.to_owned(),
        x_desc,
        y_desc,
        log: false,
        lines: lines
            .iter()
            .zip(PALETTE.iter().cycle())
            .map(|(line, color)| Line {
                name: line.name.clone(),
                color: *color,
                points: line.points.clone(),
            })
            .collect(),
        legend: SeriesLabelPosition::LowerRight,
    };
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT / 2 + 150)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    draw_panel(&root, &panel, 0.0, text).map_err(fail)?;
    root.present().map_err(|e| fail(e.to_string()))
}

fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    panel: &Panel,
    warmup_s: f64,
    text: bool,
) -> Result<(), String> {
    let x_max = panel
        .lines
        .iter()
        .flat_map(|line| line.points.iter().map(|(x, _)| *x))
        .fold(1.0_f64, f64::max)
        + 1.0;
    let y_max = panel
        .lines
        .iter()
        .flat_map(|line| line.points.iter().map(|(_, y)| *y))
        .fold(0.0_f64, f64::max);
    let mut builder = ChartBuilder::on(area);
    builder.margin(12);
    if text {
        builder
            .caption(&panel.title, (FAMILY, 16))
            .x_label_area_size(36)
            .y_label_area_size(70);
    }
    if panel.log {
        // Log scale: a tail 100× the median stays readable. Zero cannot be drawn, so values
        // are floored at the axis' bottom.
        let floor = 0.1;
        let top = (y_max * 1.5).max(floor * 10.0);
        let mut chart = builder
            .build_cartesian_2d(0.0..x_max, (floor..top).log_scale())
            .map_err(|e| e.to_string())?;
        mesh(&mut chart, panel, text)?;
        shade_warmup(&mut chart, warmup_s, floor, top)?;
        for line in &panel.lines {
            let points = line.points.iter().map(|(x, y)| (*x, y.max(floor)));
            series(&mut chart, line, points, text)?;
        }
        legend(&mut chart, &panel.legend, text)
    } else {
        let top = (y_max * 1.15).max(1.0);
        let mut chart = builder
            .build_cartesian_2d(0.0..x_max, 0.0..top)
            .map_err(|e| e.to_string())?;
        mesh(&mut chart, panel, text)?;
        shade_warmup(&mut chart, warmup_s, 0.0, top)?;
        for line in &panel.lines {
            series(&mut chart, line, line.points.iter().copied(), text)?;
        }
        legend(&mut chart, &panel.legend, text)
    }
}

type Chart<'a, Y> =
    ChartContext<'a, BitMapBackend<'a>, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>;

fn mesh<Y>(chart: &mut Chart<'_, Y>, panel: &Panel, text: bool) -> Result<(), String>
where
    Y: Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
{
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(WHITE.mix(0.0));
    if text {
        mesh.x_desc(panel.x_desc)
            .y_desc(panel.y_desc)
            .label_style((FAMILY, 13));
    }
    mesh.draw().map_err(|e| e.to_string())
}

fn shade_warmup<Y>(
    chart: &mut Chart<'_, Y>,
    warmup_s: f64,
    bottom: f64,
    top: f64,
) -> Result<(), String>
where
    Y: Ranged<ValueType = f64>,
{
    if warmup_s <= 0.0 {
        return Ok(());
    }
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(0.0, bottom), (warmup_s, top)],
            BLACK.mix(0.06).filled(),
        )))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn series<Y>(
    chart: &mut Chart<'_, Y>,
    line: &Line,
    points: impl Iterator<Item = (f64, f64)>,
    text: bool,
) -> Result<(), String>
where
    Y: Ranged<ValueType = f64>,
{
    let color = line.color;
    let drawn = chart
        .draw_series(LineSeries::new(points, color.stroke_width(2)))
        .map_err(|e| e.to_string())?;
    if text {
        drawn
            .label(line.name.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    Ok(())
}

fn legend<Y>(
    chart: &mut Chart<'_, Y>,
    position: &SeriesLabelPosition,
    text: bool,
) -> Result<(), String>
where
    Y: Ranged<ValueType = f64>,
{
    if !text {
        return Ok(());
    }
    chart
        .configure_series_labels()
        .position(position.clone())
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FAMILY, 13))
        .draw()
        .map_err(|e| e.to_string())
}

fn load_title(load: &LoadReport) -> String {
    let rate = load
        .settings
        .as_ref()
        .map_or(0.0, |settings| settings.target_checkouts_per_s);
    format!(
        "shop-load {}: {rate:.0} checkouts/s target, {:.0} terminal orders/s",
        load.run_id, load.throughput.terminal_orders_per_s
    )
}

fn baseline_title(baseline: &BaselineReport) -> String {
    match &baseline.settings {
        Some(settings) => format!(
            "raw Kafka chain {} ({}, {} topics): {:.0} records/s target",
            baseline.run_id,
            settings.mode.as_str(),
            settings.topics,
            settings.target_records_per_s
        ),
        None => format!("raw Kafka chain {}", baseline.run_id),
    }
}

fn warmup_of_load(load: &LoadReport) -> f64 {
    load.settings
        .as_ref()
        .map_or(0.0, |settings| settings.warmup_s)
}

fn warmup_of_baseline(baseline: &BaselineReport) -> f64 {
    baseline
        .settings
        .as_ref()
        .map_or(0.0, |settings| settings.warmup_s)
}

fn load_panels(load: &LoadReport, baselines: Option<&[BaselineReport]>) -> Vec<Panel> {
    let points = |value: fn(&crate::report::LoadSecond) -> Option<f64>| {
        load.series
            .iter()
            .filter_map(|second| value(second).map(|v| (second.second as f64 + 0.5, v)))
            .collect::<Vec<_>>()
    };
    let mut latency = vec![
        Line {
            name: "checkout → CONFIRMED p50".to_owned(),
            color: BLUE_,
            points: points(|s| {
                (s.checkout_to_confirmed.count > 0).then_some(s.checkout_to_confirmed.p50_ms)
            }),
        },
        Line {
            name: "checkout → CONFIRMED p99".to_owned(),
            color: RED_,
            points: points(|s| {
                (s.checkout_to_confirmed.count > 0).then_some(s.checkout_to_confirmed.p99_ms)
            }),
        },
        Line {
            name: "checkout → CONFIRMED max".to_owned(),
            color: GRAY_,
            points: points(|s| {
                (s.checkout_to_confirmed.count > 0).then_some(s.checkout_to_confirmed.max_ms)
            }),
        },
        Line {
            name: "HTTP 202 p99".to_owned(),
            color: GREEN_,
            points: points(|s| (s.accept.count > 0).then_some(s.accept.p99_ms)),
        },
    ];
    let mut throughput = vec![
        Line {
            name: "commands accepted/s".to_owned(),
            color: GREEN_,
            points: points(|s| Some(s.commands_accepted as f64)),
        },
        Line {
            name: "terminal orders/s".to_owned(),
            color: BLUE_,
            points: points(|s| Some(s.terminal_orders as f64)),
        },
        Line {
            name: "CONFIRMED/s".to_owned(),
            color: PURPLE_,
            points: points(|s| Some(s.confirmed as f64)),
        },
        Line {
            name: "sessions started/s".to_owned(),
            color: GRAY_,
            points: points(|s| Some(s.sessions_started as f64)),
        },
    ];
    for baseline in baselines.unwrap_or_default() {
        let mode = baseline
            .settings
            .as_ref()
            .map_or("raw", |settings| settings.mode.as_str());
        let (p50_color, p99_color) = if mode == "plain" {
            (LIGHT_BLUE, PINK)
        } else {
            (ORANGE_, RGBColor(140, 86, 75))
        };
        let base = |value: fn(&crate::report::BaselineSecond) -> Option<f64>| {
            baseline
                .series
                .iter()
                .filter_map(|second| value(second).map(|v| (second.second as f64 + 0.5, v)))
                .collect::<Vec<_>>()
        };
        latency.push(Line {
            name: format!("raw chain ({mode}) p50"),
            color: p50_color,
            points: base(|s| (s.end_to_end.count > 0).then_some(s.end_to_end.p50_ms)),
        });
        latency.push(Line {
            name: format!("raw chain ({mode}) p99"),
            color: p99_color,
            points: base(|s| (s.end_to_end.count > 0).then_some(s.end_to_end.p99_ms)),
        });
        throughput.push(Line {
            name: format!("raw chain ({mode}) records/s"),
            color: p50_color,
            points: base(|s| Some(s.received as f64)),
        });
    }
    vec![
        Panel {
            title: "latency per second (ms, log scale); checkout timed from its due time"
                .to_owned(),
            x_desc: LOAD_X_DESC,
            y_desc: "ms",
            log: true,
            lines: latency,
            legend: SeriesLabelPosition::LowerRight,
        },
        Panel {
            title: "throughput per second".to_owned(),
            x_desc: LOAD_X_DESC,
            y_desc: "per second",
            log: false,
            lines: throughput,
            legend: SeriesLabelPosition::LowerMiddle,
        },
    ]
}

fn baseline_panels(baseline: &BaselineReport) -> Vec<Panel> {
    let points = |value: fn(&crate::report::BaselineSecond) -> Option<f64>| {
        baseline
            .series
            .iter()
            .filter_map(|second| value(second).map(|v| (second.second as f64 + 0.5, v)))
            .collect::<Vec<_>>()
    };
    vec![
        Panel {
            title: "end-to-end latency per second (ms, log scale), from each record's due time"
                .to_owned(),
            x_desc: LOAD_X_DESC,
            y_desc: "ms",
            log: true,
            lines: vec![
                Line {
                    name: "p50".to_owned(),
                    color: BLUE_,
                    points: points(|s| (s.end_to_end.count > 0).then_some(s.end_to_end.p50_ms)),
                },
                Line {
                    name: "p99".to_owned(),
                    color: RED_,
                    points: points(|s| (s.end_to_end.count > 0).then_some(s.end_to_end.p99_ms)),
                },
                Line {
                    name: "max".to_owned(),
                    color: GRAY_,
                    points: points(|s| (s.end_to_end.count > 0).then_some(s.end_to_end.max_ms)),
                },
            ],
            legend: SeriesLabelPosition::LowerRight,
        },
        Panel {
            title: "records per second".to_owned(),
            x_desc: LOAD_X_DESC,
            y_desc: "per second",
            log: false,
            lines: vec![
                Line {
                    name: "sent".to_owned(),
                    color: GRAY_,
                    points: points(|s| Some(s.sent as f64)),
                },
                Line {
                    name: "received from the last topic".to_owned(),
                    color: BLUE_,
                    points: points(|s| Some(s.received as f64)),
                },
            ],
            legend: SeriesLabelPosition::LowerMiddle,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{BaselineSecond, BaselineSettings, LoadSecond, LoadSettings};
    use crate::stats::SecondLatency;

    fn temp_png(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "shop-load-chart-{}-{}-{name}.png",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ))
    }

    fn second_latency(p50: f64) -> SecondLatency {
        SecondLatency {
            count: 10,
            p50_ms: p50,
            p99_ms: p50 * 3.0,
            max_ms: p50 * 5.0,
        }
    }

    fn load() -> LoadReport {
        LoadReport {
            run_id: "test".to_owned(),
            settings: Some(LoadSettings {
                ingress_url: String::new(),
                topic_prefix: String::new(),
                target_checkouts_per_s: 100.0,
                duration_s: 4.0,
                warmup_s: 1.0,
                users: 10,
                decline_percent: 10.0,
                scarce_percent: 10.0,
                items_per_checkout: 1,
                plentiful_products: 1,
                scarce_stock: 1,
                request_timeout_s: 1.0,
                terminal_timeout_s: 1.0,
                max_in_flight: 1,
            }),
            series: (0..5)
                .map(|second| LoadSecond {
                    second,
                    warmup: second == 0,
                    sessions_started: 100,
                    commands_accepted: 200,
                    terminal_orders: 99,
                    confirmed: 80,
                    accept: second_latency(2.0),
                    checkout_to_confirmed: second_latency(20.0 + second as f64),
                    checkout_to_terminal: second_latency(18.0),
                })
                .collect(),
            ..LoadReport::default()
        }
    }

    fn baseline() -> BaselineReport {
        BaselineReport {
            run_id: "base".to_owned(),
            settings: Some(BaselineSettings {
                mode: crate::config::RelayMode::Plain,
                topics: 7,
                relays: 6,
                partitions: 6,
                payload_bytes: 160,
                keys: 10,
                target_records_per_s: 100.0,
                duration_s: 4.0,
                warmup_s: 1.0,
                burst_records: 0,
                batch_max_records: 500,
                batch_linger_ms: 10.0,
            }),
            series: (0..5)
                .map(|second| BaselineSecond {
                    second,
                    warmup: second == 0,
                    sent: 100,
                    received: 100,
                    end_to_end: second_latency(5.0),
                })
                .collect(),
            ..BaselineReport::default()
        }
    }

    fn is_png(path: &Path) -> bool {
        let bytes = std::fs::read(path).unwrap();
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 1_000
    }

    #[test]
    fn a_chart_without_a_font_is_drawn_without_text() {
        for (name, report) in [
            ("load", Report::Load(load())),
            ("baseline", Report::Baseline(baseline())),
        ] {
            let path = temp_png(name);
            draw(&report, &path, false).unwrap();
            assert!(is_png(&path));
            std::fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn a_chart_with_a_font_draws_every_kind_of_report() {
        // CI machines have Debian's DejaVu fonts; where none is installed this checks only
        // the text-free chart above.
        let text = font(None).is_some();
        let compare = crate::report::CompareReport {
            baselines: vec![baseline()],
            load: load(),
            ratios: Vec::new(),
        };
        for (name, report) in [
            ("load", Report::Load(load())),
            ("baseline", Report::Baseline(baseline())),
            ("compare", Report::Compare(compare)),
        ] {
            let path = temp_png(name);
            draw(&report, &path, text).unwrap();
            assert!(is_png(&path));
            std::fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn an_empty_report_still_draws() {
        let path = temp_png("empty");
        draw(&Report::Load(LoadReport::default()), &path, false).unwrap();
        assert!(is_png(&path));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn named_lines_draw_with_and_without_text() {
        let lines: Vec<NamedLine> = (0..14)
            .map(|i| NamedLine {
                name: format!("instance {i}"),
                points: (0..10).map(|t| (f64::from(t), f64::from(i + t))).collect(),
            })
            .collect();
        for text in [false, font(None).is_some()] {
            let path = temp_png("lines");
            draw_lines(&path, "memory", "seconds", "MiB", &lines, text).unwrap();
            assert!(is_png(&path));
            std::fs::remove_file(&path).unwrap();
        }
    }
}
