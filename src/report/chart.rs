//! The report's chart: disputes opened, resolved and open at month end over the 12-month
//! series, as grouped bars in a PNG (mail clients block SVG). Drawn with plotters' bitmap
//! backend in the embedded DejaVu Sans (no system font is looked up), so the same report
//! always gives the same image; and the same bars as SVG for the web page ([`svg`]), which a
//! browser scales to a phone's width.

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

/// The highest figure of `series`, and at least 4 (an empty chart still has an axis).
fn highest(series: &[SeriesPoint]) -> u64 {
    series
        .iter()
        .flat_map(|p| (0..SERIES.len()).map(|s| value(p, s)))
        .max()
        .unwrap_or(0)
        .max(4)
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
        let top = highest(series) as f64 * 1.12;
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

/// The smallest of 1, 2 and 5 times a power of ten that is at least `raw`: a step between
/// the value axis's lines that reads easily.
fn nice_step(raw: f64) -> u64 {
    let mut power = 1u64;
    loop {
        for m in [1, 2, 5] {
            if (m * power) as f64 >= raw {
                return m * power;
            }
        }
        power *= 10;
    }
}

/// The same chart as SVG, for the web page: grouped bars in [`SERIES`]' colours with the same
/// month labels and legend, scaled to its container by its `viewBox` (nothing but presentation
/// attributes, so a `style-src 'self'` policy allows it). It is an image to assistive
/// technology (`role="img"`, titled by `title_id`'s text); the page gives the figures in a
/// table beside it. No text in it comes from case data.
pub fn svg(series: &[SeriesPoint], title_id: &str, title: &str) -> String {
    use std::fmt::Write as _;
    let (width, height) = (WIDTH as f64, HEIGHT as f64 + 20.0);
    let (left, right, top, bottom) = (48.0, width - 10.0, 44.0, height - 34.0);
    let highest = highest(series);
    let step = nice_step(highest as f64 / 4.0);
    let ceiling = highest.div_ceil(step) * step;
    let y = |v: u64| bottom - (bottom - top) * v as f64 / ceiling as f64;
    let escape = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"100%\" \
         role=\"img\" aria-labelledby=\"{id}\" focusable=\"false\" \
         font-family=\"Arial, Helvetica, sans-serif\"><title id=\"{id}\">{title}</title>",
        id = escape(title_id),
        title = escape(title)
    );
    let mut tick = 0;
    while tick <= ceiling {
        let _ = write!(
            out,
            "<line x1=\"{left}\" x2=\"{right}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#dddddd\"/>\
             <text x=\"{x}\" y=\"{ty:.1}\" text-anchor=\"end\" font-size=\"12\" fill=\"#505a5f\">{tick}</text>",
            y = y(tick),
            x = left - 6.0,
            ty = y(tick) + 4.0
        );
        tick += step;
    }
    let n = series.len().max(1) as f64;
    let slot = (right - left) / n;
    let bar = slot * 0.24;
    for (i, p) in series.iter().enumerate() {
        let centre = left + slot * (i as f64 + 0.5);
        for (s, (_, (r, g, b))) in SERIES.iter().enumerate() {
            let v = value(p, s);
            if v == 0 {
                continue;
            }
            let x = centre - 1.5 * bar + s as f64 * bar + 1.0;
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{top:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" \
                 fill=\"#{r:02x}{g:02x}{b:02x}\"/>",
                top = y(v),
                w = bar - 2.0,
                h = bottom - y(v)
            );
        }
        let _ = write!(
            out,
            "<text x=\"{centre:.1}\" y=\"{ty}\" text-anchor=\"middle\" font-size=\"12\" \
             fill=\"#505a5f\">{label}</text>",
            ty = bottom + 18.0,
            label = escape(&month_label(p))
        );
    }
    let _ = write!(
        out,
        "<line x1=\"{left}\" x2=\"{right}\" y1=\"{bottom}\" y2=\"{bottom}\" stroke=\"#505a5f\"/>"
    );
    // The legend, above the plot: a square in each colour and its name (widths estimated at
    // Arial's average 0.55 em, with room to spare).
    let mut x = left;
    for (name, (r, g, b)) in SERIES {
        let _ = write!(
            out,
            "<rect x=\"{x}\" y=\"12\" width=\"12\" height=\"12\" fill=\"#{r:02x}{g:02x}{b:02x}\"/>\
             <text x=\"{tx}\" y=\"22\" font-size=\"14\" fill=\"#0b0c0c\">{name}</text>",
            tx = x + 17.0
        );
        x += 17.0 + name.len() as f64 * 14.0 * 0.55 + 24.0;
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Month;

    fn point(month: &str, opened: u64, resolved: u64, open_at_end: u64) -> SeriesPoint {
        SeriesPoint {
            month: month.parse::<Month>().unwrap(),
            opened,
            resolved,
            open_at_end,
        }
    }

    #[test]
    fn steps_are_one_two_or_five_times_a_power_of_ten() {
        let steps: Vec<u64> = [0.5, 1.0, 1.5, 3.0, 7.0, 12.0, 45.0, 51.0]
            .into_iter()
            .map(nice_step)
            .collect();
        assert_eq!(steps, [1, 1, 2, 5, 10, 20, 50, 100]);
    }

    #[test]
    fn the_svg_draws_a_bar_per_figure_and_a_label_per_month() {
        let series = [
            point("2026-09", 3, 0, 7),
            point("2026-10", 12, 5, 14),
            point("2026-11", 0, 0, 0),
        ];
        let svg = svg(&series, "chart-title", "Disputes <by month>");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("role=\"img\" aria-labelledby=\"chart-title\""));
        assert!(svg.contains("<title id=\"chart-title\">Disputes &lt;by month&gt;</title>"));
        // 5 bars with a figure, and the 3 squares of the legend.
        assert_eq!(svg.matches("<rect").count(), 5 + 3);
        for label in ["Sep 26", "Oct 26", "Nov 26"] {
            assert!(svg.contains(&format!(">{label}</text>")), "{label}");
        }
        // The axis goes up in fives to 15, the first multiple at or above the highest bar.
        assert!(svg.contains(">15</text>") && !svg.contains(">20</text>"));
        assert!(
            !svg.contains("style"),
            "no style attribute for the CSP to refuse"
        );
        assert_eq!(
            svg,
            super::svg(&series, "chart-title", "Disputes <by month>")
        );
    }
}
