//! Wire-compatible faces of other products' user APIs. Each only translates
//! between its vendor's JSON and the core: no SQL, no permission check and
//! no validation rule of its own.

pub mod aria;
pub mod attackforge;
pub mod d3;
pub mod digicert;
