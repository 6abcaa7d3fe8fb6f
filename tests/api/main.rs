//! Integration tests: the real server on a random port over a temp SQLite
//! file, spoken to over HTTP.

mod helpers;

mod access;
mod aria;
mod attackforge;
mod auth;
mod binary;
mod concurrency;
mod console;
mod d3;
mod digicert;
mod docs;
mod errors;
mod escalation;
mod faces;
mod lists;
mod mail;
mod mfa;
mod nodes;
mod openapi;
mod operator;
mod reliability;
mod scim;
mod scim_faces;
mod transfer;
mod users;
mod webhooks;
