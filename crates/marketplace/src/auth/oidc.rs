//! Sign-in through OpenID Connect providers (`openidconnect`): discovery, the authorization code
//! flow with PKCE, `state` and `nonce`, and ID token validation (issuer, audience, expiry and the
//! signature through the provider's JWKS, fetched again once when a key is unknown, so providers
//! can rotate keys).

use crate::config::OidcProviderSettings;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use secrecy::ExposeSecret;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// How long a provider's discovery document (and with it its keys) is trusted before it is
/// fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);

/// Why a sign-in through a provider did not produce an identity. The messages are for logs;
/// people are shown a plain explanation.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("no sign-in provider is called {0:?}")]
    UnknownProvider(String),
    #[error("the provider could not be reached or described itself wrongly: {0}")]
    Discovery(String),
    #[error("the provider refused the authorization code: {0}")]
    Exchange(String),
    #[error("the provider's ID token is not valid: {0}")]
    Verification(String),
}

/// A configured provider and its discovery document, once fetched.
struct Provider {
    settings: OidcProviderSettings,
    metadata: RwLock<Option<(CoreProviderMetadata, Instant)>>,
}

/// What the browser's session keeps between leaving for the provider and coming back.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PendingFlow {
    pub provider: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub provider: String,
    pub subject: String,
    pub email: Option<String>,
    /// Only an address the provider verified may find or create an account.
    pub email_verified: bool,
    pub name: Option<String>,
}

/// The configured providers, in their configured order.
pub struct OidcProviders {
    providers: BTreeMap<String, Provider>,
    http: reqwest::Client,
    /// The service's public address; callbacks are under it.
    public_url: String,
}

impl OidcProviders {
    pub fn new(
        settings: &BTreeMap<String, OidcProviderSettings>,
        public_url: &str,
    ) -> anyhow::Result<Arc<Self>> {
        // No redirects: the provider's endpoints answer directly (and a redirect to an inner
        // address must not be followed on its say-so).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Arc::new(Self {
            providers: settings
                .iter()
                .map(|(id, s)| {
                    let provider = Provider {
                        settings: s.clone(),
                        metadata: RwLock::new(None),
                    };
                    (id.clone(), provider)
                })
                .collect(),
            http,
            public_url: public_url.trim_end_matches('/').to_owned(),
        }))
    }

    /// (id, button label) of every provider, for the sign-in page.
    pub fn list(&self) -> Vec<(String, String)> {
        self.providers
            .iter()
            .map(|(id, p)| (id.clone(), p.settings.name.clone()))
            .collect()
    }

    pub fn name(&self, id: &str) -> Option<&str> {
        self.providers.get(id).map(|p| p.settings.name.as_str())
    }

    fn provider(&self, id: &str) -> Result<&Provider, OidcError> {
        self.providers
            .get(id)
            .ok_or_else(|| OidcError::UnknownProvider(id.to_owned()))
    }

    /// The provider's discovery document, from the cache unless it is stale or `refresh`.
    async fn metadata(&self, id: &str, refresh: bool) -> Result<CoreProviderMetadata, OidcError> {
        let provider = self.provider(id)?;
        if !refresh
            && let Some((m, at)) = provider.metadata.read().await.as_ref()
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m.clone());
        }
        let issuer = IssuerUrl::new(provider.settings.issuer.clone())
            .map_err(|e| OidcError::Discovery(e.to_string()))?;
        let fresh = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| OidcError::Discovery(error_chain(&e)))?;
        *provider.metadata.write().await = Some((fresh.clone(), Instant::now()));
        Ok(fresh)
    }

    fn redirect_url(&self, id: &str) -> Result<RedirectUrl, OidcError> {
        RedirectUrl::new(format!("{}/sign-in/oidc/{id}/callback", self.public_url))
            .map_err(|e| OidcError::Discovery(format!("public URL: {e}")))
    }

    fn client(
        &self,
        id: &str,
        metadata: CoreProviderMetadata,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        OidcError,
    > {
        let s = &self.provider(id)?.settings;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(s.client_id.clone()),
            Some(ClientSecret::new(
                s.client_secret.expose_secret().to_owned(),
            )),
        )
        .set_redirect_uri(self.redirect_url(id)?))
    }

    /// Where to send the browser, and what its session must keep until it comes back.
    pub async fn start(&self, id: &str) -> Result<(String, PendingFlow), OidcError> {
        let client = self.client(id, self.metadata(id, false).await?)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        Ok((
            url.to_string(),
            PendingFlow {
                provider: id.to_owned(),
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
            },
        ))
    }

    /// Exchanges the code (with the PKCE verifier) and validates the ID token the provider
    /// returns. The caller has already matched `state`.
    pub async fn finish(&self, flow: &PendingFlow, code: &str) -> Result<Identity, OidcError> {
        let id = flow.provider.as_str();
        let client = self.client(id, self.metadata(id, false).await?)?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Exchange(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| OidcError::Exchange(error_chain(&e)))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| OidcError::Verification("no ID token in the answer".into()))?;
        let nonce = Nonce::new(flow.nonce.clone());
        let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(c) => c.clone(),
            // A key we do not know yet: the provider may have rotated its keys since we read
            // them. Read them again, once, and check again.
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
                let fresh = self.client(id, self.metadata(id, true).await?)?;
                id_token
                    .claims(&fresh.id_token_verifier(), &nonce)
                    .map_err(|e| OidcError::Verification(e.to_string()))?
                    .clone()
            }
            Err(e) => return Err(OidcError::Verification(e.to_string())),
        };
        Ok(Identity {
            provider: id.to_owned(),
            subject: claims.subject().as_str().to_owned(),
            email: claims.email().map(|e| e.as_str().to_owned()),
            email_verified: claims.email_verified() == Some(true),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
        })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
