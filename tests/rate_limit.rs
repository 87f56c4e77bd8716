//! The per-key rate limit holds across containers: two independent sets of clients (as two
//! Lambda containers would have) share one key's budget through DynamoDB.

use std::sync::Arc;

use harness::{fixture, header, new_key, new_org, read, services, services_with_clock};
use shared::clock::FixedClock;
use time::macros::datetime;

#[tokio::test]
async fn the_limit_is_shared_by_containers_and_resets_with_the_minute() {
    let minute = datetime!(2026-03-12 10:30:05 UTC);
    let first_container = services_with_clock(Arc::new(FixedClock(minute))).await;
    let second_container = services_with_clock(Arc::new(FixedClock(minute + time::Duration::seconds(20)))).await;
    let org = new_org(&first_container).await;
    let key = new_key(&first_container, &org, &["webhook:write"], 3).await;
    let ingest = || fixture("ingest-order.json").key(&key).build();

    let reset = (minute.unix_timestamp() / 60 + 1) * 60;
    for (i, container) in [&first_container, &second_container, &first_container]
        .into_iter()
        .enumerate()
    {
        let response = shared::api::ingest::handle(container, &harness::publisher().await, ingest()).await;
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(header(&response, "x-ratelimit-limit"), Some("3"));
        assert_eq!(
            header(&response, "x-ratelimit-remaining"),
            Some((2 - i).to_string().as_str())
        );
        assert_eq!(header(&response, "x-ratelimit-reset"), Some(reset.to_string().as_str()));
    }
    let response = shared::api::ingest::handle(&second_container, &harness::publisher().await, ingest()).await;
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(header(&response, "retry-after"), Some("35"));
    assert_eq!(header(&response, "x-ratelimit-remaining"), Some("0"));
    let (_, body) = read(response);
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    assert_eq!(body["success"], false);

    let next_minute = services_with_clock(Arc::new(FixedClock(minute + time::Duration::seconds(60)))).await;
    let response = shared::api::ingest::handle(&next_minute, &harness::publisher().await, ingest()).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(header(&response, "x-ratelimit-remaining"), Some("2"));
    // A container whose clock lags behind counts in the newer window instead of reopening the old one.
    let response = shared::api::ingest::handle(&first_container, &harness::publisher().await, ingest()).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(header(&response, "x-ratelimit-remaining"), Some("1"));
}

#[tokio::test]
async fn concurrent_requests_never_exceed_the_limit() {
    let services = services().await;
    let org = new_org(&services).await;
    let key = new_key(&services, &org, &["webhook:write"], 5).await;
    let publisher = harness::publisher().await;
    let calls = (0..12)
        .map(|_| shared::api::ingest::handle(&services, &publisher, fixture("ingest-order.json").key(&key).build()));
    let statuses: Vec<u16> = futures_util::future::join_all(calls)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let allowed = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    // A minute boundary during the run could open a second window; otherwise exactly five pass.
    assert!((5..=10).contains(&allowed), "{statuses:?}");
    assert_eq!(allowed + limited, 12, "{statuses:?}");
}

#[tokio::test]
async fn a_billing_plan_limits_the_organization_across_all_its_keys() {
    let minute = datetime!(2026-03-12 10:30:05 UTC);
    let services = services_with_clock(Arc::new(FixedClock(minute))).await;
    let org = new_org(&services).await;
    let before_plan = new_key(&services, &org, &["context:read"], 1000).await;
    // The billing provider puts the organization on the free plan: 60 requests a minute.
    let change = shared::store::organizations::PlanChange {
        plan: "free",
        subscription_status: "active",
        trial_ends_at: None,
        changed_at: 1,
    };
    assert!(services.store.set_plan(&org.org_id, &change).await.unwrap());
    let after_plan = new_key(&services, &org, &["context:read"], 1000).await;

    let read_context = |key: &str| {
        fixture("agent-context-order.json")
            .key(key)
            .path_parameter("order_number", "none")
            .build()
    };
    // Creating the second key (with the admin key) was the minute's first request; 59 more
    // across both API keys fit (the one created before the plan counts too), the 61st does not.
    for i in 0..59 {
        let key = if i % 2 == 0 { &before_plan } else { &after_plan };
        let status = shared::api::agent_context::handle(&services, read_context(key))
            .await
            .status()
            .as_u16();
        assert_eq!(status, 404, "request {i} is within the plan");
    }
    let response = shared::api::agent_context::handle(&services, read_context(&before_plan)).await;
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(header(&response, "retry-after"), Some("55"));
    let (_, body) = read(response);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("60 requests per minute"),
        "{body}"
    );
}
