//! Activation codes against the emulator: the operator creates them with the admin tooling,
//! organizations redeem them through the `activate` handler, under concurrency too, and a trial
//! ends by itself, driven by an injected clock.

use std::sync::Arc;

use harness::{Org, fixture, new_key, new_org, read, services, services_with_clock};
use serde_json::{Value, json};
use shared::clock::{FixedClock, rfc3339};
use shared::runtime::Services;
use shared::store::organizations::PlanChange;
use time::{Duration, OffsetDateTime};

/// A fresh code (codes are global), created as the operator does.
async fn code(services: &Services, plan: &str, max: Option<u32>, expires: Option<&str>) -> String {
    let name = format!("TEST-{}", shared::ids::new_ulid());
    let spec = admin::activation::CodeSpec {
        code: name.to_lowercase(),
        plan: plan.into(),
        trial_days: "14".into(),
        max_redemptions: max.map(|n| n.to_string()),
        expires: expires.map(str::to_string),
    };
    admin::activation::create_code(services, &spec)
        .await
        .expect("code created");
    name
}

async fn redeem(services: &Services, key: &str, code: &str) -> (u16, Value) {
    let request = fixture("activate-redeem.json")
        .key(key)
        .body(json!({ "code": code }).to_string())
        .build();
    read(shared::api::activate::handle(services, request).await)
}

#[tokio::test]
async fn a_code_puts_the_organization_on_its_plan_once_and_refuses_what_it_should() {
    let services = services().await;
    let org = new_org(&services).await;
    let name = code(&services, "starter", None, None).await;

    let (status, body) = redeem(&services, &org.admin_key, &name.to_lowercase()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["success"].as_bool(),
            body["plan"].as_str(),
            body["trialDays"].as_u64()
        ),
        (Some(true), Some("starter"), Some(14))
    );
    assert_eq!(body["message"], "Aktiviert! Ihr 14-Tage Testzeitraum läuft.");
    let stored = services.store.get_organization(&org.org_id).await.unwrap().unwrap();
    assert_eq!(stored.plan, "starter");
    assert_eq!(stored.trial_ends_at.as_deref(), body["trialEnds"].as_str());
    assert_eq!(stored.trial_previous_plan.as_deref(), Some("free"));

    let (status, again) = redeem(&services, &org.admin_key, &name).await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (409, Some("CONFLICT")),
        "{again}"
    );

    let other = new_org(&services).await;
    let (status, unknown) = redeem(&services, &other.admin_key, "NO-SUCH-CODE").await;
    assert_eq!((status, unknown["error"]["code"].as_str()), (404, Some("NOT_FOUND")));
    let expired = code(&services, "growth", None, Some("2020-01-01T00:00:00Z")).await;
    let (status, gone) = redeem(&services, &other.admin_key, &expired).await;
    assert_eq!((status, gone["error"]["code"].as_str()), (410, Some("GONE")), "{gone}");
    let (status, bad) = redeem(&services, &other.admin_key, "a b").await;
    assert_eq!((status, bad["error"]["code"].as_str()), (422, Some("INVALID_INPUT")));
    let agent = new_key(&services, &other, &["tickets:write"], 100).await;
    let (status, refused) = redeem(&services, &agent, &name).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (403, Some("INSUFFICIENT_SCOPE"))
    );
    assert_eq!(
        services
            .store
            .get_activation_code(&name)
            .await
            .unwrap()
            .unwrap()
            .redemptions,
        1,
        "refusals redeem nothing"
    );

    // The operator's tooling refuses what it cannot store.
    let spec = |plan: &str, days: &str| admin::activation::CodeSpec {
        code: name.clone(),
        plan: plan.into(),
        trial_days: days.into(),
        max_redemptions: None,
        expires: None,
    };
    assert!(
        admin::activation::create_code(&services, &spec("starter", "14"))
            .await
            .is_err(),
        "exists"
    );
    assert!(
        admin::activation::create_code(&services, &spec("platinum", "14"))
            .await
            .is_err()
    );
    assert!(
        admin::activation::create_code(&services, &spec("starter", "0"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn concurrent_redemptions_never_pass_the_limit_nor_redeem_twice_for_one_organization() {
    let services = services().await;
    let limited = code(&services, "professional", Some(3), None).await;
    let mut orgs: Vec<Org> = Vec::new();
    for _ in 0..8 {
        orgs.push(new_org(&services).await);
    }
    let answers =
        futures_util::future::join_all(orgs.iter().map(|org| redeem(&services, &org.admin_key, &limited))).await;
    let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 3, "{answers:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 5, "{answers:?}");
    let stored = services.store.get_activation_code(&limited).await.unwrap().unwrap();
    assert_eq!(stored.redemptions, 3);

    let open = code(&services, "starter", None, None).await;
    let org = new_org(&services).await;
    let answers = futures_util::future::join_all((0..5).map(|_| redeem(&services, &org.admin_key, &open))).await;
    let redeemed = answers.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(redeemed, 1, "{answers:?}");
    assert!(
        answers.iter().all(|(status, _)| [200, 409].contains(status)),
        "{answers:?}"
    );
    let stored = services.store.get_activation_code(&open).await.unwrap().unwrap();
    assert_eq!(stored.redemptions, 1);
}

/// Requests the organization's keys may make in one minute at `at`, up to `tries`.
async fn admitted(at: OffsetDateTime, key: &str, tries: usize) -> usize {
    let services = services_with_clock(Arc::new(FixedClock(at))).await;
    let mut admitted = 0;
    for _ in 0..tries {
        let request = fixture("sla-policies-create.json")
            .key(key)
            .method("GET", "/api/v1/sla-policies");
        let (status, body) = read(shared::api::sla_policies::handle(&services, request.build()).await);
        match status {
            200 => admitted += 1,
            429 => break,
            _ => panic!("{status}: {body}"),
        }
    }
    admitted
}

#[tokio::test]
async fn the_trial_plan_limit_applies_at_once_and_the_previous_plan_returns_when_the_trial_ends() {
    // At the start of a minute, so that the requests below fall in one.
    let start = OffsetDateTime::now_utc()
        .replace_second(0)
        .unwrap()
        .replace_nanosecond(0)
        .unwrap();
    let services = services_with_clock(Arc::new(FixedClock(start))).await;
    let org = new_org(&services).await;
    let free = PlanChange {
        plan: "free",
        subscription_status: "active",
        trial_ends_at: None,
        changed_at: 1,
    };
    assert!(services.store.set_plan(&org.org_id, &free).await.unwrap());
    let name = code(&services, "starter", None, None).await;
    let (status, body) = redeem(&services, &org.admin_key, &name).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["trialEnds"], json!(rfc3339(start + Duration::days(14))));

    // A key created during the trial carries its end too.
    let later_key = new_key(&services, &org, &["tickets:read"], 1000).await;
    // The starter plan's 120 a minute, not the free plan's 60.
    let next_minute = start + Duration::minutes(1);
    assert_eq!(admitted(next_minute, &org.admin_key, 121).await, 120);

    let after = start + Duration::days(14) + Duration::minutes(2);
    assert_eq!(
        admitted(after, &org.admin_key, 61).await,
        60,
        "back on the free plan's 60"
    );
    let after = after + Duration::minutes(1);
    assert_eq!(admitted(after, &later_key, 61).await, 60);
    let stored = services.store.get_organization(&org.org_id).await.unwrap().unwrap();
    let now = stored.at(&rfc3339(after));
    assert_eq!((now.plan.as_str(), now.plan_rate_limit), ("free", Some(60)));
    assert_eq!(now.trial_ends_at, None);
}
