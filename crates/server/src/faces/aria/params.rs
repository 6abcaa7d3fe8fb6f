//! Reading Aria request bodies and repeatable query parameters.

use super::*;

pub(super) fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, AriaError> {
    parse_json(bytes).map_err(AriaError::from)
}

/// Every value of a repeatable query parameter.
pub(super) fn param_values<'a>(params: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    params
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

pub(super) fn links_wanted(params: &[(String, String)]) -> bool {
    !params
        .iter()
        .any(|(k, v)| k == "_no_links" && v.eq_ignore_ascii_case("true"))
}
