//! Which face a request speaks to, so that errors raised outside a face's
//! handlers (rate limits, panics) still come in that face's envelope.

use axum::response::{IntoResponse, Response};
use roster_core::CoreError;

use crate::dialects::{aria, attackforge, d3, digicert};
use crate::problem::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    Native,
    D3,
    AttackForge,
    DigiCert,
    Aria,
}

impl Face {
    pub fn of(path: &str) -> Face {
        if d3::owns(path) {
            Face::D3
        } else if attackforge::owns(path) {
            Face::AttackForge
        } else if digicert::owns(path) {
            Face::DigiCert
        } else if aria::owns(path) {
            Face::Aria
        } else {
            Face::Native
        }
    }

    /// No route here: the face's own "not found".
    pub fn not_found(self) -> Response {
        match self {
            Face::Native => ApiError::NotFound.into_response(),
            Face::DigiCert => digicert::not_found_response(),
            other => other.error(CoreError::NotFound("method")),
        }
    }

    /// A request the HTTP layer refused (body too large, not JSON).
    pub fn rejected(self, e: ApiError) -> Response {
        match self {
            Face::Native => e.into_response(),
            Face::D3 => d3::rejected(),
            Face::AttackForge => attackforge::AfError::from(e).into_response(),
            Face::DigiCert => digicert::DcError::from(e).into_response(),
            Face::Aria => aria::AriaError::from(e).into_response(),
        }
    }

    pub fn error(self, e: CoreError) -> Response {
        match self {
            Face::Native => ApiError::Core(e).into_response(),
            Face::D3 => d3::error_response(e),
            Face::AttackForge => attackforge::error_response(e),
            Face::DigiCert => digicert::error_response(e),
            Face::Aria => aria::error_response(e),
        }
    }
}
