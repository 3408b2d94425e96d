//! How pages show money, times and an artist's Markdown bio.

use super::Layout;

/// Formats a unix time for pages. Profiles carry no time zone yet, so times are shown in UTC.
pub fn when(at: i64) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short] [day padding:none] [month repr:short] [year], [hour]:[minute] UTC"
    );
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "unknown time".to_owned())
}

impl Layout {
    pub fn when(&self, at: &i64) -> String {
        when(*at)
    }
    /// A time as read in the IANA zone `zone`.
    pub fn when_in(&self, at: &i64, zone: &str) -> String {
        crate::clock::local_time(*at, zone)
    }
    /// An amount in `currency`'s minor units, as people read it (`€120`, `$1,250`).
    pub fn money(&self, minor: &i64, currency: &domain::Currency) -> String {
        currency.format(*minor)
    }
}

/// An artist's bio, written in Markdown, as safe HTML: only basic formatting and links survive
/// (links get `rel="noopener noreferrer nofollow"`); raw HTML, images and scripts are removed.
pub fn bio_html(markdown: &str) -> String {
    let mut html = String::new();
    let parser = pulldown_cmark::Parser::new(markdown);
    pulldown_cmark::html::push_html(&mut html, parser);
    ammonia::Builder::default()
        .tags(
            [
                "p",
                "br",
                "em",
                "strong",
                "a",
                "ul",
                "ol",
                "li",
                "blockquote",
                "code",
                "h3",
                "h4",
            ]
            .into_iter()
            .collect(),
        )
        .link_rel(Some("noopener noreferrer nofollow"))
        .url_schemes(["https", "http", "mailto"].into_iter().collect())
        .clean(&html)
        .to_string()
}

pub fn policy_text(p: &domain::BookingPolicy, currency: domain::Currency) -> String {
    let deposit = match p.deposit {
        domain::DepositRule::Fixed { cents } => format!("a {} deposit", currency.format(cents)),
        domain::DepositRule::Percent { percent } => format!("a {percent}% deposit"),
    };
    format!(
        "Replies within {} hours. Asks for {deposit}, due {} days after you accept a quote. \
         Cancel at least {} hours ahead to keep your deposit as credit. Up to {} reschedules.",
        p.response_hours, p.deposit_due_days, p.notice_hours, p.max_reschedules
    )
}

#[cfg(test)]
mod bio_tests {
    use super::bio_html;
    use proptest::prelude::*;

    #[test]
    fn markdown_formats_and_anything_active_is_removed() {
        let html = bio_html(
            "**Fine line** work, see [my site](https://ink.example).\n\n<script>alert(1)</script><img src=x onerror=alert(1)>",
        );
        assert!(html.contains("<strong>Fine line</strong>"), "{html}");
        assert!(
            html.contains(r#"href="https://ink.example""#) && html.contains("nofollow"),
            "{html}"
        );
        assert!(
            !html.contains("<script") && !html.contains("onerror") && !html.contains("<img"),
            "{html}"
        );
        assert!(!bio_html("[x](javascript:alert(1))").contains("javascript:"));
    }

    proptest! {
        #[test]
        fn no_input_produces_script_or_event_handlers(md in "\\PC{0,200}") {
            let html = bio_html(&md).to_lowercase();
            prop_assert!(!html.contains("<script") && !html.contains(" onerror=") && !html.contains(" onload="));
        }
    }
}
