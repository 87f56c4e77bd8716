//! CSAT end to end through the handlers: an AI reply carries a token, the public routes show and
//! rate it once (also under simultaneous ratings), publish `csat.received`, and update the
//! ticket's and the organization's figures; expired, unknown and malformed tokens, missing
//! fields and too many requests from one address get their JSON errors.

use shared::store::dynamodb::AttributeValueExt;
use std::sync::Arc;

use harness::{Org, OwnQueue, fixture, new_org, read, services};
use serde_json::{Value, json};
use shared::api::csat::{self, CsatServices};
use shared::clock::{Clock, FixedClock};
use shared::outbound::Publisher;
use shared::runtime::Services;

fn csat_services(services: &Services, publisher: Publisher, clock: Arc<dyn Clock>, limit: u32) -> CsatServices {
    CsatServices {
        store: services.store.clone(),
        publisher,
        clock,
        per_client_per_minute: limit,
    }
}

/// A ticket of `org` with an AI reply; returns the ticket's number and the reply's token.
async fn ai_reply(services: &Services, org: &Org, publisher: &Publisher) -> (u64, String) {
    let opened = fixture("tickets-create.json").key(&org.admin_key).build();
    let (status, opened) =
        read(shared::api::tickets::handle(services, publisher, &harness::reply_queue().await, opened).await);
    assert_eq!(status, 201, "{opened}");
    let number = opened["ticket"]["ticketNumber"].as_u64().unwrap();
    let agent = json!({"author": {"type": "agent"}, "content_text": "Looking into it."});
    let ai = json!({"author": {"type": "ai"}, "content_text": "Your parcel arrives tomorrow."});
    let mut tokens = Vec::new();
    for reply in [agent, ai] {
        let request = fixture("tickets-reply.json")
            .key(&org.admin_key)
            .method("POST", &format!("/api/v1/tickets/{number}/conversations"))
            .path_parameter("id", &number.to_string())
            .body(reply.to_string())
            .build();
        let (status, added) =
            read(shared::api::tickets::handle(services, publisher, &harness::reply_queue().await, request).await);
        assert_eq!(status, 201, "{added}");
        tokens.push(added["csat_token"].clone());
    }
    assert_eq!(tokens[0], Value::Null, "only an AI reply carries a CSAT token");
    (number, tokens[1].as_str().unwrap().to_string())
}

fn rate(token: &str, rating: Value) -> harness::FixtureRequest {
    fixture("csat-rate.json")
        .body(json!({"token": token, "rating": rating, "comment": "Quick and helpful"}).to_string())
}

fn status_of(token: &str) -> harness::FixtureRequest {
    fixture("csat-status.json").without_query().query("token", token)
}

#[tokio::test]
async fn a_reply_is_rated_once_even_by_two_simultaneous_ratings() {
    let services = services().await;
    let org = new_org(&services).await;
    let queue = OwnQueue::new("csat-once").await;
    let publisher = queue.publisher();
    harness::subscribe(&services, &org, &["csat.received"]).await;
    let (number, token) = ai_reply(&services, &org, &publisher).await;
    let csat = csat_services(&services, publisher, Arc::new(shared::clock::SystemClock), 100);

    let response = csat::handle(&csat, status_of(&token).build()).await;
    assert_eq!(harness::header(&response, "access-control-allow-origin"), Some("*"));
    let (status, before) = read(response);
    assert_eq!(
        (status, &before["rated"], &before["ticketNumber"]),
        (200, &json!(false), &json!(number)),
        "{before}"
    );

    let (first, second) = tokio::join!(
        csat::handle(&csat, rate(&token, json!(5)).build()),
        csat::handle(&csat, rate(&token, json!(1)).build()),
    );
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "exactly one rating counts");
    let (status, again) = read(csat::handle(&csat, rate(&token, json!(3)).build()).await);
    assert_eq!((status, again["error"]["code"].as_str()), (409, Some("CONFLICT")));

    let (_, after) = read(csat::handle(&csat, status_of(&token).build()).await);
    assert_eq!(after["rated"], true);
    let stars = after["rating"]["rating"].as_u64().unwrap();
    assert!(stars == 5 || stars == 1, "{after}");
    let ticket = fixture("tickets-create.json")
        .key(&org.admin_key)
        .method("GET", &format!("/api/v1/tickets/{number}"))
        .path_parameter("id", &number.to_string())
        .build();
    let (_, ticket) =
        read(shared::api::tickets::handle(&services, &csat.publisher, &harness::reply_queue().await, ticket).await);
    assert_eq!(ticket["ticket"]["csat"], after["rating"], "the ticket shows the rating");
    let organization = services
        .store
        .client()
        .get_item()
        .table_name(harness::TABLE)
        .key(
            "PK",
            shared::store::dynamodb::AttributeValue::S(format!("ORG#{}", org.org_id)),
        )
        .key("SK", shared::store::dynamodb::AttributeValue::S("ORG".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        organization["csat_ratings"],
        shared::store::dynamodb::AttributeValue::N("1".into())
    );
    assert_eq!(organization["csat_rating_total"].as_n().unwrap(), &stars.to_string());

    let published = queue.drain().await;
    let ratings: Vec<&Value> = published.iter().filter(|m| m["event"] == "csat.received").collect();
    assert_eq!(ratings.len(), 1, "csat.received is published once: {published:?}");
    assert_eq!(ratings[0]["data"]["ticketNumber"], number);
    assert_eq!(ratings[0]["data"]["rating"], stars);
}

#[tokio::test]
async fn bad_ratings_unknown_and_expired_tokens_get_their_json_errors() {
    let services = services().await;
    let org = new_org(&services).await;
    let queue = OwnQueue::new("csat-errors").await;
    let (_, token) = ai_reply(&services, &org, &queue.publisher()).await;
    let csat = csat_services(&services, queue.publisher(), Arc::new(shared::clock::SystemClock), 100);

    for body in [
        json!({"rating": 5}),
        json!({"token": token}),
        json!({"token": "", "rating": 4}),
        json!({}),
    ] {
        let (status, refused) = read(csat::handle(&csat, rate("", json!(0)).body(body.to_string()).build()).await);
        assert_eq!(status, 400, "{body}: {refused}");
        assert_eq!(refused["error"]["message"], "Token and rating required");
    }
    for (rating, field) in [
        (json!(0), "rating"),
        (json!(6), "rating"),
        (json!(4.5), "rating"),
        (json!("5"), "rating"),
    ] {
        let (status, refused) = read(csat::handle(&csat, rate(&token, rating).build()).await);
        assert_eq!(
            (status, refused["error"]["details"]["field"].as_str()),
            (422, Some(field)),
            "{refused}"
        );
    }
    let long = json!({"token": token, "rating": 4, "comment": "x".repeat(501)});
    let (status, refused) = read(csat::handle(&csat, rate(&token, json!(4)).body(long.to_string()).build()).await);
    assert_eq!(
        (status, refused["error"]["details"]["field"].as_str()),
        (422, Some("comment"))
    );

    let forged = format!("csat_{}_{}", org.org_id, "a".repeat(52));
    for unknown in [forged.as_str(), "csat_nope", "not-a-token"] {
        let (status, refused) = read(csat::handle(&csat, rate(unknown, json!(5)).build()).await);
        assert_eq!(
            (status, refused["error"]["code"].as_str()),
            (404, Some("NOT_FOUND")),
            "{unknown}"
        );
    }
    let (status, _) = read(csat::handle(&csat, status_of(&forged).build()).await);
    assert_eq!(status, 404);

    let later = time::OffsetDateTime::now_utc() + time::Duration::days(31);
    let expired = csat_services(&services, queue.publisher(), Arc::new(FixedClock(later)), 100);
    let (status, refused) = read(csat::handle(&expired, rate(&token, json!(5)).build()).await);
    assert_eq!((status, refused["error"]["code"].as_str()), (410, Some("GONE")));
    let (status, still) = read(csat::handle(&csat, status_of(&token).build()).await);
    assert_eq!((status, &still["rated"]), (200, &json!(false)), "nothing was rated");

    let (status, refused) =
        read(csat::handle(&csat, fixture("csat-rate.json").method("PUT", "/api/csat").build()).await);
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (405, Some("METHOD_NOT_ALLOWED"))
    );
    let preflight = csat::handle(&csat, fixture("csat-rate.json").method("OPTIONS", "/api/csat").build()).await;
    assert_eq!(preflight.status().as_u16(), 204);
    assert_eq!(
        harness::header(&preflight, "access-control-allow-methods"),
        Some("GET, POST, OPTIONS")
    );
}

#[tokio::test]
async fn one_address_is_limited_per_minute_and_others_are_not() {
    let services = services().await;
    // A minute that starts now, so that the three requests share it whatever the wall clock does.
    let minute = time::OffsetDateTime::now_utc().replace_second(0).unwrap() + time::Duration::days(400);
    let queue = OwnQueue::new("csat-limit").await;
    let csat = csat_services(&services, queue.publisher(), Arc::new(FixedClock(minute)), 2);
    let ip = format!("198.51.100.{}", std::process::id() % 250);
    let ask = |ip: &str| csat::handle(&csat, status_of("csat_nope").client_ip(ip).build());
    assert_eq!(ask(&ip).await.status().as_u16(), 404);
    assert_eq!(ask(&ip).await.status().as_u16(), 404);
    let limited = ask(&ip).await;
    assert_eq!(limited.status().as_u16(), 429);
    assert_eq!(harness::header(&limited, "retry-after"), Some("60"));
    assert_eq!(harness::header(&limited, "access-control-allow-origin"), Some("*"));
    assert_eq!(
        ask("203.0.113.77").await.status().as_u16(),
        404,
        "another address is not limited"
    );
}
