//! The UI's files, embedded in the binary and served under `/ui/assets/` with long cache
//! headers (their names carry the crate version, so a new build is a new URL).

use actix_web::{HttpResponse, web};

use crate::error::ApiError;

/// (name, content type, bytes).
const FILES: &[(&str, &str, &[u8])] = &[
    ("portolan.css", "text/css; charset=utf-8", include_bytes!("assets/portolan.css")),
    ("portolan.js", "text/javascript; charset=utf-8", include_bytes!("assets/portolan.js")),
    // htmx 2 (https://htmx.org), 0BSD licence: see assets/LICENSES.
    ("htmx.min.js", "text/javascript; charset=utf-8", include_bytes!("assets/htmx.min.js")),
    ("favicon.svg", "image/svg+xml", include_bytes!("assets/favicon.svg")),
];

/// The URL of an asset, versioned.
pub fn href(name: &str) -> String {
    format!("/ui/assets/{}/{name}", env!("CARGO_PKG_VERSION"))
}

/// `GET /ui/assets/{version}/{file}`.
pub async fn serve(path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let (_version, file) = path.into_inner();
    let Some((_, kind, bytes)) = FILES.iter().find(|(n, _, _)| *n == file) else {
        return Err(ApiError::not_found(format!("no UI file named {file}")));
    };
    Ok(HttpResponse::Ok()
        .content_type(*kind)
        .insert_header(("Cache-Control", "public, max-age=31536000, immutable"))
        .body(*bytes))
}

/// Total bytes of the CSS and scripts every page loads.
pub fn page_asset_bytes() -> usize {
    FILES.iter().filter(|(n, _, _)| n.ends_with(".css") || n.ends_with(".js")).map(|(_, _, b)| b.len()).sum()
}
