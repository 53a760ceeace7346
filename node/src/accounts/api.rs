//! The bodies and answers of the admin API's account calls (JSON), shared by the node
//! ([`crate::admin`]) and `herald-node account`:
//!
//! | call | body | answer |
//! |---|---|---|
//! | `GET /admin/accounts` | | [`AccountList`] |
//! | `POST /admin/accounts` | [`AccountAdd`] | [`AccountAdded`] (the code, shown once) |
//! | `POST /admin/accounts/disable` | [`AccountDisable`] | [`crate::service::DisableReport`] |
//!
//! Addresses travel in bodies, never in paths, so no escaping is needed.

use serde::{Deserialize, Serialize};

use super::AccountView;

/// Most accounts one `GET /admin/accounts` (or `herald-node account list`) shows.
pub const MAX_ACCOUNTS_LISTED: usize = 10_000;

/// The body of `POST /admin/accounts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountAdd {
    /// The address, e.g. `bob@beta.test` (this node's domain, lower case).
    pub account: String,
    /// How long the code is valid, seconds (default 7 days, at most 90).
    #[serde(default)]
    pub valid_for_secs: Option<u64>,
}

/// `POST /admin/accounts`: the account is pending with a new one-time code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountAdded {
    /// The account as stored.
    pub account: AccountView,
    /// The enrolment code. Shown this once; the node keeps only its hash.
    pub enrolment_code: String,
}

/// The body of `POST /admin/accounts/disable`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountDisable {
    /// The address.
    pub account: String,
}

/// `GET /admin/accounts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountList {
    /// Accounts by address (at most [`MAX_ACCOUNTS_LISTED`]).
    pub accounts: Vec<AccountView>,
}
