//! The report's chart: disputes opened, resolved and open at month end over the 12-month
//! series, as grouped bars in a PNG (mail clients block SVG). Drawn with plotters' bitmap
//! backend in the embedded DejaVu Sans (no system font is looked up), so the same report
//! always gives the same image.

use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::{ReportError, SeriesPoint};

/// The chart's size in pixels.
pub const WIDTH: u32 = 640;
/// The chart's size in pixels.
pub const HEIGHT: u32 = 320;

/// The family name the embedded font is registered under with plotters.
const FONT: &str = "dejavu-sans";

/// The series drawn, left to right within each month, with their colours (GOV.UK blue, green
/// and purple: distinguishable in greyscale and by most colour-blind readers).
pub const SERIES: [(&str, (u8, u8, u8)); 3] = [
    ("Opened", (0x1d, 0x70, 0xb8)),
    ("Resolved", (0x00, 0x70, 0x3c)),
    ("Open at month end", (0x4c, 0x2c, 0x92)),
];

/// A drawn chart: RGB pixels, 3 bytes each, row by row from the top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The pixels.
    pub rgb: Vec<u8>,
}

impl Chart {
    /// The chart as a PNG file.
    pub fn png(&self) -> Result<Vec<u8>, ReportError> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder
            .write_header()
            .and_then(|mut w| w.write_image_data(&self.rgb))
            .map_err(|e| ReportError::Render(format!("the chart's PNG: {e}")))?;
        Ok(out)
    }
}

/// `p`'s value in series `s` (an index into [`SERIES`]).
fn value(p: &SeriesPoint, s: usize) -> u64 {
    match s {
        0 => p.opened,
        1 => p.resolved,
        _ => p.open_at_end,
    }
}

/// `2026-03` → `Mar 26`.
fn month_label(p: &SeriesPoint) -> String {
    p.month.first_day().format("%b %y").to_string()
}

/// Registers the embedded font with plotters, once per process.
fn register() -> Result<(), ReportError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        register_font(FONT, FontStyle::Normal, crate::pdf::REGULAR_TTF).is_ok()
            && register_font(FONT, FontStyle::Bold, crate::pdf::BOLD_TTF).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(ReportError::Render(
            "the embedded font could not be read".into(),
        ))
    }
}

/// Draws `series` (one point per month, oldest first).
pub fn draw(series: &[SeriesPoint]) -> Result<Chart, ReportError> {
    register()?;
    let mut rgb = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    let failed = |e: String| ReportError::Render(format!("the chart: {e}"));
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| failed(e.to_string()))?;
        let highest = series
            .iter()
            .flat_map(|p| (0..SERIES.len()).map(|s| value(p, s)))
            .max()
            .unwrap_or(0)
            .max(4);
        let top = highest as f64 * 1.12;
        let n = series.len().max(1);
        let labels: Vec<String> = series.iter().map(month_label).collect();
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .margin_top(40)
            .x_label_area_size(26)
            .y_label_area_size(44)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..top)
            .map_err(|e| failed(e.to_string()))?;
        let x_label = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 0.01 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        let y_label = |y: &f64| format!("{y:.0}");
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&x_label)
            .y_labels(6)
            .y_label_formatter(&y_label)
            .label_style((FONT, 12).into_font().color(&RGBColor(0x50, 0x5a, 0x5f)))
            .max_light_lines(0)
            .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
            .axis_style(RGBColor(0x50, 0x5a, 0x5f))
            .draw()
            .map_err(|e| failed(e.to_string()))?;
        // Three bars per month, side by side, each a little under a quarter of the month.
        let (bar, gap) = (0.24, 0.02);
        for (s, (_, (r, g, b))) in SERIES.iter().enumerate() {
            let colour = RGBColor(*r, *g, *b);
            let bars = series
                .iter()
                .enumerate()
                .filter(|(_, p)| value(p, s) > 0)
                .map(|(i, p)| {
                    let x0 = i as f64 - 1.5 * bar + s as f64 * bar + gap / 2.0;
                    Rectangle::new(
                        [(x0, 0.0), (x0 + bar - gap, value(p, s) as f64)],
                        colour.filled(),
                    )
                });
            chart.draw_series(bars).map_err(|e| failed(e.to_string()))?;
        }
        // The legend, above the plot, as coloured squares and names.
        let mut x = 54;
        for (name, (r, g, b)) in SERIES {
            let colour = RGBColor(r, g, b);
            root.draw(&Rectangle::new([(x, 14), (x + 12, 26)], colour.filled()))
                .map_err(|e| failed(e.to_string()))?;
            let style = (FONT, 14).into_font().color(&BLACK);
            root.draw(&Text::new(name, (x + 17, 12), style.clone()))
                .map_err(|e| failed(e.to_string()))?;
            let width = root
                .estimate_text_size(name, &style)
                .map_or(120, |(w, _)| w as i32);
            x += 17 + width + 24;
        }
        root.present().map_err(|e| failed(e.to_string()))?;
    }
    Ok(Chart {
        width: WIDTH,
        height: HEIGHT,
        rgb,
    })
}
