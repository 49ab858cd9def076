//! `/openapi.json` (also `/api/v1/openapi.json`), Swagger UI at `/docs` (its assets under
//! `/docs/...`, from the `utoipa-swagger-ui-vendored` crate) and ReDoc at `/redoc` (the pinned
//! `redoc@2.5.4` standalone bundle, MIT, in `assets/`). Every URL the pages use is relative, so
//! they work behind the API Gateway stage prefix (`/v1/docs`) and on a custom domain alike.
//!
//! Served uncompressed: compressed bodies would need API Gateway binary media types, which would
//! change how every other route's bodies reach the functions. Sizes are in functions/docs/guide/measurements.md.
//!
//! Every response here is public and fixed per build: each carries a strong `ETag` (a digest of
//! its bytes, computed once per sandbox) and `Cache-Control: public, max-age=300`, and a request
//! whose `If-None-Match` names the tag is a 304 with no body. No asset is `immutable`: none has a
//! name that changes with its content (`redoc.standalone.js`, `swagger-ui-bundle.js` keep theirs
//! across versions), so a browser must revalidate them after a deploy.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};
use shared::{
    ApiError, ErrorCode, Routes,
    conditional::{ETag, IfNoneMatch, respond},
};
use utoipa::OpenApi as _;

/// The ReDoc bundle, pinned: `npm pack redoc@2.5.4`, `bundles/redoc.standalone.js` (MIT,
/// `assets/redoc.LICENSE`).
const REDOC_JS: &[u8] = include_bytes!("../assets/redoc.standalone.js");

/// ReDoc's page: the spec and the bundle by relative URL (from `/v1/redoc`, `openapi.json` is
/// `/v1/openapi.json`).
const REDOC_HTML: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API reference</title>
</head>
<body>
<redoc spec-url="openapi.json"></redoc>
<script src="redoc/redoc.standalone.js"></script>
</body>
</html>
"#;

/// Assets change only with a deploy; the document with any of them. Browsers and shared caches
/// may keep them five minutes, then revalidate with the `ETag` (a 304 while nothing changed).
pub const ASSET_CACHE: &str = "public, max-age=300";

/// ReDoc's free build always draws its "API docs by Redocly" footer logo from its CDN; served
/// with an empty image instead, so that no page of ours loads anything from elsewhere.
const REDOC_CDN_LOGO: &str = "https://cdn.redoc.ly/redoc/logo-mini.svg";

/// Every HTML page of ours may load only what this origin serves: its own files by default;
/// scripts only from its own files (neither UI runs an inline script, so an injected one is
/// refused; Swagger UI's `oauth2-redirect.html`, which has one, serves no flow of ours); styles
/// from its files and inline (both UIs style elements from script); images and fonts also as
/// `data:` URLs; the document fetched from this origin (and Swagger UI's "Try it out" sent to
/// it); ReDoc's search worker from a `blob:`; no plugin, no form, no `<base>` elsewhere, no
/// framing. A vendored asset that reaches for a CDN is refused by the browser, not silently
/// allowed; `infra/scripts/browser.sh` checks that both pages still render under it.
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; \
     manifest-src 'self'; object-src 'none'; base-uri 'self'; form-action 'none'; \
     frame-ancestors 'none'";

/// A body fixed per build, and its tag.
struct Fixed {
    bytes: Bytes,
    etag: ETag,
}

impl Fixed {
    fn new(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        Self {
            etag: digest(&bytes),
            bytes,
        }
    }
}

/// The strong tag of `bytes`: the first 128 bits of their SHA-256, in hex. The same in every
/// sandbox of a build, so a tag one sandbox gave is recognized by the next.
fn digest(bytes: &[u8]) -> ETag {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().take(16).map(|b| format!("{b:02x}")).collect();
    // Hex digits are tag characters: `opaque` never refuses them.
    ETag::opaque(&hex).unwrap_or_else(|| ETag::version(0))
}

/// What the routes serve, rendered once per sandbox.
pub struct Pages {
    enabled: bool,
    openapi_json: Fixed,
    swagger_index: Fixed,
    redoc_html: Fixed,
    redoc_js: Fixed,
    swagger: Arc<utoipa_swagger_ui::Config<'static>>,
    /// The tags of Swagger UI's assets, by file, computed on first request of each.
    asset_tags: Mutex<HashMap<String, ETag>>,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages")
            .field("enabled", &self.enabled)
            .field("openapi_json", &self.openapi_json.bytes.len())
            .finish_non_exhaustive()
    }
}

impl Pages {
    /// The merged document as JSON, and Swagger UI pointed at it.
    pub fn new(enabled: bool) -> anyhow::Result<Self> {
        let openapi_json = Bytes::from(serde_json::to_vec(&crate::document())?);
        // Relative to the page's base (`<api>/docs/`, see `swagger_index`).
        let swagger = Arc::new(utoipa_swagger_ui::Config::new(["../openapi.json"]));
        let redoc_js = String::from_utf8_lossy(REDOC_JS).replace(REDOC_CDN_LOGO, "data:,");
        Ok(Self {
            enabled,
            openapi_json: Fixed::new(openapi_json),
            swagger_index: Fixed::new(swagger_index_html(&swagger)?),
            redoc_html: Fixed::new(REDOC_HTML),
            redoc_js: Fixed::new(redoc_js),
            swagger,
            asset_tags: Mutex::new(HashMap::new()),
        })
    }

    /// The tag of Swagger UI's `file` (whose bytes are `bytes`), remembered per file.
    fn asset_tag(&self, file: &str, bytes: &[u8]) -> ETag {
        // A poisoned lock only means a panic elsewhere mid-insert: the map is still whole.
        let mut tags = self
            .asset_tags
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tags.entry(file.to_owned())
            .or_insert_with(|| digest(bytes))
            .clone()
    }

    fn check(&self) -> Result<(), ApiError> {
        if self.enabled {
            Ok(())
        } else {
            Err(ErrorCode::NotFound.into())
        }
    }
}

/// The document (twice), Swagger UI and its assets, ReDoc and its bundle.
pub fn routes() -> Routes<crate::state::State> {
    Routes::new()
        .get("/openapi.json", openapi_json)
        .get("/api/v1/openapi.json", api_openapi_json)
        .get("/docs", swagger_index)
        .get("/docs/{*file}", swagger_asset)
        .get("/redoc", redoc)
        .get("/redoc/redoc.standalone.js", redoc_js)
}

/// This function's paths, for the merged document.
pub fn own_paths() -> utoipa::openapi::OpenApi {
    DocsPaths::openapi()
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    openapi_json,
    api_openapi_json,
    swagger_index,
    swagger_asset,
    redoc,
    redoc_js
))]
struct DocsPaths;

fn with(content_type: &'static str, body: impl Into<axum::body::Body>) -> Response {
    let mut response = body.into().into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(ASSET_CACHE));
    response
}

/// Swagger UI's page, as `/docs` serves it.
fn swagger_index_html(swagger: &Arc<utoipa_swagger_ui::Config<'static>>) -> anyhow::Result<String> {
    let file = utoipa_swagger_ui::serve("index.html", swagger.clone())
        .map_err(|e| anyhow::anyhow!("Swagger UI index: {e}"))?
        .ok_or_else(|| anyhow::anyhow!("Swagger UI has no index.html"))?;
    // Served at `/docs` (no trailing slash) but written for its own directory: a base makes its
    // relative asset URLs resolve under `docs/`, behind any stage prefix.
    Ok(String::from_utf8_lossy(&file.bytes).replacen(
        "<head>",
        "<head>\n    <base href=\"docs/\">",
        1,
    ))
}

/// The OpenAPI 3.1 document of the whole API.
#[utoipa::path(get, path = "/openapi.json", tag = "docs", params(IfNoneMatch), responses(
    (status = 200, description = "The document", content_type = "application/json", body = Object,
        headers(("ETag" = String, description = "A digest of the document"),
            ("Cache-Control" = String, description = "`public, max-age=300`"))),
    (status = 304, description = "Not modified: `If-None-Match` names the current `ETag`; no body",
        headers(("ETag" = String, description = "A digest of the document"),
            ("Cache-Control" = String, description = "`public, max-age=300`"))),
    (status = 404, description = "`DOCS_ENABLED=false`", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn openapi_json(
    State(pages): State<Arc<Pages>>,
    if_none_match: IfNoneMatch,
) -> Result<Response, ApiError> {
    pages.check()?;
    let doc = &pages.openapi_json;
    Ok(respond(&if_none_match, &doc.etag, || {
        with("application/json", doc.bytes.clone())
    }))
}

/// The same document, under the API's prefix.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "docs", params(IfNoneMatch), responses(
    (status = 200, description = "The document", content_type = "application/json", body = Object,
        headers(("ETag" = String, description = "A digest of the document"),
            ("Cache-Control" = String, description = "`public, max-age=300`"))),
    (status = 304, description = "Not modified: `If-None-Match` names the current `ETag`; no body",
        headers(("ETag" = String, description = "A digest of the document"),
            ("Cache-Control" = String, description = "`public, max-age=300`"))),
    (status = 404, description = "`DOCS_ENABLED=false`", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn api_openapi_json(
    pages: State<Arc<Pages>>,
    if_none_match: IfNoneMatch,
) -> Result<Response, ApiError> {
    openapi_json(pages, if_none_match).await
}

/// Swagger UI.
#[utoipa::path(get, path = "/docs", tag = "docs", params(IfNoneMatch), responses(
    (status = 200, description = "Swagger UI", content_type = "text/html", body = String,
        headers(("ETag" = String, description = "A digest of the page"),
            ("Cache-Control" = String, description = "`public, max-age=300`"))),
    (status = 304, description = "Not modified: `If-None-Match` names the current `ETag`; no body",
        headers(("ETag" = String, description = "A digest of the page"),
            ("Cache-Control" = String, description = "`public, max-age=300`"))),
    (status = 404, description = "`DOCS_ENABLED=false`", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn swagger_index(
    State(pages): State<Arc<Pages>>,
    if_none_match: IfNoneMatch,
) -> Result<Response, ApiError> {
    pages.check()?;
    let index = &pages.swagger_index;
    Ok(respond(&if_none_match, &index.etag, || {
        page(index.bytes.clone())
    }))
}

/// An HTML page, with the content security policy.
fn page(html: impl Into<axum::body::Body>) -> Response {
    with_policy(with("text/html; charset=utf-8", html))
}

/// `response` with the pages' content security policy.
fn with_policy(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    response
}

/// A Swagger UI asset (its scripts, styles and the initializer that points it at the document).
#[utoipa::path(get, path = "/docs/{file}", tag = "docs",
    params(("file" = String, Path, description = "An asset of Swagger UI"), IfNoneMatch),
    responses(
        (status = 200, description = "The asset", content_type = "application/octet-stream", body = String,
            headers(("ETag" = String, description = "A digest of the asset"),
                ("Cache-Control" = String, description = "`public, max-age=300`"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current `ETag`; no body",
            headers(("ETag" = String, description = "A digest of the asset"),
                ("Cache-Control" = String, description = "`public, max-age=300`"))),
        (status = 404, description = "No such asset, or `DOCS_ENABLED=false`", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn swagger_asset(
    State(pages): State<Arc<Pages>>,
    Path(name): Path<String>,
    if_none_match: IfNoneMatch,
) -> Result<Response, ApiError> {
    pages.check()?;
    let file = utoipa_swagger_ui::serve(&name, pages.swagger.clone())
        .map_err(|e| anyhow::anyhow!("Swagger UI asset: {e}"))?
        .ok_or(ErrorCode::NotFound)?;
    let etag = pages.asset_tag(&name, &file.bytes);
    Ok(respond(&if_none_match, &etag, || asset(file)))
}

/// A Swagger UI file as a response: its own content type, and the pages' policy on its pages.
fn asset(file: utoipa_swagger_ui::SwaggerFile<'_>) -> Response {
    let content_type = HeaderValue::from_str(&file.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let mut response = with("application/octet-stream", file.bytes.into_owned());
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    if file.gzpipped {
        // Only if the vendored crate ships gzipped files (its `gzip` feature, which is off).
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    // Its own pages (`index.html`, `oauth2-redirect.html`) are pages like `/docs`.
    if file.content_type.starts_with("text/html") {
        response = with_policy(response);
    }
    response
}

/// ReDoc.
#[utoipa::path(get, path = "/redoc", tag = "docs", params(IfNoneMatch), responses(
    (status = 200, description = "ReDoc", content_type = "text/html", body = String,
        headers(("ETag" = String, description = "A digest of the page"),
            ("Cache-Control" = String, description = "`public, max-age=300`"))),
    (status = 304, description = "Not modified: `If-None-Match` names the current `ETag`; no body",
        headers(("ETag" = String, description = "A digest of the page"),
            ("Cache-Control" = String, description = "`public, max-age=300`"))),
    (status = 404, description = "`DOCS_ENABLED=false`", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn redoc(
    State(pages): State<Arc<Pages>>,
    if_none_match: IfNoneMatch,
) -> Result<Response, ApiError> {
    pages.check()?;
    let html = &pages.redoc_html;
    Ok(respond(&if_none_match, &html.etag, || {
        page(html.bytes.clone())
    }))
}

/// ReDoc's bundle.
#[utoipa::path(get, path = "/redoc/redoc.standalone.js", tag = "docs", params(IfNoneMatch), responses(
    (status = 200, description = "The bundle", content_type = "text/javascript", body = String,
        headers(("ETag" = String, description = "A digest of the bundle"),
            ("Cache-Control" = String, description = "`public, max-age=300`"))),
    (status = 304, description = "Not modified: `If-None-Match` names the current `ETag`; no body",
        headers(("ETag" = String, description = "A digest of the bundle"),
            ("Cache-Control" = String, description = "`public, max-age=300`"))),
    (status = 404, description = "`DOCS_ENABLED=false`", body = shared::openapi::ErrorEnvelope)))]
pub(crate) async fn redoc_js(
    State(pages): State<Arc<Pages>>,
    if_none_match: IfNoneMatch,
) -> Result<Response, ApiError> {
    pages.check()?;
    let js = &pages.redoc_js;
    Ok(respond(&if_none_match, &js.etag, || {
        with("text/javascript; charset=utf-8", js.bytes.clone())
    }))
}
