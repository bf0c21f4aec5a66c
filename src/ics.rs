//! iCalendar (RFC 5545) text for a person's deadline feed: one `VEVENT` per deadline, so that
//! safeguarding leads see their deadlines in Outlook or any calendar. Pure: the events are
//! given, the text returned. The events say which case and which stage, never anything about
//! the child.

use chrono::{DateTime, Utc};

/// One deadline as a calendar event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEvent {
    /// Stable across fetches and changes of time, e.g. `deadline-42@escalate`.
    pub uid: String,
    /// When the deadline falls.
    pub start: DateTime<Utc>,
    /// One line, e.g. `DSP-2026-000001: Stage 1 ends`.
    pub summary: String,
    /// Why it falls then, and where to act.
    pub description: String,
    /// The case's page.
    pub url: String,
}

/// A whole calendar named `name` holding `events`, stamped `now`. Lines end in CRLF and are
/// folded at 75 octets, as RFC 5545 requires.
pub fn calendar(name: &str, events: &[FeedEvent], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let stamp = utc(now);
    for line in [
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".into(),
        "PRODID:-//escalate//deadlines//EN".into(),
        "CALSCALE:GREGORIAN".into(),
        "METHOD:PUBLISH".into(),
        format!("X-WR-CALNAME:{}", text(name)),
        // Calendar programs that honour it fetch again within the hour.
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H".into(),
        "X-PUBLISHED-TTL:PT1H".into(),
    ] {
        push(&mut out, &line);
    }
    for e in events {
        for line in [
            "BEGIN:VEVENT".to_string(),
            format!("UID:{}", text(&e.uid)),
            format!("DTSTAMP:{stamp}"),
            format!("DTSTART:{}", utc(e.start)),
            format!("SUMMARY:{}", text(&e.summary)),
            format!("DESCRIPTION:{}", text(&e.description)),
            format!("URL;VALUE=URI:{}", e.url),
            // A deadline takes no time in the diary.
            "TRANSP:TRANSPARENT".into(),
            "END:VEVENT".into(),
        ] {
            push(&mut out, &line);
        }
    }
    push(&mut out, "END:VCALENDAR");
    out
}

/// A UTC time in iCalendar's form, `20261127T170000Z`.
fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A TEXT value: backslash, semicolon and comma escaped, line breaks as `\n`, other control
/// characters dropped.
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` folded into pieces of at most 75 octets (never inside a character), each
/// continuation starting with a space, each ending in CRLF.
fn push(out: &mut String, line: &str) {
    let mut room = 75;
    let mut used = 0;
    for ch in line.chars() {
        if used + ch.len_utf8() > room {
            out.push_str("\r\n ");
            // The leading space counts towards the next line's 75.
            room = 74;
            used = 0;
        }
        out.push(ch);
        used += ch.len_utf8();
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn text_is_escaped_and_long_lines_fold_between_characters() {
        let event = FeedEvent {
            uid: "deadline-1@escalate".into(),
            start: t("2026-11-27T17:00:00Z"),
            summary: "DSP-2026-000001: Stage 1, practitioners; ends\r\nnow".into(),
            description: "é".repeat(100),
            url: "http://localhost:8080/cases/DSP-2026-000001".into(),
        };
        let ics = calendar("escalate: deadlines", &[event], t("2026-11-26T09:00:00Z"));
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
        assert!(ics.contains("DTSTART:20261127T170000Z\r\n"));
        assert!(ics.contains("DTSTAMP:20261126T090000Z\r\n"));
        assert!(
            ics.contains("SUMMARY:DSP-2026-000001: Stage 1\\, practitioners\\; ends\\nnow\r\n")
        );
        for line in ics.split("\r\n") {
            assert!(line.len() <= 75, "{line}");
            assert!(!line.contains('\n') && !line.contains('\r'));
        }
        // Unfolded, the description is whole again.
        let unfolded = ics.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("DESCRIPTION:{}\r\n", "é".repeat(100))));
    }
}
