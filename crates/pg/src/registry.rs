//! The connector registry: which connector answers a channel, by its PG provider and mode.
//!
//! The binary fills it at startup; services only ever ask it. A test-mode channel is answered
//! by the sandbox PG whatever its provider; a live channel by the connector registered for its
//! provider, or refused with a clear message when this build has none.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::Connector;

/// Providers with no keyed card API (card number, expiry, birth date, password sent server to
/// server): billing keys are issued only in their window, and keyed one-time charges are not
/// possible. KICC publishes none (pg-protocols.md §2.10, and i'mport's own PG table).
pub const WINDOW_ONLY_PROVIDERS: &[&str] = &["kicc"];

/// Whether `provider` has a keyed card API. A channel of a provider without one refuses REST
/// key issues and keyed charges in test mode as well as live, so that what a merchant builds
/// on the sandbox also works live.
pub fn has_keyed_api(provider: &str) -> bool {
    !WINDOW_ONLY_PROVIDERS.contains(&provider)
}

/// The provider a name means: `inicis` is the older name of the KG Inicis window
/// (`html5_inicis`), and a channel of either kind serves both.
pub fn canonical_provider(provider: &str) -> &str {
    match provider {
        "inicis" => "html5_inicis",
        other => other,
    }
}

/// Whether `provider`'s window requires the buyer's phone number (`buyer_tel`): KG Inicis's
/// does (seed 003: 필수). The sandbox plays the provider's window, so the rule holds in test
/// mode as well as live.
pub fn window_requires_buyer_tel(provider: &str) -> bool {
    canonical_provider(provider) == "html5_inicis"
}

/// Whether `provider`'s billing-key window answers `request_pay`'s callback on mobile too,
/// instead of redirecting to `m_redirect_url`: KG Inicis's does (seed 000).
pub fn key_window_calls_back_on_mobile(provider: &str) -> bool {
    canonical_provider(provider) == "html5_inicis"
}

/// Every connector this process can use.
#[derive(Clone)]
pub struct Connectors {
    sandbox: Arc<dyn Connector>,
    /// Live connectors by provider name (`html5_inicis`, `kicc`, ...).
    live: BTreeMap<String, Arc<dyn Connector>>,
    /// Other provider names served by a registered one (`inicis` → `html5_inicis`).
    aliases: BTreeMap<String, String>,
}

impl std::fmt::Debug for Connectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connectors")
            .field("live", &self.live.keys().collect::<Vec<_>>())
            .field("aliases", &self.aliases)
            .finish_non_exhaustive()
    }
}

/// The mode a connector is chosen for: the sandbox PG, or the PG itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    Sandbox,
    Live,
}

impl Mode {
    /// The mode of a channel's `test_mode` flag.
    pub fn of_test_mode(test_mode: bool) -> Mode {
        if test_mode {
            Mode::Sandbox
        } else {
            Mode::Live
        }
    }

    /// The stored name (`sandbox`, `live`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Sandbox => "sandbox",
            Mode::Live => "live",
        }
    }
}

impl Connectors {
    /// A registry with only the sandbox PG (every live channel refused).
    pub fn new(sandbox: Arc<dyn Connector>) -> Connectors {
        Connectors { sandbox, live: BTreeMap::new(), aliases: BTreeMap::new() }
    }

    /// Registers the live connector of `provider`, also answering for each of `aliases`.
    pub fn with_live(
        mut self,
        provider: &str,
        aliases: &[&str],
        connector: Arc<dyn Connector>,
    ) -> Connectors {
        for alias in aliases {
            self.aliases.insert((*alias).to_owned(), provider.to_owned());
        }
        self.live.insert(provider.to_owned(), connector);
        self
    }

    /// The provider name a channel's provider is registered under (`inicis` → `html5_inicis`).
    pub fn canonical<'a>(&'a self, provider: &'a str) -> &'a str {
        self.aliases.get(provider).map(String::as_str).unwrap_or(provider)
    }

    /// The connector for `provider` in `mode`; `None` when no live connector is registered
    /// for the provider.
    pub fn get(&self, provider: &str, mode: Mode) -> Option<Arc<dyn Connector>> {
        match mode {
            Mode::Sandbox => Some(self.sandbox.clone()),
            Mode::Live => self.live.get(self.canonical(provider)).cloned(),
        }
    }

    /// The providers with a live connector, for messages and `channel` commands.
    pub fn live_providers(&self) -> Vec<&str> {
        self.live
            .keys()
            .map(String::as_str)
            .chain(self.aliases.keys().map(String::as_str))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kg_inicis_window_rules_hold_under_both_names() {
        for provider in ["html5_inicis", "inicis"] {
            assert_eq!(canonical_provider(provider), "html5_inicis");
            assert!(window_requires_buyer_tel(provider), "{provider}");
            assert!(key_window_calls_back_on_mobile(provider), "{provider}");
        }
        assert_eq!(canonical_provider("kicc"), "kicc");
        assert!(!window_requires_buyer_tel("kicc"));
        assert!(!key_window_calls_back_on_mobile("kicc"));
    }
}
