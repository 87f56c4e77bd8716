//! The website widget: an organization's settings, visitors' sessions, and the messages a
//! session sent lately (to collapse double submissions).
//!
//! | item             | PK                                        | SK                  |
//! |------------------|-------------------------------------------|---------------------|
//! | widget settings  | `ORG#<org>#WIDGET`                        | `SETTINGS`          |
//! | session          | `ORG#<org>#WIDGETSESSION#<sha256(secret)>`| `SESSION` (`TTL`)   |
//! | recent message   | `ORG#<org>#WIDGETSESSION#<sha256(secret)>`| `MSG#<sha256(text)>` (`TTL`) |
//!
//! The public key (`hg_pub_<org>_...`) and the session token (`ws_<org>_<secret>`) both lead
//! with the organization, like every key; only the session secret's hash is stored, and events
//! name the session by the start of it ([`session_id`]).
//! - A session's ticket: claimed with a conditional write (when the session has none, or still
//!   the one it replaces), so two first messages at once open one ticket; the claim's time says
//!   whether an opening that never finished is still under way.
//! - A message: one conditional put of its recent-message item (absent, or older than the
//!   window) claims it; a second identical message within the window finds the claim and
//!   answers the same ids, also when both arrive at once. A message that could not be stored
//!   releases its claim.

use serde::{Deserialize, Serialize};

use super::csat::secret_hash;
use super::{Item, PK, SK, Store, StoreError, TTL, entity_item, get_s, n, org_prefix, s};

/// One field of the pre-chat form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormField {
    #[schema(min_length = 1, max_length = 64, pattern = r"\S")]
    pub name: String,
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub label: String,
    /// `text`, `email`, `tel`, `textarea` or `select`.
    #[schema(pattern = "^(text|email|tel|textarea|select)$")]
    pub r#type: String,
    #[serde(default)]
    pub required: bool,
}

/// How the widget looks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Theme {
    /// `#rrggbb`.
    #[schema(pattern = "^#[0-9A-Fa-f]{6}$")]
    pub primary_color: String,
    #[schema(min_length = 1, max_length = 100)]
    pub header_text: String,
    /// `bottom-right` or `bottom-left`.
    #[schema(pattern = "^bottom-(right|left)$")]
    pub position: String,
}

impl Default for Theme {
    fn default() -> Self {
        Self {
            primary_color: "#007bff".into(),
            header_text: "How can we help?".into(),
            position: "bottom-right".into(),
        }
    }
}

/// An organization's widget settings, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WidgetSettings {
    pub public_key: String,
    pub theme: Theme,
    pub pre_chat_form: Vec<FormField>,
    pub allow_file_uploads: bool,
    /// Origins' hosts the widget may be used from: `shop.example.com`, `*.example.com`; empty:
    /// any (until the merchant names some).
    pub allowed_domains: Vec<String>,
    /// The identity secret, sealed; set: `init` requires `identifierHash`.
    pub identity_secret_sealed: Option<String>,
    pub greeting: Option<String>,
    pub updated_at: String,
}

/// A visitor's session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WidgetSession {
    pub visitor_id: Option<String>,
    /// From the pre-chat form, when the page sent it.
    pub name: Option<String>,
    pub email: Option<String>,
    pub ticket_id: Option<String>,
    /// When (epoch seconds) `ticket_id` was claimed; sessions claimed before it was kept have none.
    #[serde(default)]
    pub ticket_claimed_epoch: Option<i64>,
    pub page_url: Option<String>,
    pub country: Option<String>,
    pub created_at: String,
    /// Epoch seconds; the table's TTL removes it after.
    pub expires_epoch: i64,
}

/// A message claimed within the duplicate window, and the ids it got.
#[derive(Debug, Clone, PartialEq)]
pub struct RecentMessage {
    pub entry_id: String,
    pub ticket_id: String,
}

impl WidgetSettings {
    /// New settings with a new public key and the default look.
    pub fn new(org_id: &str, now: &str) -> Self {
        Self {
            public_key: format!("hg_pub_{org_id}_{}", crate::ids::random_base32(24)),
            theme: Theme::default(),
            pre_chat_form: vec![
                FormField {
                    name: "name".into(),
                    label: "Name".into(),
                    r#type: "text".into(),
                    required: true,
                },
                FormField {
                    name: "email".into(),
                    label: "Email".into(),
                    r#type: "email".into(),
                    required: true,
                },
            ],
            allow_file_uploads: false,
            allowed_domains: Vec::new(),
            identity_secret_sealed: None,
            greeting: None,
            updated_at: now.to_string(),
        }
    }

    /// Whether a page of `origin` (`https://shop.example.com`) may use the widget: any while no
    /// domain is named; else its host is named exactly, or under a `*.` domain (not the bare
    /// domain itself), and the page came over https. A page over http could have been changed
    /// on its way, so only a local one (`localhost`, `*.localhost`, `127.0.0.1`) is allowed so.
    pub fn allows_origin(&self, origin: &str) -> bool {
        if self.allowed_domains.is_empty() {
            return true;
        }
        let Some((scheme, rest)) = origin.split_once("://") else {
            return false;
        };
        let host = rest.split(['/', ':']).next().unwrap_or_default().to_lowercase();
        let local = host == "localhost" || host.ends_with(".localhost") || host == "127.0.0.1";
        let secure = scheme.eq_ignore_ascii_case("https") || (local && scheme.eq_ignore_ascii_case("http"));
        secure
            && self
                .allowed_domains
                .iter()
                .any(|domain| match domain.strip_prefix("*.") {
                    Some(parent) => host
                        .strip_suffix(parent)
                        .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1),
                    None => host == *domain,
                })
    }
}

/// A session's id in events (`ses_...`): the start of the hash the session is stored under, so
/// it names the session for its whole life without being its token.
pub fn session_id(secret: &str) -> String {
    format!("ses_{}", &secret_hash(secret)[..32])
}

fn message_sk(text: &str) -> String {
    format!("MSG#{}", secret_hash(text))
}

fn settings_pk(org_id: &str) -> String {
    format!("{}#WIDGET", org_prefix(org_id))
}

fn session_pk(org_id: &str, secret: &str) -> String {
    format!("{}#WIDGETSESSION#{}", org_prefix(org_id), secret_hash(secret))
}

impl Store {
    pub async fn get_widget_settings(&self, org_id: &str) -> Result<Option<WidgetSettings>, StoreError> {
        self.get_item(settings_pk(org_id), "SETTINGS")
            .await?
            .map(|item| {
                serde_dynamo::from_item(item)
                    .map_err(|e| StoreError::Unavailable(format!("unreadable widget settings: {e}")))
            })
            .transpose()
    }

    /// Stores first settings unless there are some; answers what is stored.
    pub async fn first_widget_settings(
        &self,
        org_id: &str,
        settings: &WidgetSettings,
    ) -> Result<WidgetSettings, StoreError> {
        let mut item = entity_item(settings)?;
        item.insert(PK.into(), s(settings_pk(org_id)));
        item.insert(SK.into(), s("SETTINGS"));
        let result = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression(super::NOT_STORED)
            .send()
            .await;
        if super::unless_condition_failed(result)?.is_some() {
            return Ok(settings.clone());
        }
        self.get_widget_settings(org_id)
            .await?
            .ok_or_else(|| StoreError::Unavailable("widget settings vanished".into()))
    }

    pub async fn put_widget_settings(&self, org_id: &str, settings: &WidgetSettings) -> Result<(), StoreError> {
        let mut item = entity_item(settings)?;
        item.insert(PK.into(), s(settings_pk(org_id)));
        item.insert(SK.into(), s("SETTINGS"));
        self.put_item(item).await
    }

    pub async fn create_widget_session(
        &self,
        org_id: &str,
        secret: &str,
        session: &WidgetSession,
    ) -> Result<(), StoreError> {
        let mut item = entity_item(session)?;
        item.insert(PK.into(), s(session_pk(org_id, secret)));
        item.insert(SK.into(), s("SESSION"));
        item.insert(TTL.into(), n(session.expires_epoch));
        self.put_new_item(item).await
    }

    pub async fn get_widget_session(&self, org_id: &str, secret: &str) -> Result<Option<WidgetSession>, StoreError> {
        self.get_item_consistent(session_pk(org_id, secret), "SESSION")
            .await?
            .map(|item| {
                serde_dynamo::from_item(item)
                    .map_err(|e| StoreError::Unavailable(format!("unreadable widget session: {e}")))
            })
            .transpose()
    }

    /// Points the session to `ticket_id`, claimed at `now_epoch`: only if it points nowhere
    /// (`replacing` `None`) or still to `replacing`. `false` when another message claimed it first.
    pub async fn claim_session_ticket(
        &self,
        org_id: &str,
        secret: &str,
        ticket_id: &str,
        replacing: Option<&str>,
        now_epoch: i64,
    ) -> Result<bool, StoreError> {
        let update = self
            .update_item(session_pk(org_id, secret), "SESSION")
            .update_expression("SET ticket_id = :ticket, ticket_claimed_epoch = :now")
            .expression_attribute_values(":ticket", s(ticket_id))
            .expression_attribute_values(":now", n(now_epoch));
        let update = match replacing {
            None => update.condition_expression("attribute_exists(PK) AND attribute_not_exists(ticket_id)"),
            Some(old) => update
                .condition_expression("attribute_exists(PK) AND ticket_id = :old")
                .expression_attribute_values(":old", s(old)),
        };
        Ok(super::unless_condition_failed(update.send().await)?.is_some())
    }

    /// Releases the claim of a message that was not stored (unless another claimed it since), so
    /// that sending it again stores it.
    pub async fn release_widget_message(
        &self,
        org_id: &str,
        secret: &str,
        text: &str,
        entry_id: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .delete_item(session_pk(org_id, secret), &message_sk(text))
            .condition_expression("entry_id = :entry")
            .expression_attribute_values(":entry", s(entry_id))
            .send()
            .await;
        super::unless_condition_failed(result)?;
        Ok(())
    }

    /// Claims a message of the session for `window_seconds`: `None` when this call claimed it
    /// (store it under `claim`'s ids), else the ids of the same message claimed within the window.
    pub async fn claim_widget_message(
        &self,
        org_id: &str,
        secret: &str,
        text: &str,
        claim: &RecentMessage,
        now_epoch: i64,
        window_seconds: i64,
    ) -> Result<Option<RecentMessage>, StoreError> {
        let pk = session_pk(org_id, secret);
        let sk = message_sk(text);
        let item = Item::from([
            (PK.to_string(), s(&pk)),
            (SK.to_string(), s(&sk)),
            ("entry_id".to_string(), s(&claim.entry_id)),
            ("ticket_id".to_string(), s(&claim.ticket_id)),
            ("claimed_epoch".to_string(), n(now_epoch)),
            (TTL.to_string(), n(now_epoch + window_seconds + 60)),
        ]);
        let result = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR claimed_epoch < :cutoff")
            .expression_attribute_values(":cutoff", n(now_epoch - window_seconds))
            .send()
            .await;
        if super::unless_condition_failed(result)?.is_some() {
            return Ok(None);
        }
        let earlier = self.get_item_consistent(pk, &sk).await?;
        Ok(earlier.and_then(|item| {
            Some(RecentMessage {
                entry_id: get_s(&item, "entry_id")?.to_string(),
                ticket_id: get_s(&item, "ticket_id")?.to_string(),
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_allowed_by_exact_host_or_under_a_wildcard_domain() {
        let mut settings = WidgetSettings::new("org", "now");
        assert!(
            settings.allows_origin("https://anything.example"),
            "no domains named: any"
        );
        settings.allowed_domains = vec!["shop.example.com".into(), "*.example.org".into()];
        assert!(settings.allows_origin("https://shop.example.com"));
        assert!(settings.allows_origin("https://SHOP.example.com:8443"));
        assert!(settings.allows_origin("https://eu.example.org"));
        assert!(settings.allows_origin("https://a.b.example.org"));
        assert!(
            !settings.allows_origin("https://example.org"),
            "the wildcard is for subdomains"
        );
        assert!(!settings.allows_origin("https://evilexample.org"));
        assert!(!settings.allows_origin("https://shop.example.com.evil.test"));
        assert!(!settings.allows_origin("https://other.example.com"));
        assert!(
            !settings.allows_origin("http://shop.example.com"),
            "a named host's pages come over https"
        );
        assert!(!settings.allows_origin("shop.example.com"), "an origin has a scheme");
        assert!(!settings.allows_origin("null"));
        settings.allowed_domains = vec!["localhost".into(), "127.0.0.1".into(), "*.localhost".into()];
        assert!(
            settings.allows_origin("http://localhost:3000"),
            "a local page over http"
        );
        assert!(settings.allows_origin("http://127.0.0.1:8080"));
        assert!(settings.allows_origin("http://shop.localhost"));
        assert!(settings.allows_origin("https://localhost"));
        assert!(!settings.allows_origin("ftp://localhost"));
    }
}
