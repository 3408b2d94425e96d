//! A signed consent form as a printable PDF record, for the client and the artist to keep.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

/// A4 in points, and the margins every page keeps.
const PAGE: (f32, f32) = (595.0, 842.0);
const MARGIN: f32 = 56.0;

/// What the record shows besides the signed answers.
pub struct ConsentHeader<'a> {
    pub booking: i64,
    pub client: &'a str,
    pub artist: &'a str,
    /// The session's time and the signature's, already written in the artist's zone.
    pub session: &'a str,
    pub signed: &'a str,
    pub jurisdiction: &'a str,
}

/// One line of the document: its size, whether it is bold, and whether it is highlighted.
struct Line {
    text: String,
    size: f32,
    bold: bool,
    alert: bool,
}

fn wrapped(out: &mut Vec<Line>, text: &str, size: f32, bold: bool, alert: bool) {
    // Helvetica averages about half an em per character; a little more keeps capitals inside.
    let max = ((PAGE.0 - 2.0 * MARGIN) / (size * 0.55)) as usize;
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            // A word longer than the line (a pasted URL) is cut rather than run off the page.
            let mut word = word.to_owned();
            while word.chars().count() > max {
                let head: String = word.chars().take(max).collect();
                word = word.chars().skip(max).collect();
                if !line.is_empty() {
                    out.push(Line {
                        text: std::mem::take(&mut line),
                        size,
                        bold,
                        alert,
                    });
                }
                out.push(Line {
                    text: head,
                    size,
                    bold,
                    alert,
                });
            }
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > max {
                out.push(Line {
                    text: std::mem::take(&mut line),
                    size,
                    bold,
                    alert,
                });
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&word);
        }
        out.push(Line {
            text: line,
            size,
            bold,
            alert,
        });
    }
}

/// Text in the standard fonts' WinAnsi encoding; what it cannot hold becomes `?`.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .filter(|c| !c.is_control())
        .map(|c| match c {
            ' '..='~' => c as u8,
            '\u{a0}'..='\u{ff}' => c as u32 as u8,
            '€' => 0x80,
            '…' => 0x85,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            _ => b'?',
        })
        .collect()
}

fn yes_no(value: bool) -> &'static str {
    if value { "Yes" } else { "No" }
}

/// The PDF of a signed consent form.
pub fn consent_pdf(header: &ConsentHeader<'_>, record: &storage::ConsentRecord) -> Vec<u8> {
    let mut lines = Vec::new();
    let field = |lines: &mut Vec<Line>, label: &str, value: &str, alert: bool| {
        wrapped(lines, label, 10.0, true, alert);
        wrapped(lines, value, 11.0, false, alert);
        lines.push(Line {
            text: String::new(),
            size: 6.0,
            bold: false,
            alert: false,
        });
    };
    wrapped(&mut lines, "Tattoo consent form", 20.0, true, false);
    wrapped(
        &mut lines,
        &format!(
            "Booking #{} · {} with {}",
            header.booking, header.client, header.artist
        ),
        12.0,
        false,
        false,
    );
    lines.push(Line {
        text: String::new(),
        size: 10.0,
        bold: false,
        alert: false,
    });
    field(&mut lines, "Session", header.session, false);
    let allergies = record.allergies.trim();
    field(
        &mut lines,
        "ALLERGIES",
        if allergies.is_empty() {
            "None declared"
        } else {
            allergies
        },
        !allergies.is_empty(),
    );
    let medical = record.medical_notes.trim();
    field(
        &mut lines,
        "MEDICAL CONDITIONS AND MEDICATION",
        if medical.is_empty() {
            "None declared"
        } else {
            medical
        },
        !medical.is_empty(),
    );
    field(
        &mut lines,
        "Age confirmed by the client",
        yes_no(record.confirms_age),
        false,
    );
    if let Some(guardian) = &record.guardian_name {
        field(
            &mut lines,
            "Parent or guardian who consented",
            guardian,
            false,
        );
    }
    field(
        &mut lines,
        "Aftercare instructions read and acknowledged",
        yes_no(record.aftercare_acknowledged),
        false,
    );
    field(
        &mut lines,
        "The artist may photograph the piece for their portfolio",
        yes_no(record.photo_permission),
        false,
    );
    field(
        &mut lines,
        "Age and consent rules applied",
        header.jurisdiction,
        false,
    );
    field(&mut lines, "Signed", header.signed, false);
    wrapped(
        &mut lines,
        "Signed electronically on Tattoo Marketplace. A signed form cannot be changed: a \
         correction is a new form, signed again.",
        9.0,
        false,
        false,
    );
    render(&lines, header.booking)
}

fn render(lines: &[Line], booking: i64) -> Vec<u8> {
    let (catalog, tree, regular, bold, info) = (
        Ref::new(1),
        Ref::new(2),
        Ref::new(3),
        Ref::new(4),
        Ref::new(5),
    );
    let mut next = 6;
    let mut pdf = Pdf::new();
    pdf.document_info(info)
        .title(pdf_writer::TextStr(&format!(
            "Consent form, booking #{booking}"
        )))
        .producer(pdf_writer::TextStr("Tattoo Marketplace"));
    pdf.type1_font(regular)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));

    // Lines are laid out top-down and a page ends where the next line would cross the margin.
    let mut pages: Vec<Vec<(&Line, f32)>> = vec![Vec::new()];
    let mut y = PAGE.1 - MARGIN;
    for line in lines {
        let leading = line.size * 1.35;
        if y - leading < MARGIN {
            pages.push(Vec::new());
            y = PAGE.1 - MARGIN;
        }
        y -= leading;
        pages.last_mut().expect("one page at least").push((line, y));
    }
    let mut page_ids = Vec::new();
    for (number, page_lines) in pages.iter().enumerate() {
        let (page_id, content_id) = (Ref::new(next), Ref::new(next + 1));
        next += 2;
        page_ids.push(page_id);
        let mut content = Content::new();
        for (line, y) in page_lines {
            if line.text.is_empty() {
                continue;
            }
            if line.alert {
                content.set_fill_rgb(0.66, 0.12, 0.19);
            } else {
                content.set_fill_rgb(0.11, 0.1, 0.13);
            }
            content
                .begin_text()
                .set_font(Name(if line.bold { b"F2" } else { b"F1" }), line.size)
                .next_line(MARGIN, *y)
                .show(Str(&win_ansi(&line.text)))
                .end_text();
        }
        let footer = format!(
            "Booking #{booking} · page {} of {}",
            number + 1,
            pages.len()
        );
        content
            .set_fill_rgb(0.36, 0.33, 0.38)
            .begin_text()
            .set_font(Name(b"F1"), 8.0)
            .next_line(MARGIN, MARGIN / 2.0)
            .show(Str(&win_ansi(&footer)))
            .end_text();
        pdf.stream(content_id, &content.finish());
        let mut page = pdf.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE.0, PAGE.1))
            .parent(tree)
            .contents(content_id);
        page.resources()
            .fonts()
            .pair(Name(b"F1"), regular)
            .pair(Name(b"F2"), bold);
        page.finish();
    }
    pdf.pages(tree)
        .kids(page_ids.iter().copied())
        .count(page_ids.len() as i32);
    pdf.catalog(catalog).pages(tree);
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The text a viewer shows: every `Tj` string, literal or hex, read as Latin-1, one per line.
    fn shown(pdf: &[u8]) -> String {
        let body = String::from_utf8_lossy(pdf);
        let mut out = String::new();
        for line in body.lines().filter_map(|l| l.strip_suffix(" Tj")) {
            if let Some(hex) = line.strip_prefix('<').and_then(|l| l.strip_suffix('>')) {
                let bytes = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap());
                out.extend(bytes.map(char::from));
            } else if let Some(lit) = line.strip_prefix('(').and_then(|l| l.strip_suffix(')')) {
                out.push_str(&lit.replace("\\(", "(").replace("\\)", ")"));
            }
            out.push('\n');
        }
        out
    }

    fn record(allergies: &str, medical: &str) -> storage::ConsentRecord {
        storage::ConsentRecord {
            appointment_id: domain::AppointmentId::new(3),
            session_starts_at: 1_800_000_000,
            medical_notes: medical.into(),
            allergies: allergies.into(),
            confirms_age: true,
            guardian_name: None,
            aftercare_acknowledged: true,
            photo_permission: false,
            jurisdiction: "FR".into(),
            signed_at: 1_799_000_000,
        }
    }

    const HEADER: ConsentHeader<'static> = ConsentHeader {
        booking: 12,
        client: "Théo Blanc",
        artist: "Inès Moreau",
        session: "Tue 9 Mar 2027, 10:00 CET",
        signed: "Mon 1 Mar 2027, 18:02 CET",
        jurisdiction: "France (FR): 18, or 16 with a parent's consent",
    };

    #[test]
    fn the_record_holds_every_answer_with_allergies_highlighted() {
        let pdf = consent_pdf(&HEADER, &record("Latex", "Takes blood thinners"));
        assert!(pdf.starts_with(b"%PDF-"));
        let text = shown(&pdf);
        for expected in [
            "ALLERGIES\nLatex\n",
            "MEDICAL CONDITIONS AND MEDICATION\nTakes blood thinners\n",
            "Booking #12 · Théo Blanc with Inès Moreau",
            "Session\nTue 9 Mar 2027, 10:00 CET",
            "photograph the piece for their portfolio\nNo\n",
            "page 1 of 1",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from {text}");
        }
        // Highlighted answers are drawn in the alert colour.
        assert!(String::from_utf8_lossy(&pdf).contains("0.66 0.12 0.19 rg"));
        let none = consent_pdf(&HEADER, &record("", ""));
        assert!(shown(&none).contains("ALLERGIES\nNone declared\n"));
        assert!(
            !String::from_utf8_lossy(&none).contains("0.66 0.12 0.19 rg"),
            "nothing to highlight"
        );
    }

    #[test]
    fn long_answers_wrap_and_continue_on_a_new_page() {
        let long = "word ".repeat(2_000);
        let text = shown(&consent_pdf(&HEADER, &record(&long, &long)));
        assert!(text.contains("page 2 of"), "more than one page");
        assert!(text.lines().all(|l| l.len() < 100), "lines are wrapped");
        assert_eq!(text.matches("word").count(), 4_000, "no word is lost");
    }

    proptest! {
        #[test]
        fn any_answers_make_a_complete_pdf(allergies in "\\PC{0,300}", medical in "(\\PC|\\n){0,600}") {
            let pdf = consent_pdf(&HEADER, &record(&allergies, &medical));
            prop_assert!(pdf.starts_with(b"%PDF-"));
            prop_assert!(pdf.ends_with(b"%%EOF") || pdf.ends_with(b"%%EOF\n"));
        }
    }
}
