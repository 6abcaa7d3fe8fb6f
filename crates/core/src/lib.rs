//! roster's core: the model, every validation and authorization rule, and the
//! services that faces call. Nothing here knows about HTTP or SQL; storage is
//! reached through the [`store::Store`] trait.

pub mod access;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod common_passwords;
pub mod error;
pub mod link;
pub mod lockout;
pub mod mail;
pub mod mfa;
pub mod password;
pub mod secret;
pub mod service;
pub mod store;
pub mod transfer;
pub mod user;
pub mod user_filter;
pub mod validation;
pub mod webhook;

pub use error::{CoreError, FieldError};
pub use secret::Secret;
pub use service::{Roster, RosterConfig};
