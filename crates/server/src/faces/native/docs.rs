//! `GET /docs`: an interactive reference of the native API (Swagger UI)
//! over `/openapi.json`. Its files are compiled into the binary, so the
//! page works on a machine with no internet access; public, like the
//! document itself.

use std::sync::Arc;

use axum::http::{HeaderValue, header};
use axum::response::Response;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::state::AppState;

/// Everything the page loads comes from this server: its script and
/// styles, the document, and the data: images Swagger UI draws its icons
/// with. Swagger UI sets element styles from script, hence
/// `'unsafe-inline'` for styles only; no inline or foreign script runs.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

pub fn router() -> axum::Router<Arc<AppState>> {
    let ui = SwaggerUi::new("/docs").config(
        Config::new(["/openapi.json"])
            // The public validator badge would send the document away.
            .validator_url("none")
            .try_it_out_enabled(true),
    );
    axum::Router::from(ui).layer(axum::middleware::map_response(with_policy))
}

async fn with_policy(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}
