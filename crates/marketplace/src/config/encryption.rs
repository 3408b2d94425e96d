//! The `[encryption]` settings: which key wraps the data keys of special-category fields.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionSettings {
    /// The KMS key (id, ARN or alias) that wraps data keys; required in staging and production.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// A local AWS API for KMS (moto, LocalStack) in development and tests.
    #[serde(default)]
    pub kms_endpoint: Option<String>,
    /// Development without KMS: a file holding the key that wraps the data keys, made on first
    /// start. Refused in staging and production, where the key must not sit beside the data.
    pub local_key_file: String,
}

impl EncryptionSettings {
    /// What is unsafe or missing, each named; `strict` for staging and production.
    pub fn problems(&self, strict: bool) -> Vec<String> {
        let kms = self
            .kms_key_id
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty());
        let mut problems = Vec::new();
        if strict && kms.is_none() {
            problems.push(
                "encryption.kms_key_id (TM_ENCRYPTION_KMS_KEY_ID) is missing: health answers, \
                 dates of birth and skin photos are encrypted with data keys that KMS wraps; a \
                 local key file is for development only"
                    .to_owned(),
            );
        }
        if strict && self.kms_endpoint.is_some() {
            problems.push(
                "encryption.kms_endpoint (TM_ENCRYPTION_KMS_ENDPOINT) must not be set: it is for \
                 a local AWS API in development"
                    .to_owned(),
            );
        }
        if !strict && kms.is_none() && self.local_key_file.trim().is_empty() {
            problems
                .push("encryption: set kms_key_id, or local_key_file in development".to_owned());
        }
        problems
    }
}
