//! Accounts: email addresses, display names, password policy and roles.

use crate::ParseError;
use serde::{Deserialize, Serialize};

/// A normalised (trimmed, lower-cased) email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, format = Email)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let value = raw.trim().to_lowercase();
        let err = |m: &str| Err(ParseError::new("email", m));
        if value.is_empty() {
            return err("enter an email address");
        }
        if value.len() > Self::MAX_LEN {
            return err("is too long (254 characters at most)");
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return err("must not contain spaces");
        }
        let Some((local, domain)) = value.split_once('@') else {
            return err("must look like name@example.com");
        };
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return err("must look like name@example.com");
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name shown to other people: 1 to 60 printable characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 60;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(ParseError::new("display_name", "enter a name"));
        }
        if value.chars().count() > Self::MAX_CHARS {
            return Err(ParseError::new(
                "display_name",
                "is too long (60 characters at most)",
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(ParseError::new(
                "display_name",
                "must not contain control characters",
            ));
        }
        if value.chars().any(is_bidi_control) {
            return Err(ParseError::new(
                "display_name",
                "must not contain text-direction control characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters that reorder how text around them is displayed (the "Trojan Source" class): in a
/// name they make one person's name read as another's, or a file name as another's.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Why a new password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("must be at least {min} characters")]
    TooShort { min: usize },
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("is one of the most common passwords; choose another")]
    Common,
    #[error("must not contain your email address")]
    ContainsEmail,
    #[error("must not contain your name or the name in your email address")]
    ContainsName,
}

/// A password that passed the policy and may be hashed. Never printed.
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}

/// Common passwords long enough to pass the length rule (from public breach top lists).
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

impl NewPassword {
    /// NIST SP 800-63B recommends length over composition rules.
    pub const MIN_CHARS: usize = 12;
    /// Bounds the work argon2 does on attacker-chosen input.
    pub const MAX_CHARS: usize = 128;

    /// Parts of the email or name shorter than this are too common to forbid.
    const MIN_PERSONAL_PART: usize = 4;

    pub fn parse(
        raw: &str,
        email: &Email,
        name: Option<&DisplayName>,
    ) -> Result<Self, PasswordError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(PasswordError::TooShort {
                min: Self::MIN_CHARS,
            });
        }
        if chars > Self::MAX_CHARS {
            return Err(PasswordError::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        let lowered = raw.to_lowercase();
        if is_common(&lowered) {
            return Err(PasswordError::Common);
        }
        if lowered.contains(email.as_str()) {
            return Err(PasswordError::ContainsEmail);
        }
        // The first things an attacker tries: `sam.whitfield1`, `whitfield2024`.
        let local = email.as_str().split('@').next().unwrap_or_default();
        let name = name.map(|n| n.as_str().to_lowercase()).unwrap_or_default();
        let personal = std::iter::once(local.to_owned())
            .chain(local.split(['.', '_', '-', '+']).map(str::to_owned))
            .chain(std::iter::once(name.split_whitespace().collect::<String>()))
            .chain(name.split_whitespace().map(str::to_owned));
        for part in personal {
            if part.chars().count() >= Self::MIN_PERSONAL_PART && lowered.contains(&part) {
                return Err(PasswordError::ContainsName);
            }
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn is_common(lowered: &str) -> bool {
    let single_char_repeated = lowered.chars().all(|c| lowered.starts_with(c));
    single_char_repeated
        || COMMON_PASSWORDS
            .lines()
            .map(str::trim)
            .any(|line| !line.is_empty() && line == lowered)
}

/// What a user is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Client,
    Artist,
    StudioOwner,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Client, Role::Artist, Role::StudioOwner, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Artist => "artist",
            Role::StudioOwner => "studio_owner",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == raw)
            .ok_or_else(|| ParseError::new("role", format!("unknown role {raw:?}")))
    }
}

/// The roles anyone may pick when signing up; admins and studio owners are granted, not chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrableRole(Role);

impl RegistrableRole {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        match raw.trim() {
            "client" => Ok(Self(Role::Client)),
            "artist" => Ok(Self(Role::Artist)),
            other => Err(ParseError::new(
                "role",
                format!("must be \"client\" or \"artist\", not {other:?}"),
            )),
        }
    }

    pub fn role(self) -> Role {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn email() -> Email {
        Email::parse("ink@example.com").unwrap()
    }

    #[test]
    fn emails_are_normalised_to_lower_case_without_surrounding_space() {
        assert_eq!(
            Email::parse("  Ink@Example.COM ").unwrap().as_str(),
            "ink@example.com"
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "ink",
            "@example.com",
            "ink@",
            "ink@example",
            "a@b@c.com",
            "in k@example.com",
            "ink@.com",
            "ink@example..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn short_common_and_email_containing_passwords_are_refused() {
        assert_eq!(
            NewPassword::parse("short", &email(), None).unwrap_err(),
            PasswordError::TooShort { min: 12 }
        );
        assert_eq!(
            NewPassword::parse("Password1234", &email(), None).unwrap_err(),
            PasswordError::Common
        );
        assert_eq!(
            NewPassword::parse("aaaaaaaaaaaaaaa", &email(), None).unwrap_err(),
            PasswordError::Common
        );
        assert_eq!(
            NewPassword::parse("my ink@example.com pass", &email(), None).unwrap_err(),
            PasswordError::ContainsEmail
        );
        assert!(NewPassword::parse("koi carp sleeve 1998", &email(), None).is_ok());
    }

    #[test]
    fn passwords_made_of_the_email_name_or_the_persons_name_are_refused() {
        let sam = Email::parse("sam.whitfield@clients.example").unwrap();
        let name = DisplayName::parse("Rosa Delgado").unwrap();
        for guess in [
            "sam.whitfield1",
            "Whitfield2024!!",
            "rosadelgado1990",
            "xx delgado forever",
        ] {
            assert_eq!(
                NewPassword::parse(guess, &sam, Some(&name)).unwrap_err(),
                PasswordError::ContainsName,
                "{guess}"
            );
        }
        // Short common fragments ("sam", "ink") are not forbidden.
        assert!(NewPassword::parse("sample koi carp sleeve", &sam, Some(&name)).is_ok());
        assert!(NewPassword::parse("pinky koi carp 1998", &email(), None).is_ok());
    }

    #[test]
    fn names_may_not_reorder_the_text_around_them() {
        for spoof in [
            "Ali\u{202e}ecila",
            "x\u{2066}y",
            "\u{200f}Sam",
            "a\u{feff}b",
        ] {
            assert!(DisplayName::parse(spoof).is_err(), "{spoof:?}");
        }
        assert!(DisplayName::parse("Chloé Álvarez").is_ok());
        assert!(DisplayName::parse("محمد علي").is_ok());
    }

    #[test]
    fn passwords_never_show_in_debug_output() {
        let p = NewPassword::parse("koi carp sleeve 1998", &email(), None).unwrap();
        assert!(!format!("{p:?}").contains("koi"));
    }

    #[test]
    fn only_client_and_artist_can_be_chosen_at_sign_up() {
        assert_eq!(
            RegistrableRole::parse("artist").unwrap().role(),
            Role::Artist
        );
        assert!(RegistrableRole::parse("admin").is_err());
        assert!(RegistrableRole::parse("studio_owner").is_err());
        assert!(RegistrableRole::parse("wizard").is_err());
    }

    proptest! {
        #[test]
        fn email_parse_never_panics_and_accepted_values_reparse_identically(s in "\\PC{0,300}") {
            if let Ok(e) = Email::parse(&s) {
                prop_assert_eq!(Email::parse(e.as_str()).unwrap(), e.clone());
                prop_assert!(e.as_str().len() <= Email::MAX_LEN);
            }
        }

        #[test]
        fn display_names_are_bounded_and_trimmed(s in "\\PC{0,100}") {
            if let Ok(n) = DisplayName::parse(&s) {
                prop_assert!(n.as_str().chars().count() <= DisplayName::MAX_CHARS);
                prop_assert_eq!(n.as_str().trim(), n.as_str());
            }
        }

        #[test]
        fn accepted_passwords_respect_the_length_bounds(s in "\\PC{0,200}") {
            if let Ok(p) = NewPassword::parse(&s, &email(), None) {
                let n = p.expose().chars().count();
                prop_assert!((NewPassword::MIN_CHARS..=NewPassword::MAX_CHARS).contains(&n));
            }
        }

        #[test]
        fn role_round_trips_through_its_text(i in 0usize..4) {
            let role = Role::ALL[i];
            prop_assert_eq!(Role::parse(role.as_str()).unwrap(), role);
        }
    }
}
