//! What a store holds.

use crate::token_set::TokenSet;

/// A stored token set and its version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stored {
    /// Counts the saves: 0 while nothing was ever stored, one more with each save. A process
    /// whose set came from an older version knows another one has replaced it.
    pub version: u64,
    /// The set; `None` when nothing was stored or a logout erased it.
    pub tokens: Option<TokenSet>,
}
