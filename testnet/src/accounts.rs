//! Accounts and trust material for certified mail on a testnet (DESIGN §3.3, §4).
//!
//! - Enrolment goes through a node's admin API, as an operator's `herald-node account add`
//!   does while the node runs: `POST /admin/accounts` answers with a one-time enrolment code,
//!   which the account's owner then uses to register its identity key ([`crate::party`]).
//!   Disabling (`POST /admin/accounts/disable`) makes the gateway log a revocation first.
//! - A domain's log as its peers witness it ([`Testnet::log_trust`]) and the location X built
//!   on it ([`Testnet::location`]) come from the testnet's own knowledge: the keys it generated
//!   at `init`, every other domain's witness key (the testnet registers every domain with every
//!   other), and the quorum it configured. That is what a careful user would write down after
//!   checking with each operator; the gateway's own `trust` answer ([`crate::party::Party::trust_list`])
//!   says the same and is what a user who trusts their gateway takes.

use herald_node::accounts::api::{AccountAdd, AccountAdded, AccountDisable, AccountList};
use herald_node::service::DisableReport;
use herald_proto::certmail::Location;
use herald_proto::checkpoint::WitnessPolicy;
use herald_proto::inclusion::LogTrust;

use crate::error::TestnetError;
use crate::node::TestnetNode;
use crate::testnet::Testnet;

impl TestnetNode {
    /// Enrols `account` (an address of this node's domain): the node stores it as pending and
    /// answers with a one-time enrolment code, valid for `valid_for_secs` (the node's default,
    /// 7 days, when `None`).
    pub async fn enrol(
        &self,
        account: &str,
        valid_for_secs: Option<u64>,
    ) -> Result<AccountAdded, TestnetError> {
        self.admin(
            "POST",
            "/admin/accounts",
            Some(&AccountAdd {
                account: account.to_owned(),
                valid_for_secs,
            }),
        )
        .await
    }

    /// Disables `account`. If it was active, the node first logs an `IdentityRevocation` of its
    /// key (the report names its index).
    pub async fn disable_account(&self, account: &str) -> Result<DisableReport, TestnetError> {
        self.admin(
            "POST",
            "/admin/accounts/disable",
            Some(&AccountDisable {
                account: account.to_owned(),
            }),
        )
        .await
    }

    /// The node's accounts, as its operator sees them.
    pub async fn accounts(&self) -> Result<AccountList, TestnetError> {
        self.admin("GET", "/admin/accounts", None::<&()>).await
    }
}

impl Testnet {
    /// Node `i`'s log as its peers witness it: its log key and hash, every other domain's
    /// witness key, and the quorum the node was configured with.
    pub fn log_trust(&self, i: usize) -> Result<LogTrust, TestnetError> {
        let node = self.checked(i)?;
        let witnesses = self
            .nodes()
            .iter()
            .filter(|w| w.domain() != node.domain())
            .map(|w| w.witness_key().clone())
            .collect();
        let policy = WitnessPolicy::new(node.log_key().clone(), witnesses, node.config().quorum)
            .map_err(|e| {
                TestnetError::Options(format!(
                    "{}: no witness policy for its log: {e}",
                    node.domain()
                ))
            })?;
        Ok(LogTrust::new(policy, node.hash()))
    }

    /// The location X of node `i`'s log ([`Testnet::log_trust`]) with clock skew δ and maximum
    /// merge delay MMD, in seconds.
    pub fn location(
        &self,
        i: usize,
        clock_skew: u64,
        max_merge_delay: u64,
    ) -> Result<Location, TestnetError> {
        let domain = self.checked(i)?.domain();
        Location::new(self.log_trust(i)?, clock_skew, max_merge_delay)
            .map_err(|e| TestnetError::Options(format!("location of {domain}: {e}")))
    }
}
