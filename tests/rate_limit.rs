//! The per-key rate limit holds across containers: two independent sets of clients (as two
//! Lambda containers would have) share one key's budget through DynamoDB.

use std::sync::Arc;

use harness::{fixture, header, new_key, new_org, read, services_with_clock};
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

/// The statuses of `requests` ingests sent at once, each with the key `key_for(i)`, and the
/// `Retry-After` of every refusal.
async fn ingest_at_once(
    services: &shared::runtime::Services,
    requests: usize,
    key_for: impl Fn(usize) -> String,
) -> (usize, Vec<Option<String>>) {
    let publisher = harness::publisher().await;
    let calls = (0..requests).map(|i| {
        shared::api::ingest::handle(
            services,
            &publisher,
            fixture("ingest-order.json").key(&key_for(i)).build(),
        )
    });
    let responses = futures_util::future::join_all(calls).await;
    let admitted = responses.iter().filter(|r| r.status().as_u16() == 200).count();
    let refused: Vec<Option<String>> = responses
        .iter()
        .filter(|r| r.status().as_u16() != 200)
        .map(|r| {
            assert_eq!(r.status().as_u16(), 429);
            header(r, "retry-after").map(str::to_string)
        })
        .collect();
    (admitted, refused)
}

/// What the billing provider does: the organization on the free plan, 60 requests a minute.
async fn put_on_free_plan(services: &shared::runtime::Services, org: &harness::Org) {
    let change = shared::store::organizations::PlanChange {
        plan: "free",
        subscription_status: "active",
        trial_ends_at: None,
        changed_at: 1,
    };
    assert!(services.store.set_plan(&org.org_id, &change).await.unwrap());
}

#[tokio::test]
async fn a_hundred_requests_at_once_on_a_sixty_a_minute_key_admit_exactly_sixty() {
    // One minute for the whole burst: the count is exact, whatever the machine's speed.
    let minute = datetime!(2026-03-12 10:30:05 UTC);
    let services = services_with_clock(Arc::new(FixedClock(minute))).await;
    let org = new_org(&services).await;
    let key = new_key(&services, &org, &["webhook:write"], 60).await;
    let (admitted, refused) = ingest_at_once(&services, 100, |_| key.clone()).await;
    assert_eq!(admitted, 60);
    assert_eq!(refused.len(), 40);
    assert!(
        refused.iter().all(|after| after.as_deref() == Some("55")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_hundred_requests_at_once_across_keys_admit_exactly_what_the_plan_allows() {
    let minute = datetime!(2026-03-12 10:30:05 UTC);
    let services = services_with_clock(Arc::new(FixedClock(minute))).await;
    let org = new_org(&services).await;
    put_on_free_plan(&services, &org).await;
    // Four keys of 1000 a minute each: only the plan's 60 a minute binds. Creating them counts
    // against the plan too (their creation is the organization's first four requests).
    let mut keys = Vec::new();
    for _ in 0..4 {
        keys.push(new_key(&services, &org, &["webhook:write"], 1000).await);
    }
    let (admitted, refused) = ingest_at_once(&services, 100, |i| keys[i % keys.len()].clone()).await;
    assert_eq!(admitted, 60 - keys.len());
    assert_eq!(refused.len(), 100 - admitted);
    assert!(
        refused.iter().all(|after| after.as_deref() == Some("55")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_billing_plan_limits_the_organization_across_all_its_keys() {
    let minute = datetime!(2026-03-12 10:30:05 UTC);
    let services = services_with_clock(Arc::new(FixedClock(minute))).await;
    let org = new_org(&services).await;
    let before_plan = new_key(&services, &org, &["context:read"], 1000).await;
    // The billing provider puts the organization on the free plan: 60 requests a minute.
    put_on_free_plan(&services, &org).await;
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
