//! Files the hub serves itself, embedded in the binary: the demo chat page (`GET /`, from
//! `crates/wsx-hub/assets/`) and the browser client (`GET /wsx.js` and its types, from
//! `clients/js/`, so the file served is the file in the repository, with no build step).

/// One embedded file.
pub(crate) struct Asset {
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TS: &str = "text/plain; charset=utf-8";

/// The embedded file served at `path`, if any.
pub(crate) fn get(path: &str) -> Option<Asset> {
    let (content_type, body) = match path {
        "/" | "/index.html" => (HTML, include_str!("../assets/index.html")),
        "/demo.js" => (JS, include_str!("../assets/demo.js")),
        "/demo.css" => (CSS, include_str!("../assets/demo.css")),
        "/wsx.js" => (JS, include_str!("../../../clients/js/wsx.js")),
        "/wsx.d.ts" => (TS, include_str!("../../../clients/js/wsx.d.ts")),
        _ => return None,
    };
    Some(Asset { content_type, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_and_the_page_are_embedded() {
        assert!(get("/wsx.js").unwrap().body.contains("export"));
        assert!(get("/").unwrap().body.contains("<html"));
        assert!(get("/nope").is_none());
    }
}
