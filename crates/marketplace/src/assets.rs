//! Static assets compiled into the binary and served under content-hashed names, so a CDN can cache them forever.

use sha2::{Digest, Sha256};

struct Source {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const SOURCES: &[Source] = &[
    Source {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../static/app.css"),
    },
    Source {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../static/favicon.svg"),
    },
    Source {
        name: "pay.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../static/pay.js"),
    },
];

/// One asset with its hashed public name, e.g. `app.3f2a1b9c0d4e.css`.
pub struct Asset {
    pub hashed_name: String,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

/// The asset table, built once at startup.
pub struct Assets {
    assets: Vec<(&'static str, Asset)>,
}

impl Assets {
    pub fn build() -> Self {
        let assets = SOURCES
            .iter()
            .map(|s| {
                let digest = Sha256::digest(s.bytes);
                let short: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
                let hashed_name = match s.name.rsplit_once('.') {
                    Some((stem, ext)) => format!("{stem}.{short}.{ext}"),
                    None => format!("{}.{short}", s.name),
                };
                (
                    s.name,
                    Asset {
                        hashed_name,
                        content_type: s.content_type,
                        bytes: s.bytes,
                    },
                )
            })
            .collect();
        Self { assets }
    }

    /// The public URL of a source file, for templates.
    pub fn url(&self, name: &str) -> String {
        self.assets
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| format!("/static/{}", a.hashed_name))
            .unwrap_or_else(|| format!("/static/{name}"))
    }

    pub fn by_hashed_name(&self, hashed: &str) -> Option<&Asset> {
        self.assets
            .iter()
            .map(|(_, a)| a)
            .find(|a| a.hashed_name == hashed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_keep_the_extension_and_resolve_back() {
        let assets = Assets::build();
        let url = assets.url("app.css");
        let hashed = url.strip_prefix("/static/").unwrap();
        assert!(hashed.starts_with("app.") && hashed.ends_with(".css") && hashed.len() > 10);
        assert!(assets.by_hashed_name(hashed).is_some());
        assert!(assets.by_hashed_name("app.css").is_none());
    }
}
