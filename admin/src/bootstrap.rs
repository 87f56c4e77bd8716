//! Creates an organization and its first key, which holds every scope (`keys:manage` among
//! them) so that its owner can mint narrower keys through the API. A key grants no more than
//! it holds, so the admin key's rate limit (`--rate-limit-per-minute`, default 120) is the most
//! any key of the organization gets.

use shared::api::api_keys::CreateApiKeyRequest;
use shared::auth::Scope;
use shared::clock::rfc3339;
use shared::runtime::Services;
use shared::store::organizations::Organization;

pub struct Bootstrapped {
    pub organization: Organization,
    pub key_id: String,
    /// The full key: print it once, it is stored only as a hash.
    pub token: String,
}

/// `rate_limit_per_minute`: the admin key's; `None` is the API's default.
pub async fn bootstrap(
    services: &Services,
    org_name: &str,
    rate_limit_per_minute: Option<u32>,
) -> Result<Bootstrapped, String> {
    let org_name = org_name.trim();
    if org_name.is_empty() {
        return Err("the organization needs a name".into());
    }
    let organization = Organization {
        org_id: shared::ids::new_org_id(),
        name: org_name.to_string(),
        plan: "free".to_string(),
        created_at: rfc3339(services.clock.now()),
        subscription_status: None,
        trial_ends_at: None,
        plan_rate_limit: None,
        trial_previous_plan: None,
        trial_previous_rate_limit: None,
    };
    let request = CreateApiKeyRequest {
        name: "Admin (bootstrap)".into(),
        scopes: Scope::ALL.to_vec(),
        rate_limit_per_minute,
    };
    let spec = request.spec().map_err(|e| e.message)?;
    let (key, record) = spec.issue(services, &organization.org_id);
    services
        .store
        .create_organization(&organization, &record, &key.secret_hash)
        .await
        .map_err(|e| format!("creating the organization: {e:?}"))?;
    Ok(Bootstrapped {
        organization,
        key_id: key.key_id,
        token: key.token,
    })
}
