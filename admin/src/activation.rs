//! The operator's activation codes (`hookgate-admin activation-code create`), redeemed by
//! organizations with `POST /api/activate`.

use shared::api::activate::normalized_code;
use shared::clock::{normalized_rfc3339, rfc3339};
use shared::runtime::Services;
use shared::store::activation::ActivationCode;
use shared::store::organizations::PLANS;

/// A code as the operator typed it.
pub struct CodeSpec {
    pub code: String,
    pub plan: String,
    pub trial_days: String,
    pub max_redemptions: Option<String>,
    pub expires: Option<String>,
}

/// Checks and stores a new code; an existing code is an error, never replaced.
pub async fn create_code(services: &Services, spec: &CodeSpec) -> Result<ActivationCode, String> {
    let code = normalized_code(&spec.code).ok_or("--code is 3 to 64 letters, digits, - or _")?;
    if !PLANS.contains(&spec.plan.as_str()) {
        return Err(format!("--plan is one of {}", PLANS.join(", ")));
    }
    let trial_days: u32 = spec
        .trial_days
        .parse()
        .ok()
        .filter(|days| (1..=365).contains(days))
        .ok_or("--trial-days is 1 to 365")?;
    let max_redemptions = spec
        .max_redemptions
        .as_deref()
        .map(|n| {
            n.parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or("--max-redemptions is a positive number")
        })
        .transpose()?;
    let expires_at = spec
        .expires
        .as_deref()
        .map(|at| normalized_rfc3339(at).ok_or("--expires is an RFC 3339 timestamp"))
        .transpose()?;
    let code = ActivationCode {
        code,
        plan: spec.plan.clone(),
        trial_days,
        max_redemptions,
        redemptions: 0,
        expires_at,
        created_at: rfc3339(services.clock.now()),
    };
    match services.store.create_activation_code(&code).await {
        Ok(true) => Ok(code),
        Ok(false) => Err(format!("activation code {} exists", code.code)),
        Err(e) => Err(format!("storing the code: {e:?}")),
    }
}
