//! Address and media-type patterns of a rule set, parsed once and matched without allocation.
//!
//! Address patterns (allow and deny lists):
//!
//! | pattern | matches |
//! |---|---|
//! | `alice@example.org` | that address |
//! | `*@example.org` | every address of `example.org` (not its subdomains) |
//! | `*@*.example.org` | every address of every subdomain of `example.org` (not `example.org`) |
//! | `alice@*.example.org` | `alice` at any subdomain |
//!
//! Domains compare without ASCII case (DNS); local parts compare without ASCII case too, as
//! every mail system Herald talks to treats them, so that `Alice@` cannot slip past a deny of
//! `alice@`. Media-type patterns are `type/subtype` or `type/*`, without case (RFC 6838).

use core::fmt;

use crate::wire::{MAX_ACCOUNT_BYTES, MAX_MEDIA_TYPE_BYTES};

/// Why a pattern of a rule set is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// An address pattern is not `local@domain` with the wildcards the table allows.
    #[error("address pattern {0:?} is not local@domain, *@domain or *@*.domain")]
    Address(String),
    /// A media-type pattern is not `type/subtype` or `type/*`.
    #[error("media type pattern {0:?} is not type/subtype or type/*")]
    MediaType(String),
}

/// One parsed address pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressPattern {
    /// `None`: any local part.
    local: Option<String>,
    /// The domain, or the parent domain when `subdomains` is set; lowercase.
    domain: String,
    /// Matches strict subdomains of `domain` only.
    subdomains: bool,
}

/// Characters allowed in a pattern's parts: what addresses Herald accepts use, and no wildcard
/// except where the grammar puts it.
fn plain_part(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.+=~!#$%&'/?^`{|}".contains(&b))
}

fn plain_domain(s: &str) -> bool {
    plain_part(s) && !s.starts_with('.') && !s.ends_with('.') && !s.contains("..")
}

impl AddressPattern {
    /// Parses `text` (see the module's table).
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let bad = || PatternError::Address(text.to_owned());
        if text.len() > MAX_ACCOUNT_BYTES {
            return Err(bad());
        }
        let (local, domain) = text.rsplit_once('@').ok_or_else(bad)?;
        let local = match local {
            "*" => None,
            l if plain_part(l) => Some(l.to_ascii_lowercase()),
            _ => return Err(bad()),
        };
        let (domain, subdomains) = match domain.strip_prefix("*.") {
            Some(parent) => (parent, true),
            None => (domain, false),
        };
        if !plain_domain(domain) {
            return Err(bad());
        }
        Ok(AddressPattern {
            local,
            domain: domain.to_ascii_lowercase(),
            subdomains,
        })
    }

    /// Whether `address` (`local@domain`) matches. An address without `@` matches nothing.
    pub fn matches(&self, address: &str) -> bool {
        let Some((local, domain)) = address.rsplit_once('@') else {
            return false;
        };
        if let Some(want) = &self.local
            && !want.eq_ignore_ascii_case(local)
        {
            return false;
        }
        if self.subdomains {
            // `x.parent`: longer than the parent by a dot and at least one character.
            let n = self.domain.len();
            domain.len() > n + 1
                && domain.as_bytes()[domain.len() - n - 1] == b'.'
                && domain[domain.len() - n..].eq_ignore_ascii_case(&self.domain)
        } else {
            domain.eq_ignore_ascii_case(&self.domain)
        }
    }
}

impl fmt::Display for AddressPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let local = self.local.as_deref().unwrap_or("*");
        let wildcard = if self.subdomains { "*." } else { "" };
        write!(f, "{local}@{wildcard}{}", self.domain)
    }
}

/// One parsed media-type pattern: `type/subtype` or `type/*`, lowercase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaTypePattern {
    top: String,
    /// `None`: any subtype.
    sub: Option<String>,
}

fn token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
}

impl MediaTypePattern {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let bad = || PatternError::MediaType(text.to_owned());
        if text.len() > MAX_MEDIA_TYPE_BYTES {
            return Err(bad());
        }
        let (top, sub) = text.split_once('/').ok_or_else(bad)?;
        if !token(top) {
            return Err(bad());
        }
        let sub = match sub {
            "*" => None,
            s if token(s) => Some(s.to_ascii_lowercase()),
            _ => return Err(bad()),
        };
        Ok(MediaTypePattern {
            top: top.to_ascii_lowercase(),
            sub,
        })
    }

    /// Whether `media_type` (`type/subtype`, parameters after `;` ignored) matches.
    pub fn matches(&self, media_type: &str) -> bool {
        let essence = media_type.split(';').next().unwrap_or_default().trim();
        let Some((top, sub)) = essence.split_once('/') else {
            return false;
        };
        top.eq_ignore_ascii_case(&self.top)
            && self
                .sub
                .as_deref()
                .is_none_or(|want| want.eq_ignore_ascii_case(sub))
    }
}

impl fmt::Display for MediaTypePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.top, self.sub.as_deref().unwrap_or("*"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_address_matches_without_case_and_nothing_else() {
        let p = AddressPattern::parse("Alice@Example.org").unwrap();
        assert!(p.matches("alice@example.org"));
        assert!(p.matches("ALICE@EXAMPLE.ORG"));
        assert!(!p.matches("bob@example.org"));
        assert!(!p.matches("alice@sub.example.org"));
        assert!(!p.matches("alice@example.org.evil"));
        assert!(!p.matches("no-at-sign"));
    }

    #[test]
    fn domain_wildcards_match_the_domain_or_its_subdomains() {
        let domain = AddressPattern::parse("*@example.org").unwrap();
        assert!(domain.matches("x@example.org"));
        assert!(!domain.matches("x@a.example.org"));
        let subs = AddressPattern::parse("*@*.example.org").unwrap();
        assert!(subs.matches("x@a.example.org"));
        assert!(subs.matches("x@b.a.EXAMPLE.org"));
        assert!(!subs.matches("x@example.org"));
        // A suffix that is not at a label boundary is another domain.
        assert!(!subs.matches("x@badexample.org"));
        assert_eq!(subs.to_string(), "*@*.example.org");
    }

    #[test]
    fn malformed_address_patterns_are_refused() {
        for bad in [
            "",
            "nodomain",
            "a@",
            "@x.org",
            "a@*",
            "a@*.",
            "a@x..org",
            "a b@x.org",
            "*a@x.org",
            "a@x*.org",
            "a@.x.org",
        ] {
            assert!(AddressPattern::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(AddressPattern::parse(&format!("a@{}.org", "x".repeat(400))).is_err());
    }

    #[test]
    fn media_type_patterns_match_essence_without_case() {
        let pdf = MediaTypePattern::parse("application/pdf").unwrap();
        assert!(pdf.matches("Application/PDF"));
        assert!(pdf.matches("application/pdf; name=x"));
        assert!(!pdf.matches("application/zip"));
        let images = MediaTypePattern::parse("image/*").unwrap();
        assert!(images.matches("image/png"));
        assert!(!images.matches("imagex/png"));
        assert!(!images.matches("image"));
        for bad in ["", "image", "*/*", "image/", "im age/png", "a/b/c"] {
            assert!(MediaTypePattern::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
