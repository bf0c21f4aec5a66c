//! A4 PDF documents: pages of headings, tables, text and images in the embedded DejaVu Sans,
//! each font subset to the glyphs used. The monitoring form (`notify::form`) and the board's
//! monthly report (`report`) are laid out with it.

use std::collections::{BTreeSet, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::LazyLock;

use printpdf::{
    Color, FontId, Greyscale, Line, LinePoint, Mm, Op, PaintMode, ParsedFont, PdfDocument, PdfFont,
    PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt, RawImage, RawImageData, RawImageFormat,
    Rect, TextItem, XObjectId, XObjectTransform,
};
use sha2::{Digest, Sha256};

// Units are points; `y` runs down from the top edge (PDF's runs up from the bottom,
// converted only when an op is emitted).

/// A4 in points (210 × 297 mm).
pub(crate) const PAGE_W: f32 = 595.2756;
/// A4 in points (210 × 297 mm).
pub(crate) const PAGE_H: f32 = 841.8898;
/// 18 mm, the margin on every side.
pub(crate) const MARGIN: f32 = 51.0236;
/// The width between the margins.
pub(crate) const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN;
/// Space kept at the foot of every page for the footer.
pub(crate) const FOOTER_H: f32 = 40.0;
/// Content stops here.
pub(crate) const BOTTOM: f32 = PAGE_H - MARGIN - FOOTER_H;

/// Body text size.
pub(crate) const BODY: f32 = 9.5;
/// Body line height.
pub(crate) const LEAD: f32 = 12.0;
/// Label and table-header size.
pub(crate) const LABEL: f32 = 8.5;
/// Cell padding, horizontal.
pub(crate) const PAD_X: f32 = 4.0;
/// Cell padding, vertical.
pub(crate) const PAD_Y: f32 = 3.5;
/// Height of a blank row or field: room to write by hand.
pub(crate) const BLANK_ROW: f32 = 22.0;
/// Spacing of ruled lines in empty free-text boxes.
pub(crate) const RULE_GAP: f32 = 20.0;
/// Grey of cell borders.
pub(crate) const BORDER: f32 = 0.45;

/// Regular or bold DejaVu Sans: the two faces embedded in every document.
#[derive(Clone, Copy)]
pub(crate) enum Face {
    Regular,
    Bold,
}

impl Face {
    /// Where the face sits in [`FONTS`] and in [`Layout::glyphs`].
    pub(crate) fn index(self) -> usize {
        match self {
            Face::Regular => 0,
            Face::Bold => 1,
        }
    }

    /// The face's resource name inside the PDF.
    pub(crate) fn id(self) -> &'static str {
        match self {
            Face::Regular => "F1",
            Face::Bold => "F2",
        }
    }

    /// The face's glyphs and widths (`None` only if the compiled-in font is unreadable,
    /// which [`save`] reports and a unit test rules out).
    pub(crate) fn font(self) -> Option<&'static FontFace> {
        FONTS.as_ref().map(|f| &f[self.index()])
    }
}

/// A laid-out document: each page's drawing ops, the glyphs each face prints (what goes
/// into the embedded subsets), and its images.
pub(crate) struct Layout {
    /// Each page's drawing ops.
    pub(crate) pages: Vec<Vec<Op>>,
    glyphs: [BTreeSet<u16>; 2],
    images: Vec<(XObjectId, RawImage)>,
}

/// One table column: heading and share of the content width.
pub(crate) struct Col {
    /// The heading.
    pub(crate) title: &'static str,
    /// Its share of the content width.
    pub(crate) frac: f32,
    /// The face its cells are set in.
    pub(crate) face: Face,
}

/// Places content on pages, starting a new one when the next piece does not fit.
pub(crate) struct Pager {
    /// Finished pages.
    done: Vec<Vec<Op>>,
    /// The page being filled.
    ops: Vec<Op>,
    /// Where the next content goes, from the top edge.
    pub(crate) y: f32,
    /// The running head at the top of continuation pages, so loose pages can be matched up.
    head: String,
    /// The parts of the footer's first line, before "page N of M" (empty ones left out).
    footer: Vec<String>,
    /// The footer's note, at most two lines.
    note: String,
    /// Glyph ids printed so far, per face.
    glyphs: [BTreeSet<u16>; 2],
    /// Images placed so far.
    images: Vec<(XObjectId, RawImage)>,
}

impl Pager {
    /// An empty first page; continuation pages start with `head`, every page ends with
    /// `footer` (joined by middle dots, then the page number) and `note`.
    pub(crate) fn new(head: String, footer: Vec<String>, note: String) -> Self {
        Pager {
            done: Vec::new(),
            ops: Vec::new(),
            y: MARGIN,
            head: clean(&head),
            footer: footer.iter().map(|p| clean(p)).collect(),
            note: clean(&note),
            glyphs: [BTreeSet::new(), BTreeSet::new()],
            images: Vec::new(),
        }
    }

    /// Space left on this page.
    pub(crate) fn room(&self) -> f32 {
        BOTTOM - self.y
    }

    /// Starts a new page unless `h` points still fit on this one.
    pub(crate) fn ensure(&mut self, h: f32) {
        if self.room() < h {
            self.new_page();
        }
    }

    /// Ends this page and starts the next with a running head, so loose printed pages can
    /// be matched up again.
    pub(crate) fn new_page(&mut self) {
        let page = std::mem::take(&mut self.ops);
        self.done.push(page);
        self.y = MARGIN;
        let head = fit(&self.head, Face::Regular, LABEL, CONTENT_W);
        self.text(MARGIN, self.y + LABEL, Face::Regular, LABEL, 0.35, &head);
        self.y += 12.0;
        self.hline(MARGIN, MARGIN + CONTENT_W, self.y, 0.5, 0.6);
        self.y += 8.0;
    }

    /// A section heading on a grey band, kept with at least `keep` points of what follows.
    pub(crate) fn heading(&mut self, title: &str, keep: f32) {
        let band = 17.0;
        self.y += 10.0;
        self.ensure(band + 4.0 + keep);
        self.rect(MARGIN, self.y, CONTENT_W, band, Some(0.88), None);
        let title = fit(title, Face::Bold, 10.5, CONTENT_W - 2.0 * PAD_X);
        self.text(MARGIN + PAD_X, self.y + 12.0, Face::Bold, 10.5, 0.0, &title);
        self.y += band + 5.0;
    }

    /// A small bold label above a box.
    pub(crate) fn label(&mut self, text: &str) {
        self.ensure(12.0 + BLANK_ROW);
        self.text(MARGIN, self.y + LABEL, Face::Bold, LABEL, 0.2, text);
        self.y += 12.0;
    }

    /// Free text in a bordered box, split across pages as needed; when empty, a box with
    /// `blank_lines` ruled lines (one line: a plain box) to write in.
    pub(crate) fn text_box(&mut self, text: &str, blank_lines: usize) {
        let lines = wrap(&clean(text), Face::Regular, BODY, CONTENT_W - 2.0 * PAD_X);
        if lines.is_empty() {
            let h = if blank_lines <= 1 {
                BLANK_ROW
            } else {
                blank_lines as f32 * RULE_GAP + 4.0
            };
            self.ensure(h);
            self.rect(MARGIN, self.y, CONTENT_W, h, None, Some((0.5, BORDER)));
            if blank_lines > 1 {
                for i in 1..blank_lines {
                    let ly = self.y + i as f32 * RULE_GAP;
                    self.hline(MARGIN + PAD_X, MARGIN + CONTENT_W - PAD_X, ly, 0.4, 0.75);
                }
            }
            self.y += h;
            return;
        }
        let cols = [Col {
            title: "",
            frac: 1.0,
            face: Face::Regular,
        }];
        self.draw_rows(&cols, false, vec![vec![lines]]);
    }

    /// A table with optional header row; `blank_rows` empty rows when `rows` is empty.
    pub(crate) fn table(
        &mut self,
        cols: &[Col],
        header: bool,
        rows: &[Vec<String>],
        blank_rows: usize,
    ) {
        let wrapped: Vec<Vec<Vec<String>>> = rows
            .iter()
            .map(|row| {
                cols.iter()
                    .enumerate()
                    .map(|(i, col)| {
                        let text = row.get(i).map(String::as_str).unwrap_or("");
                        let size = cell_size(col.face);
                        wrap(&clean(text), col.face, size, col_width(col) - 2.0 * PAD_X)
                    })
                    .collect()
            })
            .collect();
        let blanks = if rows.is_empty() { blank_rows } else { 0 };
        let blank: Vec<Vec<Vec<String>>> = (0..blanks)
            .map(|_| cols.iter().map(|_| Vec::new()).collect())
            .collect();
        if header {
            self.ensure(header_height() + BLANK_ROW);
            self.header_row(cols);
        }
        self.draw_rows(cols, header, wrapped);
        self.draw_rows(cols, header, blank);
    }

    /// Draws wrapped rows, splitting a row across pages only when it is taller than what is
    /// left and repeating the header on each new page.
    fn draw_rows(&mut self, cols: &[Col], header: bool, rows: Vec<Vec<Vec<String>>>) {
        for row in rows {
            let mut start = 0usize;
            let total = row.iter().map(Vec::len).max().unwrap_or(0);
            // A row with an empty value cell is there to be written in: give it the room.
            let min = if row
                .iter()
                .zip(cols)
                .any(|(lines, col)| lines.is_empty() && matches!(col.face, Face::Regular))
            {
                BLANK_ROW
            } else {
                0.0
            };
            loop {
                let remaining = total - start;
                let fits = ((self.room() - 2.0 * PAD_Y) / LEAD).floor().max(0.0) as usize;
                let fresh_page = BOTTOM - MARGIN - 16.0 - header_height();
                let take = if row_height(remaining).max(min) <= self.room() {
                    remaining
                } else if fits >= 2
                    && (row_height(remaining).max(min) > fresh_page || remaining >= 6)
                {
                    // Split a long row rather than leave a large gap; a short one moves whole.
                    fits
                } else {
                    self.new_page();
                    if header {
                        self.header_row(cols);
                    }
                    continue;
                };
                self.draw_row(cols, &row, start, take, min);
                start += take;
                if start >= total {
                    break;
                }
                self.new_page();
                if header {
                    self.header_row(cols);
                }
            }
        }
    }

    /// One row (or the slice `start..start + n` of its lines), borders included.
    fn draw_row(&mut self, cols: &[Col], row: &[Vec<String>], start: usize, n: usize, min: f32) {
        let h = row_height(n).max(min);
        let mut x = MARGIN;
        for (col, lines) in cols.iter().zip(row) {
            let w = col_width(col);
            self.rect(x, self.y, w, h, None, Some((0.5, BORDER)));
            let size = cell_size(col.face);
            for (i, line) in lines.iter().skip(start).take(n).enumerate() {
                let base = self.y + PAD_Y + i as f32 * LEAD + size * 0.95;
                self.text(x + PAD_X, base, col.face, size, 0.0, line);
            }
            x += w;
        }
        self.y += h;
    }

    /// A table's header row.
    fn header_row(&mut self, cols: &[Col]) {
        let h = header_height();
        let mut x = MARGIN;
        for col in cols {
            let w = col_width(col);
            self.rect(x, self.y, w, h, Some(0.94), Some((0.5, BORDER)));
            let title = fit(col.title, Face::Bold, LABEL, w - 2.0 * PAD_X);
            self.text(x + PAD_X, self.y + 11.0, Face::Bold, LABEL, 0.15, &title);
            x += w;
        }
        self.y += h;
    }

    /// An RGB image (`width` × `height` pixels, 3 bytes each) `w` points wide at the left
    /// margin, on a new page if it does not fit on this one.
    pub(crate) fn image(&mut self, rgb: Vec<u8>, width: usize, height: usize, w: f32) {
        if width == 0 || height == 0 || rgb.len() != width * height * 3 {
            return;
        }
        let h = w * height as f32 / width as f32;
        self.ensure(h);
        // A fixed name per image keeps the output reproducible.
        let id = XObjectId(format!("Im{}", self.images.len() + 1));
        self.images.push((
            id.clone(),
            RawImage {
                pixels: RawImageData::U8(rgb),
                width,
                height,
                data_format: RawImageFormat::RGB8,
                tag: Vec::new(),
            },
        ));
        self.ops.push(Op::UseXobject {
            id,
            transform: XObjectTransform {
                translate_x: Some(Pt(MARGIN)),
                translate_y: Some(Pt(PAGE_H - self.y - h)),
                // The image is placed at one pixel per 1/dpi inch: this dpi makes it `w` wide.
                dpi: Some(width as f32 * 72.0 / w),
                ..XObjectTransform::default()
            },
        });
        self.y += h;
    }

    /// Closes the last page and adds every page's footer, now that the count is known.
    pub(crate) fn finish(mut self) -> Layout {
        let last = std::mem::take(&mut self.ops);
        self.done.push(last);
        let total = self.done.len();
        let pages = std::mem::take(&mut self.done);
        let pages = pages
            .into_iter()
            .enumerate()
            .map(|(i, ops)| {
                self.ops = ops;
                self.footer(i + 1, total);
                std::mem::take(&mut self.ops)
            })
            .collect();
        Layout {
            pages,
            glyphs: self.glyphs,
            images: self.images,
        }
    }

    /// The footer: the given parts and page N of M, then the note.
    fn footer(&mut self, page: usize, total: usize) {
        let size = 7.5;
        let top = PAGE_H - MARGIN - FOOTER_H + 8.0;
        self.hline(MARGIN, MARGIN + CONTENT_W, top, 0.5, 0.5);
        // Empty parts are left out rather than printed as stray separators.
        let mut parts: Vec<String> = self
            .footer
            .iter()
            .filter(|p| !p.trim().is_empty())
            .cloned()
            .collect();
        parts.push(format!("page {page} of {total}"));
        let first = parts.join(" \u{b7} ");
        let first = fit(&first, Face::Regular, size, CONTENT_W);
        self.text(MARGIN, top + 10.0, Face::Regular, size, 0.25, &first);
        // Two lines at most: a long link is cut rather than pushed into the margin.
        let mut lines = wrap(&self.note, Face::Regular, size, CONTENT_W);
        if lines.len() > 2 {
            lines.truncate(2);
            if let Some(l) = lines.last_mut() {
                *l = fit(&format!("{l}\u{2026}"), Face::Regular, size, CONTENT_W);
            }
        }
        for (i, line) in lines.iter().enumerate() {
            let base = top + 20.0 + i as f32 * 9.0;
            self.text(MARGIN, base, Face::Regular, size, 0.25, line);
        }
    }

    // Drawing primitives.

    /// Text with its baseline at `baseline` (from the top), in grey level `grey` (0 = black).
    /// A character the face has no glyph for prints as [`MISSING`], as [`char_width`]
    /// measured it.
    pub(crate) fn text(
        &mut self,
        x: f32,
        baseline: f32,
        face: Face,
        size: f32,
        grey: f32,
        s: &str,
    ) {
        let Some(font) = face.font() else {
            return;
        };
        if s.is_empty() {
            return;
        }
        let used = &mut self.glyphs[face.index()];
        let shown: String = visual_order(s)
            .into_iter()
            .map(|c| match font.glyph(c) {
                Some((gid, _)) => {
                    used.insert(gid);
                    c
                }
                None => {
                    used.insert(font.glyph(MISSING).map_or(0, |g| g.0));
                    MISSING
                }
            })
            .collect();
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFillColor {
                col: grey_col(grey),
            },
            Op::SetFont {
                font: PdfFontHandle::External(FontId(face.id().into())),
                size: Pt(size),
            },
            Op::SetTextCursor {
                pos: Point {
                    x: Pt(x),
                    y: Pt(PAGE_H - baseline),
                },
            },
            Op::ShowText {
                items: vec![TextItem::Text(shown)],
            },
            Op::EndTextSection,
        ]);
    }

    /// A horizontal rule at `y` from the top.
    pub(crate) fn hline(&mut self, x1: f32, x2: f32, y: f32, width: f32, grey: f32) {
        let at = |x: f32| LinePoint {
            p: Point {
                x: Pt(x),
                y: Pt(PAGE_H - y),
            },
            bezier: false,
        };
        self.ops.extend([
            Op::SetOutlineColor {
                col: grey_col(grey),
            },
            Op::SetOutlineThickness { pt: Pt(width) },
            Op::DrawLine {
                line: Line {
                    points: vec![at(x1), at(x2)],
                    is_closed: false,
                },
            },
        ]);
    }

    /// A rectangle whose top-left corner is at (`x`, `y` from the top), optionally filled
    /// with a grey and/or stroked with (width, grey).
    pub(crate) fn rect(
        &mut self,
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        fill: Option<f32>,
        stroke: Option<(f32, f32)>,
    ) {
        let mode = match (fill, stroke) {
            (Some(_), Some(_)) => PaintMode::FillStroke,
            (Some(_), None) => PaintMode::Fill,
            (None, Some(_)) => PaintMode::Stroke,
            (None, None) => return,
        };
        if let Some(g) = fill {
            self.ops.push(Op::SetFillColor { col: grey_col(g) });
        }
        if let Some((width, g)) = stroke {
            self.ops.extend([
                Op::SetOutlineColor { col: grey_col(g) },
                Op::SetOutlineThickness { pt: Pt(width) },
            ]);
        }
        self.ops.push(Op::DrawRectangle {
            rectangle: Rect {
                x: Pt(x),
                y: Pt(PAGE_H - y - h),
                width: Pt(w),
                height: Pt(h),
                mode: Some(mode),
                winding_order: None,
            },
        });
    }
}

/// A grey level as a PDF colour (0 = black, 1 = white).
fn grey_col(level: f32) -> Color {
    Color::Greyscale(Greyscale {
        percent: level,
        icc_profile: None,
    })
}

/// A column's width in points.
fn col_width(col: &Col) -> f32 {
    CONTENT_W * col.frac
}

/// Text size in a table cell: labels are set a little smaller.
fn cell_size(face: Face) -> f32 {
    match face {
        Face::Regular => BODY,
        Face::Bold => LABEL,
    }
}

/// A table header row's height.
fn header_height() -> f32 {
    16.0
}

/// The height of a row showing `lines` lines (blank rows get room to write).
pub(crate) fn row_height(lines: usize) -> f32 {
    if lines == 0 {
        BLANK_ROW
    } else {
        (2.0 * PAD_Y + lines as f32 * LEAD).max(18.0)
    }
}

// ---------------------------------------------------------------------------------------------
// Text: the embedded font, what it can print, and how wide it is.

/// DejaVu Sans 2.37, regular (config/fonts/README.md says where it comes from). Compiled in,
/// so nothing is read at run time and a stored case always renders the same way.
pub(crate) const REGULAR_TTF: &[u8] = include_bytes!("../config/fonts/DejaVuSans.ttf");
/// DejaVu Sans 2.37, bold.
pub(crate) const BOLD_TTF: &[u8] = include_bytes!("../config/fonts/DejaVuSans-Bold.ttf");

/// Printed in place of a character the font has no glyph for (and of emoji), so a reader
/// sees that something was there.
const MISSING: char = '?';

/// Both faces, parsed on first use; `None` if the compiled-in font cannot be read.
static FONTS: LazyLock<Option<[FontFace; 2]>> = LazyLock::new(|| {
    Some([
        FontFace::parse(REGULAR_TTF, "DejaVuSans")?,
        FontFace::parse(BOLD_TTF, "DejaVuSans-Bold")?,
    ])
});

/// One face of the embedded font: its file, and the glyph and width of every character it has.
pub(crate) struct FontFace {
    /// The whole TrueType file, subset for each form.
    ttf: &'static [u8],
    /// The PostScript name, written (with a subset tag) into the PDF.
    name: &'static str,
    /// Character → (glyph id, advance width in 1/1000 em).
    glyphs: HashMap<char, (u16, f32)>,
}

impl FontFace {
    /// Reads the character map and advance widths out of a TrueType file.
    fn parse(ttf: &'static [u8], name: &'static str) -> Option<Self> {
        let parsed = ParsedFont::from_bytes(ttf, 0, &mut Vec::new())?;
        let units = f32::from(parsed.units_per_em);
        let glyphs: HashMap<char, (u16, f32)> = parsed
            .codepoint_to_glyph
            .iter()
            .filter_map(|(&cp, &gid)| {
                let c = char::from_u32(cp)?;
                let advance = parsed.get_glyph_width(gid)?;
                Some((c, (gid, f32::from(advance) * 1000.0 / units)))
            })
            .collect();
        glyphs
            .contains_key(&MISSING)
            .then_some(FontFace { ttf, name, glyphs })
    }

    /// The glyph id and width printing `c`, if the face has one.
    fn glyph(&self, c: char) -> Option<(u16, f32)> {
        self.glyphs.get(&c).copied()
    }
}

/// A copy of `face` holding only `glyphs` (and .notdef), for embedding: a form uses about a
/// hundred of the font's 6,000 glyphs, and the two whole faces would add ~730 KB (compressed)
/// to every PDF. The subset keeps the font's `name` table, about half of what is embedded,
/// because it carries the copyright notice the licence asks every copy to keep.
fn subset(face: &FontFace, glyphs: &BTreeSet<u16>) -> Result<ParsedFont, String> {
    use allsorts::binary::read::ReadScope;
    use allsorts::font_data::FontData;
    use allsorts::subset::{CmapTarget, SubsetProfile};

    let file = ReadScope::new(face.ttf)
        .read::<FontData<'_>>()
        .map_err(|e| format!("reading the embedded font: {e}"))?;
    let provider = file
        .table_provider(0)
        .map_err(|e| format!("reading the embedded font: {e}"))?;
    // .notdef must come first; the subset renumbers glyphs in this order and keeps a
    // Unicode cmap for them, so the text is still encoded by character.
    let ids: Vec<u16> = std::iter::once(0)
        .chain(glyphs.iter().copied().filter(|&g| g != 0))
        .collect();
    let bytes = allsorts::subset::subset(&provider, &ids, &SubsetProfile::Pdf, CmapTarget::Unicode)
        .map_err(|e| format!("subsetting the embedded font: {e}"))?;
    let mut font = ParsedFont::from_bytes(&bytes, 0, &mut Vec::new())
        .ok_or_else(|| "the subset of the embedded font could not be read".to_string())?;
    // A subset's name carries a six-letter tag (ISO 32000-1, 9.6.4); deriving it from the
    // glyph set keeps the output reproducible and distinct subsets distinct.
    let digest = Sha256::digest(ids.iter().flat_map(|g| g.to_be_bytes()).collect::<Vec<_>>());
    let tag: String = digest
        .iter()
        .take(6)
        .map(|b| char::from(b'A' + b % 26))
        .collect();
    font.font_name = Some(format!("{tag}+{}", face.name));
    Ok(font)
}

/// Makes text printable in the embedded font: tabs and other controls become spaces
/// (newlines are kept for [`wrap`]); characters the font has no glyph for, and emoji, become
/// [`MISSING`], so nothing is silently dropped.
pub(crate) fn clean(s: &str) -> String {
    s.replace("\r\n", "\n")
        .chars()
        .map(|c| match c {
            '\n' => '\n',
            c if c.is_control() => ' ',
            c if printable(c) => c,
            _ => MISSING,
        })
        .collect()
}

/// Whether the regular face prints `c` (the bold face, used for a few labels and the
/// reference, falls back to [`MISSING`] itself). Emoji are refused although DejaVu draws a
/// few dozen of them in black and white: a note would otherwise show some and lose others.
fn printable(c: char) -> bool {
    !matches!(c, '\u{1F000}'..='\u{1FAFF}')
        && Face::Regular.font().is_some_and(|f| f.glyph(c).is_some())
}

/// `line` in the order its characters are drawn, left to right: each run of right-to-left
/// text (Arabic, Hebrew) is reversed, keeping numbers in it left to right and combining marks
/// after their letter. The form itself runs left to right, so this is the part of the Unicode
/// bidirectional algorithm a name or a phrase in a line needs; letters are not joined.
fn visual_order(line: &str) -> Vec<char> {
    let chars: Vec<char> = line.chars().collect();
    if !chars.iter().copied().any(rtl) {
        return chars;
    }
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        if !rtl(chars[i]) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // The run goes on through neutrals and numbers up to the last right-to-left letter
        // before the next left-to-right one.
        let mut end = i + 1;
        let mut j = i + 1;
        while j < chars.len() && !ltr(chars[j]) {
            if rtl(chars[j]) || mark(chars[j]) && rtl(chars[j - 1]) {
                end = j + 1;
            }
            j += 1;
        }
        let mut clusters: Vec<Vec<char>> = Vec::new();
        for &c in &chars[i..end] {
            let joins = clusters.last().is_some_and(|last| {
                mark(c) || c.is_ascii_digit() && last.iter().all(char::is_ascii_digit)
            });
            match clusters.last_mut() {
                Some(last) if joins => last.push(c),
                _ => clusters.push(vec![c]),
            }
        }
        out.extend(clusters.into_iter().rev().flatten());
        i = end;
    }
    out
}

/// Whether `c` is a right-to-left letter (Hebrew, Arabic and their presentation forms).
fn rtl(c: char) -> bool {
    matches!(c,
        '\u{05D0}'..='\u{05FF}'
            | '\u{0600}'..='\u{06FF}'
            | '\u{0750}'..='\u{077F}'
            | '\u{08A0}'..='\u{08FF}'
            | '\u{FB1D}'..='\u{FDFF}'
            | '\u{FE70}'..='\u{FEFF}')
        && !mark(c)
        && !matches!(c, '\u{0660}'..='\u{0669}' | '\u{06F0}'..='\u{06F9}')
}

/// Whether `c` is a left-to-right letter (marks count as letters to Unicode, but follow
/// their base's direction).
fn ltr(c: char) -> bool {
    c.is_alphabetic() && !rtl(c) && !mark(c)
}

/// Whether `c` is a combining mark drawn over the letter before it.
fn mark(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
            | '\u{0591}'..='\u{05C7}'
            | '\u{0610}'..='\u{061A}'
            | '\u{064B}'..='\u{065F}'
            | '\u{0670}'
            | '\u{06D6}'..='\u{06ED}')
}

/// The advance width of `c` in 1/1000 em, from the face's own metrics; a character the
/// face lacks is measured as the [`MISSING`] mark that replaces it.
fn char_width(c: char, face: Face) -> f32 {
    let Some(font) = face.font() else {
        return 1000.0;
    };
    font.glyph(c)
        .or_else(|| font.glyph(MISSING))
        .map_or(1000.0, |g| g.1)
}

/// The printed width of `s` in points.
pub(crate) fn text_width(s: &str, face: Face, size: f32) -> f32 {
    s.chars().map(|c| char_width(c, face)).sum::<f32>() * size / 1000.0
}

/// Breaks `text` into lines no wider than `max` points: at spaces where possible, inside a
/// word only when the word alone is too wide (long URLs, reference lists). Newlines start a
/// new line; empty text gives no lines.
pub(crate) fn wrap(text: &str, face: Face, size: f32, max: f32) -> Vec<String> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    let space = text_width(" ", face, size);
    let mut out = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        let mut width = 0.0f32;
        for word in para.split(' ').filter(|w| !w.is_empty()) {
            let ww = text_width(word, face, size);
            if !line.is_empty() && width + space + ww <= max {
                line.push(' ');
                line.push_str(word);
                width += space + ww;
                continue;
            }
            if !line.is_empty() {
                out.push(std::mem::take(&mut line));
            }
            if ww <= max {
                line.push_str(word);
                width = ww;
                continue;
            }
            // A word wider than the line: break it between characters.
            width = 0.0;
            for c in word.chars() {
                let cw = char_width(c, face) * size / 1000.0;
                if !line.is_empty() && width + cw > max {
                    out.push(std::mem::take(&mut line));
                    width = 0.0;
                }
                line.push(c);
                width += cw;
            }
        }
        out.push(line);
    }
    // A trailing newline in the input should not print an empty last line.
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out
}

/// `s` cut with an ellipsis so it fits in `max` points (used for one-line items only).
pub(crate) fn fit(s: &str, face: Face, size: f32, max: f32) -> String {
    if text_width(s, face, size) <= max {
        return s.to_string();
    }
    let ellipsis = '\u{2026}';
    let budget = max - text_width("\u{2026}", face, size);
    let mut out = String::new();
    let mut width = 0.0;
    for c in s.chars() {
        let cw = char_width(c, face) * size / 1000.0;
        if width + cw > budget {
            break;
        }
        out.push(c);
        width += cw;
    }
    out.push(ellipsis);
    out
}

/// The document `title` of `layout`'s pages, A4, with the fonts subset and its images.
pub(crate) fn save(title: &str, layout: Layout) -> Result<Vec<u8>, String> {
    let Some(fonts) = FONTS.as_ref() else {
        return Err("the embedded font could not be read".into());
    };
    let Layout {
        pages,
        glyphs,
        images,
    } = layout;
    // printpdf and allsorts are large and not ours: a bug in them must cost one document,
    // not take down the process that called us.
    let bytes = catch_unwind(AssertUnwindSafe(|| -> Result<Vec<u8>, String> {
        let mut doc = PdfDocument::new(title);
        for face in [Face::Regular, Face::Bold] {
            let used = &glyphs[face.index()];
            if !used.is_empty() {
                let font = subset(&fonts[face.index()], used)?;
                doc.resources
                    .fonts
                    .map
                    .insert(FontId(face.id().into()), PdfFont::new(font));
            }
        }
        for (id, image) in images {
            doc.resources
                .xobjects
                .map
                .insert(id, printpdf::XObject::Image(image));
        }
        let pages = pages
            .into_iter()
            .map(|ops| PdfPage::new(Mm(210.0), Mm(297.0), ops))
            .collect();
        Ok(doc
            .with_pages(pages)
            .save(&PdfSaveOptions::default(), &mut Vec::new()))
    }))
    .map_err(|panic| panic_message(panic.as_ref()))??;
    if !bytes.starts_with(b"%PDF-") {
        return Err("the output is not a PDF".into());
    }
    Ok(bytes)
}

/// A readable message from a caught panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_are_the_embedded_fonts_own() {
        // Advance widths read independently with FreeType (font units / 2048 em, × 1000).
        // Wrapping measured against any other font would run lines past the margin.
        let expected = [
            (Face::Regular, ' ', 317.871),
            (Face::Regular, 'a', 612.793),
            (Face::Regular, 'W', 988.770),
            (Face::Regular, '\u{177}', 591.797),  // ŷ
            (Face::Regular, '\u{141}', 562.012),  // Ł
            (Face::Regular, '\u{645}', 619.141),  // م
            (Face::Regular, '\u{3A9}', 764.160),  // Ω
            (Face::Regular, '\u{416}', 1077.148), // Ж
            (Face::Bold, ' ', 348.145),
            (Face::Bold, 'a', 674.805),
            (Face::Bold, 'W', 1103.027),
            (Face::Bold, '\u{177}', 651.855),
            (Face::Bold, '\u{645}', 732.910),
            (Face::Bold, '\u{416}', 1224.121),
        ];
        for (face, c, width) in expected {
            let ours = char_width(c, face);
            assert!((ours - width).abs() < 0.01, "{c:?}: {ours} vs {width}");
        }
        // What the font lacks is measured as the mark printed instead.
        assert_eq!(
            char_width('\u{65E5}', Face::Regular),
            char_width('?', Face::Regular)
        );
    }

    #[test]
    fn both_faces_print_every_letter_of_the_names_we_meet() {
        let names = "Siân Llŷr Ŵŵ Ŷŷ âêîôû Zażółć Gęślą jaźń ĄĆĘŁŃÓŚŹŻ Łukasz Żółkiewski \
                     محمد الأحمد Νίκος Παπαδόπουλος Олена Шевченко Ёё Її Ґґ";
        for face in [Face::Regular, Face::Bold] {
            let font = face.font().expect("the embedded font reads");
            for c in names.chars() {
                assert!(font.glyph(c).is_some(), "face {} lacks {c:?}", face.id());
            }
        }
        assert_eq!(clean(names), names);
    }

    #[test]
    fn a_subset_keeps_the_glyphs_asked_for_and_is_small() {
        let font = Face::Regular.font().expect("the embedded font reads");
        let glyphs: BTreeSet<u16> = "Siân Llŷr محمد"
            .chars()
            .filter_map(|c| font.glyph(c).map(|g| g.0))
            .collect();
        let sub = subset(font, &glyphs).expect("subset");
        for c in "Siân Llŷr محمد".chars() {
            let gid = sub.lookup_glyph_index(c as u32).expect("mapped");
            assert_ne!(gid, 0, "{c:?} maps to .notdef");
            let width = f32::from(sub.get_glyph_width(gid).expect("width")) * 1000.0 / 2048.0;
            assert!((width - char_width(c, Face::Regular)).abs() < 0.01, "{c:?}");
        }
        assert!(
            sub.original_bytes.len() < 30_000,
            "{}",
            sub.original_bytes.len()
        );
        let name = sub.font_name.expect("named");
        assert!(
            name.ends_with("+DejaVuSans") && name.len() == 7 + 10,
            "{name}"
        );
    }

    #[test]
    fn wrap_keeps_lines_within_the_width_and_loses_no_words() {
        let text = "The receiving agency did not accept that the threshold for a strategy \
                    discussion was met, and asked for further information from school.";
        let lines = wrap(text, Face::Regular, BODY, 150.0);
        assert!(lines.len() > 2);
        for l in &lines {
            assert!(text_width(l, Face::Regular, BODY) <= 150.0, "{l}");
        }
        assert_eq!(
            lines.join(" "),
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }

    #[test]
    fn wrap_breaks_a_word_wider_than_the_line() {
        let url = "https://escalate.example.org/cases/".to_string() + &"x".repeat(200);
        let lines = wrap(&url, Face::Regular, BODY, 100.0);
        assert!(lines.len() > 3);
        assert_eq!(lines.concat(), url);
        assert!(wrap("  \n ", Face::Regular, BODY, 100.0).is_empty());
        // Nothing fits: still terminates, one character a line.
        assert_eq!(wrap("abc", Face::Bold, BODY, 0.0).len(), 3);
    }

    #[test]
    fn clean_replaces_what_the_font_cannot_print() {
        assert_eq!(clean("Café – £5 \u{1F600}\tok\r\n"), "Café – £5 ? ok\n");
        assert_eq!(clean("日本"), "??");
        // Emoji the font happens to draw are replaced too, like the rest.
        assert!(
            Face::Regular
                .font()
                .is_some_and(|f| f.glyph('\u{1F600}').is_some())
        );
        assert_eq!(clean("\u{1F642}\u{1F600}"), "??");
    }

    #[test]
    fn right_to_left_runs_are_drawn_reversed_and_the_rest_is_left_alone() {
        let drawn = |s: &str| visual_order(s).into_iter().collect::<String>();
        assert_eq!(drawn("Siân Llŷr"), "Siân Llŷr");
        // محمد الأحمد: the whole name is one run, spaces included.
        assert_eq!(drawn("Who: محمد الأحمد."), "Who: دمحألا دمحم.");
        // A number inside keeps its order; a mark stays after its letter.
        assert_eq!(drawn("غرفة 12 ب"), "ب 12 ةفرغ");
        assert_eq!(drawn("مَن"), "نمَ");
        assert_eq!(drawn("שלום and سلام"), "םולש and مالس");
    }

    #[test]
    fn fit_cuts_with_an_ellipsis() {
        let s = fit(&"W".repeat(100), Face::Bold, 10.0, 50.0);
        assert!(s.ends_with('\u{2026}'));
        assert!(text_width(&s, Face::Bold, 10.0) <= 50.0);
        assert_eq!(fit("ok", Face::Bold, 10.0, 50.0), "ok");
    }
}
