//! The registry of faces: every face roster speaks is one module here and
//! one line in [`registry!`] below — its routes are mounted, its paths
//! answered in its envelope (also by rate limits, panics and unknown
//! paths), and its requests counted under its name, from that line alone.
//!
//! Each face only translates between its clients' wire format and the
//! core: no SQL, no permission check and no validation rule of its own.

use crate::face::Face;

/// Declares each face's module and lists its value in [`FACES`], in the
/// order paths are matched.
macro_rules! registry {
    ($($module:ident => $face:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// Every face, in the order a request path is matched against them.
        pub static FACES: &[&dyn Face] = &[$(&$module::$face),*];
    };
}

registry! {
    d3 => D3,
    attackforge => AttackForge,
    digicert => DigiCert,
    aria => Aria,
    scim => Scim,
    console => Console,
    // Last: it owns every path no other face claims.
    native => Native,
}

/// The face a request path belongs to.
pub fn of(path: &str) -> &'static dyn Face {
    FACES
        .iter()
        .copied()
        .find(|f| f.owns(path))
        .unwrap_or(&native::Native)
}
