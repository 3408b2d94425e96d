//! The audit log's vocabulary: the bounded set of security-relevant actions it records.

/// One kind of audited event. A closed set, so entries can be filtered and counted and no
/// free text (which could carry personal data) becomes an action name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    SignInSucceeded,
    SignInFailed,
    SignedOutEverywhere,
    AccountRegistered,
    EmailVerified,
    PasswordReset,
    PasswordChanged,
    TwoFactorEnabled,
    TwoFactorDisabled,
    RecoveryCodeUsed,
    IdentityLinked,
    RoleChanged,
    /// An address change asked for (with the password) or confirmed from the new address.
    EmailChanged,
    ConsentSigned,
    /// The terms or privacy policy accepted (at sign-up, or again after a new version).
    LegalAccepted,
    /// "Do not sell or share" turned on or off, by hand or by Global Privacy Control.
    PrivacyChoiceChanged,
    /// The data keys of field encryption were re-wrapped (`marketplace keys rotate`).
    KeysRotated,
    /// A copy of the account's data asked for (with its legal deadline) and delivered.
    DataExportRequested,
    DataExportCompleted,
    /// Erasure of the account asked for (with its grace period and deadline), called off in
    /// the grace period, or carried out.
    ErasureRequested,
    ErasureCancelled,
    ErasureCompleted,
    /// The retention sweep removed what its periods had passed for.
    RetentionSwept,
    /// An admin opened the audit log, which names other people's accounts.
    AuditLogViewed,
}

impl AuditAction {
    pub const ALL: [AuditAction; 24] = [
        AuditAction::SignInSucceeded,
        AuditAction::SignInFailed,
        AuditAction::SignedOutEverywhere,
        AuditAction::AccountRegistered,
        AuditAction::EmailVerified,
        AuditAction::PasswordReset,
        AuditAction::PasswordChanged,
        AuditAction::TwoFactorEnabled,
        AuditAction::TwoFactorDisabled,
        AuditAction::RecoveryCodeUsed,
        AuditAction::IdentityLinked,
        AuditAction::RoleChanged,
        AuditAction::EmailChanged,
        AuditAction::ConsentSigned,
        AuditAction::LegalAccepted,
        AuditAction::PrivacyChoiceChanged,
        AuditAction::KeysRotated,
        AuditAction::DataExportRequested,
        AuditAction::DataExportCompleted,
        AuditAction::ErasureRequested,
        AuditAction::ErasureCancelled,
        AuditAction::ErasureCompleted,
        AuditAction::RetentionSwept,
        AuditAction::AuditLogViewed,
    ];

    /// The stable name stored in the log; renaming one breaks the hash chain of older entries.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::SignInSucceeded => "sign_in.succeeded",
            AuditAction::SignInFailed => "sign_in.failed",
            AuditAction::SignedOutEverywhere => "sign_out.everywhere",
            AuditAction::AccountRegistered => "account.registered",
            AuditAction::EmailVerified => "account.email_verified",
            AuditAction::PasswordReset => "password.reset",
            AuditAction::PasswordChanged => "password.changed",
            AuditAction::TwoFactorEnabled => "mfa.enabled",
            AuditAction::TwoFactorDisabled => "mfa.disabled",
            AuditAction::RecoveryCodeUsed => "mfa.recovery_code_used",
            AuditAction::IdentityLinked => "identity.linked",
            AuditAction::RoleChanged => "account.role_changed",
            AuditAction::EmailChanged => "account.email_changed",
            AuditAction::ConsentSigned => "consent.signed",
            AuditAction::LegalAccepted => "legal.accepted",
            AuditAction::PrivacyChoiceChanged => "privacy.choice_changed",
            AuditAction::KeysRotated => "keys.rotated",
            AuditAction::DataExportRequested => "data_export.requested",
            AuditAction::DataExportCompleted => "data_export.completed",
            AuditAction::ErasureRequested => "erasure.requested",
            AuditAction::ErasureCancelled => "erasure.cancelled",
            AuditAction::ErasureCompleted => "erasure.completed",
            AuditAction::RetentionSwept => "retention.swept",
            AuditAction::AuditLogViewed => "admin.audit_viewed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_a_distinct_name_that_parses_back() {
        let mut names: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), AuditAction::ALL.len());
        assert_eq!(AuditAction::parse("sign_in"), None);
    }
}
